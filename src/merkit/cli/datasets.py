"""``merkit datasets``: list the dataset loaders and check a user's copy."""

from __future__ import annotations

import inspect

import click

from merkit.cli._app import app


@app.group("datasets")
def datasets_group() -> None:
    """Dataset loaders: list them, check a copy."""


@datasets_group.command("list")
def list_command() -> None:
    """List the registered datasets and their published sizes."""
    # deferred: merkit.data loads pandas and every loader, which `merkit --help` need not
    from merkit.data.longvideo import get_long_dataset_class, list_long_datasets
    from merkit.data.registry import get_dataset_class, list_datasets

    for name in list_datasets():
        cls = get_dataset_class(name)
        published = cls.published if not isinstance(cls.published, property) else None
        size = (f"{published.samples} samples" if published
                else "size varies by camera/annotation" if name.startswith("smic") else "no published size")
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        click.echo(f"{name:14s} {size:34s} {doc}")
    for name in list_long_datasets():
        doc = (get_long_dataset_class(name).__doc__ or "").strip().splitlines()[0]
        click.echo(f"{name:14s} {'long videos (spotting)':34s} {doc}")


@datasets_group.command("options")
@click.argument("name")
def options_command(name: str) -> None:
    """List the loader options of dataset NAME (the keys of its table in a config)."""
    # deferred: merkit.data loads pandas and every loader, which `merkit --help` need not
    from merkit.data.registry import describe_type, loader_options

    for option, (hint, default, doc) in loader_options(name).items():
        shown = "required" if default is inspect.Parameter.empty else f"default {default!r}"
        click.echo(f"{option:16s} {describe_type(hint):26s} {shown:20s} {doc}")


@datasets_group.command("check")
@click.argument("root", required=False, type=click.Path(file_okay=False))
@click.option("--dataset", "name", required=True, help="Registered dataset name (see `merkit datasets list`).")
@click.option("--annotation", type=click.Path(dir_okay=False),
              help="Annotation file, when not inside ROOT (SMIC: an SMIC-E workbook).")
@click.option("--variant", help="Frame variant: raw / cropped (CASME II, SMIC, CASME), gray / cropped (4DME).")
@click.option("--gt", "gt_csv", type=click.Path(dir_okay=False),
              help="megc2019_cde only: a ground-truth list instead of the official one.")
@click.option("--decode", type=click.Choice(["keyframes", "all", "none"]), default="keyframes", show_default=True,
              help="Which frames to decode.")
@click.option("--corrections", help="'default' (packaged table), 'none', or a correction CSV.", default="default",
              show_default=True)
@click.option("--config", "paths_file", type=click.Path(dir_okay=False),
              help="Paths file (YAML/TOML) giving root/annotation per dataset.")
@click.option("--fps", type=float, help="Long-video datasets only: frame rate, when not the dataset's published one.")
@click.option("--frames-dir", type=click.Path(file_okay=False),
              help="Folder holding the subject folders, when not at a usual place.")
@click.option("--apex-policy", help="Apex policy for clips without a usable apex (midpoint, motion_peak).")
def check_command(root: str | None, name: str, annotation: str | None, variant: str | None,
                  gt_csv: str | None, decode: str, corrections: str, paths_file: str | None,
                  fps: float | None, frames_dir: str | None, apex_policy: str | None) -> None:
    """Check the copy of dataset NAME at ROOT and print every problem found.

    Every problem of the copy is listed in one pass, each naming its file and row (or folder).
    Exit status 0 when no error is found (warnings allowed), 1 otherwise.
    """
    # deferred: merkit.data loads pandas and every loader, which `merkit --help` need not
    from merkit.data.check import check_dataset
    from merkit.data.longvideo import list_long_datasets
    from merkit.data.paths import read_paths_file

    if name in list_long_datasets():
        _check_long(name, root, annotation, fps, decode, variant)
        return
    options: dict = {}
    if paths_file:
        entry = read_paths_file(paths_file).get(name, {})
        root = root or entry.get("root")
        for key in ("annotation", "frames_dir"):
            if key in entry:
                options[key] = entry[key]
    if annotation:
        options["annotation"] = annotation
    if variant:
        options["variant"] = variant
    if gt_csv:
        options["gt_csv"] = gt_csv
    if frames_dir:
        options["frames_dir"] = frames_dir
    if apex_policy:
        # deferred: merkit.motion pulls cv2 and scipy; it registers "motion_peak", needed only when a policy is named
        import merkit.motion  # noqa: F401

        options["apex_policy"] = apex_policy
    options["corrections"] = None if corrections == "none" else corrections
    report = check_dataset(name, root, decode=decode, **options)
    for problem in report.problems:
        click.echo(str(problem))
    for outcome in report.corrections:
        click.echo(f"note: {outcome.describe()}")
    click.echo(
        f"{name} at {report.root}: {report.n_samples} samples loaded from {report.n_rows} annotated "
        f"({report.n_subjects} subjects), {report.n_decoded} frames decoded; "
        f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)."
    )
    if not report.ok:
        raise click.ClickException(
            f"{len(report.errors)} error(s) in the {name} copy at {report.root}; see the lines above.")


def _check_long(name: str, root: str | None, annotation: str | None, fps: float | None, decode: str,
                variant: str | None = None) -> None:
    """``merkit datasets check`` for a long-video (spotting) dataset."""
    from merkit.data.longvideo import check_long_dataset  # deferred: merkit.data loads pandas and every loader

    options: dict = {"annotation": annotation} if annotation else {}
    if variant:
        options["variant"] = variant  # casme_sq: rawpic / rawvideo
    if fps:
        options["fps"] = fps
    report = check_long_dataset(name, root, decode=decode, **options)
    for problem in report.problems:
        click.echo(str(problem))
    counts = ", ".join(f"{n} {k}" for k, n in report.n_intervals.items())
    click.echo(f"{name} at {report.root}: {report.n_videos} videos, intervals: {counts}; {report.n_decoded} frames "
               f"decoded; {len(report.errors)} error(s), {len(report.warnings)} warning(s).")
    if not report.ok:
        raise click.ClickException(
            f"{len(report.errors)} error(s) in the {name} copy at {report.root}; see the lines above.")
