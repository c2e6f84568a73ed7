"""(stage) data."""
