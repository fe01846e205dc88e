"""``merkit spot VIDEO|FRAMES_DIR --out DIR``: micro/macro-expression intervals of a face video."""

from __future__ import annotations

from pathlib import Path

import click

from merkit.cli._app import app


@app.command("spot")
@click.argument("source", type=click.Path(exists=True))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--method", type=click.Choice(["flow_roi", "lbp_diff"]), default="flow_roi", show_default=True,
              help="Per-frame score: optical flow in facial ROIs, or LBP feature difference (docs/spotting.md).")
@click.option("--fps", type=float, help="Frame rate (required for a frame folder; overrides a video's own).")
@click.option("--vid", help="Video id in the MEGC CSV and the file names (default: the file or folder name).")
@click.option("--first-frame", type=int, default=1, show_default=True,
              help="Number of the first frame in the output files (1: img1.jpg is frame 1).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Any SpotConfig option, e.g. --set threshold_p=4 --set head_motion=affine (repeatable).")
@click.option("--dataset", help="SOURCE is the root of this long-video dataset (casme_sq, samm_lv, casme3_long): "
                                "spot every video and score it with the MEGC metric.")
def spot_command(source: str, out_dir: str, method: str, fps: float | None, vid: str | None, first_frame: int,
                 overrides: tuple[str, ...], dataset: str | None) -> None:
    """Spot expressions in SOURCE, a video file or a folder of frames.

    Writes DIR/<vid>_megc.csv (vid,pred_onset,pred_offset,type), <vid>_intervals.csv,
    <vid>_frames.csv (per-frame score and face-present flag), <vid>_score.png and <vid>_spot.json.
    With --dataset, spots every video of the dataset at SOURCE and writes DIR/predictions.csv,
    metrics.csv (MEGC F1 per type, per dataset, overall), per_video.csv and run.json.
    """
    # deferred: tqdm, merkit.motion (cv2, scipy) and merkit._options (yaml) would slow `merkit --help`
    from tqdm import tqdm

    from merkit._options import build, parse_assignments
    from merkit.motion.spotting import SpotConfig, spot_video
    from merkit.motion.spotting.report import write_spot_outputs

    options = {"method": method, **parse_assignments(overrides)}
    if dataset:
        _spot_dataset(dataset, source, out_dir, options, fps)
        return
    config = build(SpotConfig, options, "--set", source="merkit spot")
    bars: dict[str, tqdm] = {}

    def progress(curve: str, position: int, n_frames: int) -> None:
        if curve not in bars:
            bars[curve] = tqdm(total=n_frames, desc=f"{curve} curve", unit="frame", leave=False)
        bars[curve].update(1)

    try:
        result = spot_video(source, config, fps=fps, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    name = vid or Path(source).stem
    paths = write_spot_outputs(result, out_dir, name, first_frame)
    stretches = result.track.no_face_stretches()
    if stretches:
        click.echo(f"note: no face in {len(stretches)} stretch(es) of frames (no score there): "
                   f"{[(a + first_frame, b + first_frame) for a, b in stretches][:5]}", err=True)
    micro = sum(i.kind == "micro" for i in result.intervals)
    click.echo(f"{name}: {result.n_frames} frames at {result.fps:g} fps, {micro} micro and "
               f"{len(result.intervals) - micro} macro intervals in {result.seconds:.1f} s; "
               f"files in {paths['megc'].parent}")


def _spot_dataset(name: str, root: str, out_dir: str, options: dict, fps: float | None) -> None:
    """``merkit spot ROOT --dataset NAME``: the ``megc_spotting`` protocol's runner on one dataset."""
    # deferred: tqdm and the experiment layer (torch) would slow `merkit --help`
    from tqdm import tqdm

    from merkit.experiments.spotting import run_spotting_experiment, spotting_config

    cfg = spotting_config(name, root, out_dir, options, {"fps": fps} if fps else None)
    with tqdm(desc="videos", unit="video") as bar:
        result = run_spotting_experiment(cfg, on_video=lambda v: bar.update(1))
    for line in result.summary_lines():
        click.echo(line)
    click.echo(f"{name}: {result.metrics['videos']} videos; config.yaml, metrics.json, predictions.csv, "
               f"metrics.csv, per_video.csv and run.json in {result.run_dir}")
