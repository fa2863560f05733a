"""The repository's tools keep working: the benchmark scripts in quick mode."""
