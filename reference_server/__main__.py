"""``python -m pytest_wsgateway.reference_server`` -- same as ``wsgateway-server``."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
