"""Command-line interface. Each sub-command lives in its own module and registers on ``app``."""

from merkit.cli._app import app, main

# Importing a command module registers its commands on ``app``.
from merkit.cli import labels as _labels  # noqa: F401,E402

__all__ = ["app", "main"]
