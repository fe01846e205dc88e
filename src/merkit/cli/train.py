"""``merkit train --config FILE [--set section.key=value ...] [--save-model DIR]``: run one experiment."""

from __future__ import annotations

from pathlib import Path

import click

from merkit.cli._app import app
from merkit.cli._progress import no_progress_option, progress_enabled


@app.command("train")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Experiment file (.toml, .yaml or .yml).")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a config value, e.g. --set train.lr=1e-4 (repeatable).")
@no_progress_option
@click.option("--save-model", "save_model", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="After evaluating, train on every sample and write a model bundle (weights + card) here.")
def train_command(config_path: Path, overrides: tuple[str, ...], no_progress: bool, save_model: Path | None) -> None:
    """Train and evaluate a model under a protocol; print the paper-style table."""
    # imported when the command runs: the experiment layer loads torch, which `merkit --help` need not
    from merkit.experiments.config import load_config
    from merkit.experiments.run import run_experiment

    extra = () if progress_enabled(no_progress) else ("train.progress=false",)
    cfg = load_config(config_path, tuple(overrides) + extra)
    result = run_experiment(cfg, save_model=save_model)
    for line in result.summary_lines(cfg.run.method_name or cfg.model.name):
        click.echo(line)
    if save_model is not None:
        click.echo(f"model bundle (trained on every sample): {save_model}")
