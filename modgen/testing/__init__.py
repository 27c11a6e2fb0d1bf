"""modgen.testing."""
