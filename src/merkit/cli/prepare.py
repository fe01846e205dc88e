"""``merkit prepare``: compute and cache motion features for a whole dataset."""

from __future__ import annotations

import click

from merkit.cli._app import app
from merkit.cli._progress import no_progress_option, progress_enabled
from merkit.errors import ConfigError


@app.command("prepare")
@click.argument("dataset")
@click.option("--root", type=click.Path(exists=True, file_okay=False), default=None,
              help="Dataset folder (default: MERKIT_<NAME>_ROOT / MERKIT_DATA_ROOT).")
@click.option("--apex-policy", default=None, help="Apex policy for clips without an apex (e.g. midpoint, motion_peak).")
@click.option("-o", "--loader-option", "loader_options", multiple=True, metavar="KEY=VALUE",
              help="Loader option, e.g. -o variant=raw (repeatable; 'none' means None).")
@click.option("--channels", default="u,v,strain", show_default=True,
              help="Comma-separated feature channels: u, v, strain, magnitude, orientation.")
@click.option("--frames", type=click.Choice(["onset_apex", "uniform", "consecutive"]), default="onset_apex",
              show_default=True)
@click.option("-k", "--k", "k", type=int, default=8, show_default=True, help="Frames for uniform/consecutive.")
@click.option("--flow", default="dis", show_default=True,
              help="Flow method: dis, tvl1 (the references), tvl1_fast, farneback.")
@click.option("--size", type=int, default=224, show_default=True, help="Aligned face size in pixels.")
@click.option("--align", default="eye_line", show_default=True, help="Face alignment mode.")
@click.option("--normalize", type=click.Choice(["raw", "minmax"]), default="raw", show_default=True)
@click.option("--workers", type=int, default=None, help="Worker processes (default: all cores).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Feature cache (default: $MERKIT_CACHE_DIR or ~/.cache/merkit).")
@no_progress_option
def prepare_command(dataset: str, root: str | None, apex_policy: str | None, loader_options: tuple[str, ...],
                    channels: str, frames: str, k: int, flow: str, size: int, align: str, normalize: str,
                    workers: int | None, cache_dir: str | None, no_progress: bool) -> None:
    """Align faces and compute flow features for every sample of DATASET; report done/cached/failed."""
    # deferred: merkit.motion (cv2, scipy), merkit.data (pandas) and merkit._options (yaml) would slow `merkit --help`
    import merkit.motion  # noqa: F401  (registers the motion_peak apex policy)
    from merkit._options import parse_assignments
    from merkit.cache import FeatureCache
    from merkit.data.registry import load_dataset
    from merkit.motion.prepare import PrepareConfig, prepare_features

    options: dict[str, object] = {"apex_policy": apex_policy} if apex_policy else {}
    try:
        raw = parse_assignments(loader_options, "--loader-option")
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--loader-option") from None
    for key, value in raw.items():
        options[key] = None if isinstance(value, str) and value.lower() == "none" else value
    table = load_dataset(dataset, root, **options)
    config = PrepareConfig(channels=tuple(c.strip() for c in channels.split(",") if c.strip()), frames=frames, k=k,
                           flow=flow, size=size, align=align, normalize=normalize)
    report = prepare_features(table, config, cache=FeatureCache(cache_dir), workers=workers,
                              progress=progress_enabled(no_progress))
    click.echo(report.summary())
    for key, reason in report.failed.items():
        click.echo(f"  failed {key}: {reason}")
