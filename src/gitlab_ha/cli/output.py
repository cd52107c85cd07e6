"""Printing helpers shared by every command: rich on a terminal, JSON with --json, errors on stderr."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gitlab_ha.errors import EXIT_BAD_INPUT, InputError

if TYPE_CHECKING:
    from gitlab_ha.topology.model import Topology


def _width() -> int | None:
    """Rich assumes 80 columns when output is piped, which cuts tables; use COLUMNS or a wide page."""
    if sys.stdout.isatty() or "COLUMNS" in os.environ:
        return None
    return 200


console = Console(highlight=False, soft_wrap=True, width=_width())
err_console = Console(stderr=True, highlight=False)


def report(error: InputError | str) -> None:
    """Print an error on stderr: one line per problem, each prefixed `error:`."""
    for line in str(error).splitlines() or [""]:
        err_console.print(f"[red]error:[/red] {escape(line)}", markup=True, soft_wrap=True)


def fail(error: InputError | str) -> NoReturn:
    """Inside a command: report the error and exit 2 (bad input)."""
    report(error)
    raise typer.Exit(EXIT_BAD_INPUT)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)


def warn_all(messages: Iterable[str]) -> None:
    for message in messages:
        warn(message)


def load_topology_warned(path: Path) -> Topology:
    """The topology file at `path`, its warnings printed on stderr at once (InputError if it is invalid)."""
    from gitlab_ha.topology.load import load_topology  # pydantic: only for the verbs that read a topology

    loaded = load_topology(path)
    warn_all(loaded.warnings)
    return loaded.topology


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console.print(table)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM (a cancelled job, `timeout`) raises KeyboardInterrupt, as Ctrl-C does, so
    the verb's own clean-up runs either way."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
