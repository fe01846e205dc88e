"""``merkit evaluate RUN_DIR``: re-score a run from its saved predictions."""

from __future__ import annotations

from pathlib import Path

import click

from merkit.cli._app import app


@app.command("evaluate")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def evaluate_command(run_dir: Path) -> None:
    """Re-score RUN_DIR from its per-fold predictions and print the paper-style table."""
    # deferred: merkit.evaluation loads pandas, scipy and scikit-learn, which `merkit --help` need not
    from merkit.evaluation.report import format_table
    from merkit.evaluation.runner import rescore_run

    metrics = rescore_run(run_dir)
    if metrics.get("select_on_test"):
        click.echo(metrics["WARNING"])
    name = run_dir.name
    click.echo(format_table({name: metrics["summary"]}, metrics["datasets"]))
    click.echo(f"report: {run_dir / 'report.md'}")
