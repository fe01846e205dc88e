"""``merkit train --config FILE [--set section.key=value ...] [--save-model DIR]``: run one experiment."""

from __future__ import annotations

from pathlib import Path

import click

from merkit.cli._app import app


@app.command("train")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Experiment file (.toml, .yaml or .yml).")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a config value, e.g. --set train.lr=1e-4 (repeatable).")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@click.option("--save-model", "save_model", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="After evaluating, train on every sample and write a model bundle (weights + card) here.")
def train_command(config_path: Path, overrides: tuple[str, ...], no_progress: bool, save_model: Path | None) -> None:
    """Train and evaluate a model under a protocol; print the paper-style table."""
    from merkit.evaluation.report import format_table
    from merkit.training.config import load_config
    from merkit.training.experiment import run_experiment

    extra = ("train.progress=false",) if no_progress else ()
    cfg = load_config(config_path, tuple(overrides) + extra)
    result = run_experiment(cfg, save_model=save_model)
    metrics = result.metrics
    if metrics.get("protocol") == "megc_spotting":
        for scope, row in [("overall", metrics["overall"]), *metrics["per_type"].items()]:
            click.echo(f"{scope:8s} TP {row['tp']:4d} FP {row['fp']:4d} FN {row['fn']:4d}  P {row['precision']:.3f} "
                       f"R {row['recall']:.3f} F1 {row['f1']:.3f}")
        click.echo(f"run directory: {result.run_dir}")
        return
    if metrics.get("select_on_test"):
        click.echo(metrics["WARNING"])
    name = cfg.run.method_name or cfg.model.name
    click.echo(format_table({name: metrics["summary"]}, metrics["datasets"]))
    if result.bootstrap:
        ci = result.bootstrap
        click.echo(f"95% bootstrap CI over subjects: UF1 [{ci['uf1']['low']:.4f}, {ci['uf1']['high']:.4f}], "
                   f"UAR [{ci['uar']['low']:.4f}, {ci['uar']['high']:.4f}]")
    click.echo(f"run directory: {result.run_dir}")
    click.echo(f"report: {result.run_dir / 'report.md'}")
    if save_model is not None:
        click.echo(f"model bundle (trained on every sample): {save_model}")
