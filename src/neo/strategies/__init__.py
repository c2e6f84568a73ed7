"""(stage) strategies."""
