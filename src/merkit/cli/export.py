"""``merkit export BUNDLE --format onnx``: the bundle's network as an ONNX graph, checked against PyTorch."""

from __future__ import annotations

from pathlib import Path

import click

from merkit.cli._app import app


@app.command("export")
@click.argument("bundle", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True,
              help="Export format.")
@click.option("--opset", type=int, default=18, show_default=True, help="ONNX opset.")
def export_command(bundle: Path, fmt: str, opset: int) -> None:
    """Write BUNDLE/model.onnx; kept only if onnxruntime matches PyTorch (probabilities within 1e-4)."""
    from merkit.training.export import export_onnx

    path = export_onnx(bundle, opset=opset)
    click.echo(f"ONNX graph: {path} (use it with merkit.load_model(BUNDLE).predict(..., backend='onnx'))")
