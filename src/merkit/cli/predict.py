"""``merkit predict VIDEO --model BUNDLE --out DIR``: where are the expressions in a video, and what are they?"""

from __future__ import annotations

from pathlib import Path

import click

from merkit.cli._app import app


@app.command("predict")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--model", "bundle", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Model bundle (merkit fit / merkit train --save-model).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder for <vid>_predictions.csv and .png.")
@click.option("--fps", type=float, help="Frame rate (required for a frame folder; overrides a video's own).")
@click.option("--spot-method", type=click.Choice(["flow_roi", "lbp_diff"]), default="flow_roi", show_default=True,
              help="Spotting score (docs/spotting.md).")
@click.option("--backend", type=click.Choice(["torch", "onnx", "onnx-int8"]), default="torch", show_default=True,
              help="Run the network with PyTorch or with the bundle's ONNX graph (merkit export [--int8]).")
@click.option("--vid", help="Name used in the output files (default: the file or folder name).")
def predict_command(source: Path, bundle: Path, out_dir: Path, fps: float | None, spot_method: str, backend: str,
                    vid: str | None) -> None:
    """Spot micro- and macro-expressions in SOURCE (video file or frame folder) and classify each one."""
    # deferred: the deploy layer loads torch and cv2, which `merkit --help` need not
    from merkit.deploy.bundle import load_model
    from merkit.deploy.video import predict_video, write_video_predictions
    from merkit.motion.spotting import SpotConfig

    model = load_model(bundle)
    table, result = predict_video(model, source, spot_config=SpotConfig(method=spot_method), fps=fps,
                                  backend=backend)
    name = vid or source.stem or source.name
    paths = write_video_predictions(table, result, out_dir, name)
    click.echo(f"{len(table)} intervals ({(table['kind'] == 'micro').sum()} micro), "
               f"{(table['status'] == 'ok').sum()} classified by {model.card['model']} "
               f"({model.card['method']}, {backend})")
    if len(table):
        click.echo(table[["onset", "apex", "offset", "kind", "class"]].to_string(index=False))
    click.echo(f"table: {paths['csv']}\nplot: {paths['png']}")
