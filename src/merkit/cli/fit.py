"""``merkit fit CONFIG --out DIR``: train the configured model on every sample and write a model bundle."""

from __future__ import annotations

from pathlib import Path

import click

from merkit.cli._app import app
from merkit.cli._progress import no_progress_option, progress_enabled


@app.command("fit")
@click.argument("config_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Bundle folder to write (replaced if it exists).")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a config value, e.g. --set train.epochs=20 (repeatable).")
@no_progress_option
def fit_command(config_path: Path, out: Path, overrides: tuple[str, ...], no_progress: bool) -> None:
    """Train on every sample of the configured data (no evaluation) and save a model bundle.

    Load it with merkit.load_model(OUT); its card.json says what it is and how inputs are prepared.
    """
    # deferred: the experiment layer loads torch, which `merkit --help` need not
    from merkit.experiments.config import load_config
    from merkit.experiments.run import fit_experiment

    extra = () if progress_enabled(no_progress) else ("train.progress=false",)
    cfg = load_config(config_path, tuple(overrides) + extra)
    path = fit_experiment(cfg, out)
    click.echo(f"model bundle: {path}")
