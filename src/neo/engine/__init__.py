"""(stage) engine."""
