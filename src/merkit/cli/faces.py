"""``merkit faces PATH --out DIR``: aligned face crops, landmarks CSV and overlays."""

from __future__ import annotations

import click

from merkit.cli._app import app
from merkit.cli._progress import no_progress_option, progress_enabled
from merkit.errors import MerkitError


@app.command("faces")
@click.argument("path", type=click.Path(exists=True))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--mode", type=click.Choice(["eye_line", "similarity", "mol", "none"]), default="eye_line",
              show_default=True, help="Alignment mode (see docs/face.md).")
@click.option("--size", type=int, default=224, show_default=True, help="Crop side in pixels.")
@click.option("--color", type=click.Choice(["gray", "rgb"]), default="gray", show_default=True)
@click.option("--landmarks", type=click.Choice(["reference", "every_frame", "skip"]), default="reference",
              show_default=True, help="Landmarks on the first frame only, on every frame, or none (mode none).")
@click.option("--upsample", type=int, multiple=True, default=(0, 1), show_default=True,
              help="dlib up-sampling levels tried in order (repeat the option).")
@click.option("--no-overlay", is_flag=True, help="Do not write overlay.png per clip.")
@click.option("--cache/--no-cache", default=False, show_default=True,
              help="Reuse aligned clips from the feature cache ($MERKIT_CACHE_DIR).")
@click.option("--reference-frame", type=int, default=0, show_default=True,
              help="0-based frame each clip is aligned on (-1: the last frame).")
@click.option("--track", "track_every", type=click.IntRange(min=1),
              help="Long videos: re-detect the face every N frames and crop each frame with its own alignment; "
                   "landmarks.csv gets face_present and confidence per frame (docs/face.md).")
@no_progress_option
def faces_command(path: str, out_dir: str, mode: str, size: int, color: str, landmarks: str,
                  upsample: tuple[int, ...], no_overlay: bool, cache: bool, reference_frame: int,
                  track_every: int | None, no_progress: bool) -> None:
    """Align the faces of a frame folder, a video, or a dataset tree of them.

    Each clip is aligned on one frame (the first, or --reference-frame); crops go to DIR/<clip>/crops/, the
    68 landmarks (crop pixels) to DIR/landmarks.csv, a per-clip status to
    DIR/faces.csv. A clip that fails is reported and the others go on; the
    exit status is 1 if any clip failed.
    """
    # deferred: tqdm, numpy and merkit.face (pandas) would slow `merkit --help`; loaded when the command runs
    from tqdm import tqdm

    from merkit.cache import FeatureCache
    from merkit.face import AlignConfig, DlibBackend, extract_faces

    config = AlignConfig(mode=mode, size=size, color=color, landmarks=landmarks)
    summary = extract_faces(
        path, out_dir, config, backend=DlibBackend(upsample=upsample), overlay=not no_overlay,
        cache=FeatureCache() if cache else None, reference_index=reference_frame, track_every=track_every,
        progress=lambda items, total: tqdm(items, total=total, desc="faces", unit="clip",
                                           disable=not progress_enabled(no_progress)),
    )
    for result in summary.results:
        if not result.ok:
            click.echo(f"FAILED {result.name}: {result.error}", err=True)
        elif result.note:
            click.echo(f"note {result.name}: {result.note}", err=True)
    click.echo(f"{summary.n_ok} clips aligned, {summary.n_failed} failed; results in {summary.out_dir}")
    if summary.n_failed:
        raise MerkitError(f"{summary.n_failed} of {len(summary.results)} clips failed; see {summary.out_dir}/faces.csv")
