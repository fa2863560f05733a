"""The reference server: its HTTP logic, real sockets and TLS, the CLI, the API definitions, fault profiles, fuzzing, load, TLS hygiene."""
