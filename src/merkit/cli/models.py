"""``merkit models``: list registered models with parameter count and GMACs at the default input."""

from __future__ import annotations

import click

from merkit.cli._app import app


@app.command("models")
def models_command() -> None:
    """List every model with its input, parameters and GMACs (and the SVM baselines)."""
    from merkit.models import list_models, model_info
    from merkit.training.config import SVM_METHODS

    click.echo(f"{'model':<16} {'inputs':<16} {'input size':<12} {'params':>12} {'GMACs':>10}")
    for name in list_models():
        info = model_info(name)
        size = "x".join(str(v) for v in info.input_size)
        click.echo(f"{name:<16} {info.inputs:<16} {size:<12} {info.params:>12,} {info.gmacs:>10.4f}")
    for name, descriptor in sorted(SVM_METHODS.items()):
        click.echo(f"{name:<16} {descriptor:<16} {'-':<12} {'-':>12} {'-':>10}  (scikit-learn SVC)")
    click.echo("GMACs: torch.utils.flop_counter FLOPs / 2 for one sample (convolutions and matrix products).")
