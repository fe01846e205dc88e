"""``merkit models``: list registered models with parameter count and GMACs at the default input."""

from __future__ import annotations

import click

from merkit.cli._app import app


@app.command("models")
def models_command() -> None:
    """List every model with its input, parameters, GMACs and default training method (and the SVM baselines)."""
    # deferred: merkit.models and merkit.training load torch, which `merkit --help` need not
    from merkit.models import list_models, model_defaults, model_info
    from merkit.training.methods.descriptor_svm import DESCRIPTOR_BASELINES

    rows = []
    for name in list_models():
        info = model_info(name)
        size = "x".join(str(v) for v in info.input_size)
        rows.append((name, info.inputs, size, f"{info.params:,}", f"{info.gmacs:.4f}",
                     f"method {model_defaults(name)['method']}"))
    for name, descriptor in sorted(DESCRIPTOR_BASELINES.items()):
        rows.append((name, descriptor, "-", "-", "-", "method descriptor_svm (scikit-learn SVC)"))
    header = ("model", "inputs", "input size", "params", "GMACs", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        left = "  ".join(f"{cell:<{w}}" for cell, w in zip(row[:3], widths[:3]))
        right = "  ".join(f"{cell:>{w}}" for cell, w in zip(row[3:5], widths[3:5]))
        click.echo(f"{left}  {right}  {row[5]}".rstrip())
    click.echo("GMACs: torch.utils.flop_counter FLOPs / 2 for one sample (convolutions and matrix products).")
