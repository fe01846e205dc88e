"""``merkit predict SOURCE... --model BUNDLE --out DIR``: where are the expressions in videos, and what are they?"""

from __future__ import annotations

from pathlib import Path

import click

from merkit.cli._app import app
from merkit.cli._live import live_name, live_options, live_reason, open_live
from merkit.cli._progress import CurveBars, echo_video, finish_batch, no_progress_option, progress_enabled


@app.command("predict")
@click.argument("sources", nargs=-1, type=click.Path(path_type=Path))
@click.option("--model", "bundle", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Model bundle (merkit fit / merkit train --save-model).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder for <vid>_predictions.csv and .png, and summary.csv.")
@click.option("--fps", type=float, help="Frame rate (required for a frame folder; overrides a video's own).")
@click.option("--spot-method", type=click.Choice(["flow_roi", "lbp_diff"]), default="flow_roi", show_default=True,
              help="Spotting score (docs/spotting.md).")
@click.option("--backend", type=click.Choice(["torch", "onnx", "onnx-int8"]), default="torch", show_default=True,
              help="Run the network with PyTorch or with the bundle's ONNX graph (merkit export [--int8]).")
@click.option("--vid", help="Name used in the output files, for a single video (default: the file or folder name).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes, one video each at a time; each loads the model once.")
@live_options
@no_progress_option
def predict_command(sources: tuple[Path, ...], bundle: Path, out_dir: Path, fps: float | None, spot_method: str,
                    backend: str, vid: str | None, workers: int, live: str | None, max_seconds: float | None,
                    no_progress: bool) -> None:
    """Spot micro- and macro-expressions in each SOURCE and classify each one.

    A SOURCE is a video file, a folder of frames (one video) or a folder of video files (each video in
    it). Per video, DIR gets <vid>_predictions.csv, <vid>_predictions.png and <vid>_done.json (written
    last); DIR/summary.csv has one row per video. A rerun skips videos whose files are complete and whose
    source, options and bundle are unchanged; a video that fails is reported on its row, the others go
    on, and the exit status is 1.

    With --live URL_OR_DEVICE (no SOURCE), reads a camera or a stream until it ends or Ctrl-C / SIGTERM
    and appends each classified interval to <vid>_predictions.csv as it closes (exit status 0 for a stop).
    """
    # deferred: the deploy layer loads torch and cv2, which `merkit --help` need not
    from merkit.deploy.bundle import load_model
    from merkit.deploy.video import check_backend, predict_live, predict_videos
    from merkit.motion.spotting import SpotConfig

    if live is not None:
        if sources:
            raise click.UsageError("--live reads one stream; give no SOURCE with it.")
        model = load_model(bundle)
        check_backend(model, backend)
        name = vid or live_name(live)
        with open_live(live, fps, "rgb", max_seconds) as (stream, rate, limit, stop):
            click.echo(f"{name}: reading {live} at {rate:g} fps; rows go to {out_dir / name}_predictions.csv as "
                       f"intervals close (Ctrl-C stops)")
            row = predict_live(model, stream, rate, out_dir, name, source=live, spot_config=SpotConfig(
                method=spot_method), backend=backend, max_frames=limit, stop=stop, on_row=lambda r: click.echo(
                    f"  {r['kind']} {r['onset']}-{r['offset']} (apex {r['apex']}): {r['class'] or r['status']}"))
        click.echo(f"{name}: {row['frames']} frames at {rate:g} fps, {row['intervals']} intervals, "
                   f"{row['classified']} classified by {model.card['model']}, {live_reason(row)}; "
                   f"files in {out_dir}")
        return
    if max_seconds is not None:
        raise click.UsageError("--max-seconds is for --live.")
    if not sources:
        raise click.UsageError("give at least one SOURCE: a video file, a folder of frames or a folder of videos.")
    if vid and len(sources) > 1:
        raise click.UsageError(f"--vid names a single video; got {len(sources)} sources.")
    model = load_model(bundle)
    bars = CurveBars(progress_enabled(no_progress) and workers == 1)
    tables: dict[str, Path] = {}

    def on_video(row: dict) -> None:
        echo_video(row, out_dir, bars)
        if not str(row["status"]).startswith("failed"):
            tables[row["video"]] = out_dir / f"{row['video']}_predictions.csv"

    result = predict_videos(model, list(sources), out_dir, spot_config=SpotConfig(method=spot_method), fps=fps,
                            backend=backend, workers=workers, loader=load_model, names=[vid] if vid else None,
                            progress=bars, on_video=on_video)
    click.echo(f"classified by {model.card['model']} ({model.card['method']}, {backend})")
    if len(result.summary) == 1 and tables:
        import pandas as pd  # deferred: pandas would slow `merkit --help`; the deploy layer has loaded it by now

        path = next(iter(tables.values()))
        table = pd.read_csv(path)
        if len(table):
            click.echo(table[["onset", "apex", "offset", "kind", "class"]].to_string(index=False))
        click.echo(f"table: {path}\nplot: {path.with_suffix('.png')}")
    finish_batch(result, "classified")
