"""(stage) features."""
