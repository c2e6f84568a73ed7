"""CLI commands: data (filled in by the issue that builds this layer)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
