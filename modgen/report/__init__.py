"""modgen.report."""
