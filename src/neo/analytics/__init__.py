"""(stage) analytics."""
