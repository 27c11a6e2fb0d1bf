"""modgen.functional."""
