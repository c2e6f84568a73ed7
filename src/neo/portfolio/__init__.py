"""(stage) portfolio."""
