"""``python -m pytest_wsgateway.reference_server`` -- same as ``wsgateway-server``.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
