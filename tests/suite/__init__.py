"""The suite's verdicts on controlled targets: the reference server, its fault profiles (mutation), fake and hostile gateways, wss:// trust."""
