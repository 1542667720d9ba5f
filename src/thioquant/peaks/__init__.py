"""peaks stage."""
