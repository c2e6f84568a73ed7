"""(stage) models."""
