"""``merkit spot SOURCE... --out DIR``: micro/macro-expression intervals of face videos, folders or a live stream."""

from __future__ import annotations

from pathlib import Path

import click

from merkit.cli._app import app
from merkit.cli._live import live_name, live_options, live_reason, open_live
from merkit.cli._progress import CurveBars, echo_video, finish_batch, no_progress_option, progress_enabled


@app.command("spot")
@click.argument("sources", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--method", type=click.Choice(["flow_roi", "lbp_diff"]), default="flow_roi", show_default=True,
              help="Per-frame score: optical flow in facial ROIs, or LBP feature difference (docs/spotting.md).")
@click.option("--fps", type=float, help="Frame rate (required for a frame folder or a stream without one; overrides "
                                        "a video's own).")
@click.option("--vid", help="Video id in the MEGC CSV and the file names, for a single video "
                            "(default: the file or folder name).")
@click.option("--first-frame", type=int, default=1, show_default=True,
              help="Number of the first frame in the output files (1: img1.jpg is frame 1).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Any SpotConfig option, e.g. --set threshold_p=4 --set head_motion=affine (repeatable).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes spotting videos in parallel (one video each at a time).")
@click.option("--dataset", help="SOURCE is the root of this long-video dataset (casme_sq, samm_lv, casme3_long): "
                                "spot every video and score it with the MEGC metric.")
@live_options
@no_progress_option
def spot_command(sources: tuple[Path, ...], out_dir: str, method: str, fps: float | None, vid: str | None,
                 first_frame: int, overrides: tuple[str, ...], workers: int, dataset: str | None,
                 live: str | None, max_seconds: float | None, no_progress: bool) -> None:
    """Spot expressions in each SOURCE: a video file, a folder of frames or a folder of video files.

    A folder that holds video files (mp4, avi, mov, mkv, m4v, webm) means each video in it; a folder
    that holds image frames is one video; a folder with both is an error. Per video, DIR gets
    <vid>_megc.csv (vid,pred_onset,pred_offset,type), <vid>_intervals.csv, <vid>_frames.csv (per-frame
    score and face-present flag), <vid>_score.png, <vid>_spot.json and <vid>_done.json (written last);
    DIR/summary.csv has one row per video. A rerun skips the videos whose files are complete and whose
    source (path, size, modification time) and options are unchanged. A video that fails is reported
    on its row, the others go on, and the exit status is 1.

    With --live URL_OR_DEVICE (no SOURCE), reads a camera or a stream until it ends or Ctrl-C / SIGTERM
    and appends each interval to <vid>_intervals.csv and <vid>_megc.csv as it closes (exit status 0 for
    a stop); <vid>_spot.json and summary.csv are written at the end.

    With --dataset, spots every video of the dataset at SOURCE and writes DIR/predictions.csv,
    metrics.csv (MEGC F1 per type, per dataset, overall), per_video.csv and run.json.
    """
    # deferred: merkit.motion (cv2, scipy) and merkit._options (yaml) would slow `merkit --help`
    from merkit._options import build, parse_assignments
    from merkit.motion.spotting import SpotConfig
    from merkit.motion.spotting.batch import spot_videos
    from merkit.motion.spotting.live import spot_live

    if live is not None:
        if sources or dataset:
            raise click.UsageError("--live reads one stream; give no SOURCE and no --dataset with it.")
        config = build(SpotConfig, {"method": method, **parse_assignments(overrides)}, "--set",
                       source="merkit spot")
        name = vid or live_name(live)
        with open_live(live, fps, "gray", max_seconds) as (stream, rate, limit, stop):
            click.echo(f"{name}: reading {live} at {rate:g} fps; intervals go to {Path(out_dir) / name}"
                       f"_intervals.csv as they close (Ctrl-C stops)")
            row = spot_live(stream, rate, out_dir, name, config, source=live, first_frame=first_frame,
                            max_frames=limit, stop=stop, on_interval=lambda r: click.echo(
                                f"  {r['kind']} {r['onset']}-{r['offset']} (apex {r['apex']})"))
        click.echo(f"{name}: {row['frames']} frames at {rate:g} fps, {row['micro']} micro and {row['macro']} macro "
                   f"intervals, {live_reason(row)}; files in {out_dir}")
        return
    if max_seconds is not None:
        raise click.UsageError("--max-seconds is for --live.")
    if not sources:
        raise click.UsageError("give at least one SOURCE: a video file, a folder of frames or a folder of videos.")
    if vid and len(sources) > 1:
        raise click.UsageError(f"--vid names a single video; got {len(sources)} sources (their files are named "
                               f"after them).")
    options = {"method": method, **parse_assignments(overrides)}
    show = progress_enabled(no_progress)
    if dataset:
        if len(sources) != 1:
            raise click.UsageError("--dataset takes one SOURCE, the dataset's root folder.")
        _spot_dataset(dataset, str(sources[0]), out_dir, options, fps, show)
        return
    config = build(SpotConfig, options, "--set", source="merkit spot")
    bars = CurveBars(show and workers == 1)
    result = spot_videos(list(sources), out_dir, config, fps=fps, first_frame=first_frame, workers=workers,
                         names=[vid] if vid else None, progress=bars,
                         on_video=lambda row: echo_video(row, out_dir, bars))
    finish_batch(result, "spotted")


def _spot_dataset(name: str, root: str, out_dir: str, options: dict, fps: float | None, show: bool) -> None:
    """``merkit spot ROOT --dataset NAME``: the ``megc_spotting`` protocol's runner on one dataset."""
    # deferred: tqdm and the experiment layer (torch) would slow `merkit --help`
    from tqdm import tqdm

    from merkit.experiments.spotting import run_spotting_experiment, spotting_config

    cfg = spotting_config(name, root, out_dir, options, {"fps": fps} if fps else None)
    with tqdm(desc="videos", unit="video", disable=not show) as bar:
        result = run_spotting_experiment(cfg, on_video=lambda v: bar.update(1))
    for line in result.summary_lines():
        click.echo(line)
    click.echo(f"{name}: {result.metrics['videos']} videos; config.yaml, metrics.json, predictions.csv, "
               f"metrics.csv, per_video.csv and run.json in {result.run_dir}")
