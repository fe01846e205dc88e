"""Command-line interface. Each sub-command lives in its own module and registers on ``app``."""

from merkit.cli._app import app, main

__all__ = ["app", "main"]

# Importing a command module registers its commands on ``app`` (one line per module).
from merkit.cli import cache as _cache  # noqa: F401,E402
from merkit.cli import datasets as _datasets  # noqa: F401,E402
from merkit.cli import demo as _demo  # noqa: F401,E402
from merkit.cli import evaluate as _evaluate  # noqa: F401,E402
from merkit.cli import export as _export  # noqa: F401,E402
from merkit.cli import faces as _faces  # noqa: F401,E402
from merkit.cli import fit as _fit  # noqa: F401,E402
from merkit.cli import labels as _labels  # noqa: F401,E402
from merkit.cli import models as _models  # noqa: F401,E402
from merkit.cli import predict as _predict  # noqa: F401,E402
from merkit.cli import prepare as _prepare  # noqa: F401,E402
from merkit.cli import spot as _spot  # noqa: F401,E402
from merkit.cli import synth as _synth  # noqa: F401,E402
from merkit.cli import train as _train  # noqa: F401,E402
