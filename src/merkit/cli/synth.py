"""``merkit synth``: write a SynthME dataset (CASME II, SAMM, SMIC-HS layouts + ground truth)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from merkit.cli._app import app
from merkit.errors import ConfigError


@app.command("synth")
@click.option("--preset", type=click.Choice(["tiny", "small", "full"]), default="small", show_default=True,
              help="Size preset: tiny (tests), small (demo), full (442 clips over 68 subjects, like MEGC2019).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Dataset seed; the same seed writes byte-identical files.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder (must be empty, or a previous SynthME output with --overwrite).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes rendering subjects in parallel; the output does not depend on it.")
@click.option("--overwrite", is_flag=True, help="Replace a previous SynthME output in --out.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a parameter, e.g. --set blink_rate=0 --set samm.camera.noise_sigma=0.5 (repeatable).")
@click.option("--macro", is_flag=True,
              help="Write the macro-expression set instead (class-per-folder posed expressions for transfer "
                   "learning; --preset picks the camera, --set sets MacroConfig fields such as n_subjects=12).")
@click.option("--long-videos", "long_layout", type=click.Choice(["casme_sq", "samm_lv"]),
              help="Write long videos for spotting instead, in the CAS(ME)^2 or SAMM-LV layout (--preset picks the "
                   "camera, --set sets LongVideoConfig fields such as n_frames=900 n_micro=4; docs/spotting.md).")
@click.option("--long-preset", type=click.Choice(["clean", "realistic"]), default="clean", show_default=True,
              help="With --long-videos: clean, or realistic (head drift and roll, blinks next to micro-expressions, "
                   "flicker, stronger noise, H.264 at 0.11 bit/pixel, 0.3-1.5 px micro-expressions; "
                   "docs/synthme.md). --set applies on top.")
def synth_command(preset: str, seed: int, out_dir: Path, workers: int, overwrite: bool, sets: tuple[str, ...],
                  macro: bool, long_layout: str | None, long_preset: str) -> None:
    """Generate the SynthME synthetic micro-expression benchmark into OUT."""
    # deferred: merkit.synth (cv2, numpy) and merkit._options (yaml) would slow `merkit --help`
    from merkit._options import parse_assignments
    from merkit.synth import generate
    from merkit.synth.long_config import get_long_preset, with_overrides
    from merkit.synth.longvideo import generate_long_videos
    from merkit.synth.macro import MacroConfig, generate_macro

    overrides = parse_assignments(sets)
    start = time.perf_counter()
    if long_layout:
        base = with_overrides(get_long_preset(long_preset), layout=long_layout, camera_preset=preset)
        long_cfg = with_overrides(base, **overrides)
        made = generate_long_videos(out_dir, long_cfg, seed, overwrite=overwrite)
        n = sum(e["kind"] == "micro" for e in made.events)
        n_videos = long_cfg.n_subjects * long_cfg.videos_per_subject
        click.echo(f"SynthME long videos ({long_preset}) seed {seed}: {n_videos} videos of "
                   f"{long_cfg.n_frames} frames at {long_cfg.rate:g} fps, {n} micro and "
                   f"{len(made.intervals()) - n} macro intervals in {time.perf_counter() - start:.1f} s -> {made.root}")
        return
    if long_preset != "clean":
        raise ConfigError(f"--long-preset {long_preset} is for long videos; add --long-videos casme_sq or samm_lv.")
    if macro:
        try:
            macro_cfg = MacroConfig(**{"camera_preset": preset, **overrides})
        except TypeError as exc:
            raise ConfigError(f"--set with --macro takes MacroConfig fields: {exc}.") from None
        made = generate_macro(out_dir, macro_cfg, seed, overwrite=overwrite)
        click.echo(f"SynthME macro seed {seed}: {made.n_images} images of {macro_cfg.n_subjects} subjects in "
                   f"{time.perf_counter() - start:.1f} s -> {out_dir}/<class>/")
        return
    manifest = generate(out_dir, preset, seed, workers=workers, overwrite=overwrite, **overrides)
    seconds = time.perf_counter() - start
    counts: dict[str, dict[str, int]] = {}
    for row in manifest.clips:
        counts.setdefault(row["dataset"], {}).setdefault(row["class"], 0)
        counts[row["dataset"]][row["class"]] += 1
    click.echo(f"SynthME {preset} seed {seed}: {manifest.n_clips} clips in {seconds:.1f} s -> {out_dir}")
    for dataset, by_class in counts.items():
        parts = ", ".join(f"{k} {v}" for k, v in sorted(by_class.items()))
        click.echo(f"  {dataset:8s} {manifest.root(dataset)}  ({parts})")
    click.echo(f"  MEGC2019-style ground truth: {out_dir / 'combined_3class_gt.csv'}")
    click.echo(f"  hidden ground truth (never read by loaders): {out_dir / '_groundtruth'}")
