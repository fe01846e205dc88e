"""``merkit export BUNDLE --format onnx``: the bundle's network as an ONNX graph, checked against PyTorch."""

from __future__ import annotations

import json
from pathlib import Path

import click

from merkit.cli._app import app


@app.command("export")
@click.argument("bundle", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True,
              help="Export format.")
@click.option("--opset", type=int, default=18, show_default=True, help="ONNX opset.")
@click.option("--int8", is_flag=True,
              help="Also write model.int8.onnx (dynamic int8 MatMul/Gemm) with its measured cost.")
def export_command(bundle: Path, fmt: str, opset: int, int8: bool) -> None:
    """Write BUNDLE/model.onnx; kept only if onnxruntime matches PyTorch (probabilities within 1e-4)."""
    from merkit.deploy.export import export_onnx  # deferred: loads torch, which `merkit --help` need not

    path = export_onnx(bundle, opset=opset, int8=int8)
    if int8:
        cost = json.loads((bundle / "card.json").read_text())["onnx"]["int8"]
        click.echo(f"int8 graph: {bundle / cost['file']} (max probability change {cost['max_abs_probability']:.4f}, "
                   f"same class on {cost['same_class']:.1%} of {cost['samples']} random inputs)")
    click.echo(f"ONNX graph: {path} (use it with merkit.load_model(BUNDLE).predict(..., backend='onnx'))")
