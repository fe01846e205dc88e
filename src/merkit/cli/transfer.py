"""``merkit transfer --config FILE [--set section.key=value ...]``: the seed 003 MobileViT transfer method."""

from __future__ import annotations

from pathlib import Path

import click

from merkit.cli._app import app


@app.command("transfer")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Seed 003 experiment file (.toml/.yaml); see configs/mobilevit_transfer_synthme.toml.")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a value, e.g. --set transfer.head=softmax --set micro.epochs=20 (repeatable).")
def transfer_command(config_path: Path, overrides: tuple[str, ...]) -> None:
    """Macro-expression transfer (phase 1), micro fine-tuning (phase 2), evaluated under the protocol."""
    from merkit.evaluation.report import format_table
    from merkit.training.transfer_experiment import load_transfer_config, run_transfer_experiment

    cfg = load_transfer_config(config_path, tuple(overrides))
    metrics = run_transfer_experiment(cfg)
    if metrics.get("select_on_test"):
        click.echo(metrics["WARNING"])
    name = metrics.get("method_name") or cfg.transfer.model
    click.echo(format_table({name: metrics["summary"]}, metrics["datasets"]))
    click.echo(f"run directory: {cfg.run.out_dir}")
