"""assay stage."""
