"""``merkit demo``: SynthME small -> features -> composite LOSO for STSTNet, MiER-CvT and Bi-WOOF + SVM -> report."""

from __future__ import annotations

from pathlib import Path

import click

from merkit.cli._app import app
from merkit.cli._progress import no_progress_option, progress_enabled
from merkit.errors import ConfigError


@app.command("demo")
@click.option("--out", "out_dir", default="merkit_demo", show_default=True, type=click.Path(path_type=Path),
              help="Folder for the generated data, cache, runs and report.")
@click.option("--preset", default="small", show_default=True, help="SynthME preset (tiny, small, full).")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated run seeds, e.g. 0,1,2.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1), help="Processes.")
@no_progress_option
def demo_command(out_dir: Path, preset: str, seeds: str, workers: int, no_progress: bool) -> None:
    """Generate SynthME, train and evaluate STSTNet, MiER-CvT and Bi-WOOF + SVM honestly, write the report."""
    from merkit.experiments.demo import run_demo  # deferred: loads torch, which `merkit --help` need not

    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--seeds must be comma-separated integers; got {seeds!r}.") from None
    result = run_demo(out_dir, preset=preset, seeds=seed_list, workers=workers, progress=progress_enabled(no_progress))
    click.echo(result.report.read_text())
    click.echo(f"demo finished in {result.seconds:.0f} s; report: {result.report}")
