"""The ``merkit`` command group and its error handling.

No logic lives here: commands parse arguments, call the library, print.
A :class:`~merkit.errors.MerkitError` exits with status 1 and a one-line
message (the traceback only with ``--debug``); usage errors exit with 2.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click

from merkit._version import __version__
from merkit.errors import MerkitError

__all__ = ["app", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="merkit")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def app(ctx: click.Context, debug: bool, verbose: int) -> None:
    """merkit: facial micro-expression recognition with honest evaluation."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status (usable in-process by tests)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app.main(args=args, prog_name="merkit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except MerkitError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        return 1
    return 0
