"""modgen.evaluate."""
