"""(stage) risk."""
