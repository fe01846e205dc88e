"""``merkit cache info|clear``: inspect or empty the feature cache."""

from __future__ import annotations

import click

from merkit.cli._app import app


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{value:.1f} GiB"


@app.group("cache")
def cache_group() -> None:
    """Inspect or clear the feature cache ($MERKIT_CACHE_DIR or ~/.cache/merkit)."""


@cache_group.command("info")
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help="Cache directory (default: $MERKIT_CACHE_DIR or ~/.cache/merkit).")
def cache_info(root: str | None) -> None:
    """Show entries and size per namespace."""
    from merkit.cache import FeatureCache  # deferred: merkit.cache loads numpy, which `merkit --help` need not

    info = FeatureCache(root).info()
    click.echo(f"cache: {info.root}")
    if not info.namespaces:
        click.echo("  (empty)")
        return
    for name, (entries, size) in info.namespaces.items():
        click.echo(f"  {name}: {entries} entries, {_human(size)}")
    click.echo(f"  total: {info.entries} entries, {_human(info.size_bytes)}")


@cache_group.command("clear")
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help="Cache directory (default: $MERKIT_CACHE_DIR or ~/.cache/merkit).")
@click.option("--namespace", default=None, help="Only clear this namespace (e.g. 'flow', 'faces').")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def cache_clear(root: str | None, namespace: str | None, yes: bool) -> None:
    """Delete cached entries (all, or one namespace)."""
    from merkit.cache import FeatureCache  # deferred: merkit.cache loads numpy, which `merkit --help` need not

    cache = FeatureCache(root)
    what = f"namespace {namespace!r} of" if namespace else "all entries in"
    if not yes:
        click.confirm(f"Delete {what} the cache at {cache.root}?", abort=True)
    removed = cache.clear(namespace)
    click.echo(f"removed {removed} entries from {cache.root}")
