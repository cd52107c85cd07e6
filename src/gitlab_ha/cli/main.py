"""The `gitlab-ha` command. Each verb lives in its own module and is registered here."""

from __future__ import annotations

import sys

import typer

from gitlab_ha import __version__
from gitlab_ha.cli.output import report
from gitlab_ha.errors import EXIT_BAD_INPUT, InputError

app = typer.Typer(
    name="gitlab-ha",
    help="Build, rehearse, check and operate a highly available multi-node Omnibus GitLab.\n\n"
    "Example: gitlab-ha init --preset seed-15 -o cluster.yml && gitlab-ha secrets init "
    "&& gitlab-ha render cluster.yml -o out/",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gitlab-ha {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Build, rehearse, check and operate a highly available multi-node Omnibus GitLab."""


def _register(argv: list[str] | None = None) -> None:
    # Imported here so each verb module can import `app` helpers without cycles.
    from gitlab_ha.cli import commands

    commands.register(app, argv)


def run() -> None:
    """Console-script entry point: bad input exits 2 with one line, never a traceback."""
    _register(sys.argv[1:])
    try:
        app()
    except InputError as exc:
        report(exc)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as exc:
        # Last resort for a path the user named that a verb did not check itself: one line, no traceback.
        report(InputError(exc.strerror or str(exc), str(exc.filename or "")))
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        sys.exit(130)
