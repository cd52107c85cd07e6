"""Status collectors, one per component."""
