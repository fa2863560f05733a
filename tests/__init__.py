"""This project's own tests (not shipped). Helpers are imported as ``tests.<module>``.

``tests`` and its sub-folders are packages, so pytest's default ``prepend`` import mode puts the
repository root on the import path and every test module gets a unique dotted name.
"""
