"""``merkit labels``: show the packaged label sets."""

from __future__ import annotations

import click

from merkit.cli._app import app


@app.command("labels")
def labels_command() -> None:
    """List the label sets (class order and per-dataset emotion mapping)."""
    from merkit.data.labels import get_label_set, list_label_sets  # deferred: merkit.data loads pandas and every loader

    for name in list_label_sets():
        ls = get_label_set(name)
        click.echo(f"{name}: {', '.join(ls.classes)}  ({ls.description})")
        for dataset in ls.datasets:
            pairs = ", ".join(f"{e}->{c}" for e, c in sorted(ls.mapping[dataset].items()))
            click.echo(f"  {dataset}: {pairs}")
