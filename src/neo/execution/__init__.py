"""(stage) execution."""
