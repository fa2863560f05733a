"""The suite and real third-party software: nginx, HAProxy, Caddy, server libraries, websocat, Chromium; the generated matrix."""
