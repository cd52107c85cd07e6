"""Print the README's drill table from a drill report's JSON (default bench/results/drills.json):
one row per scenario, median (min–max) of the write-unavailable windows, acknowledged writes lost
over all runs, the most writable primaries at once and the runs passed, asynchronous and synchronous
side by side for one profile.

    .venv/bin/python bench/drills_table.py [--profile fast|omnibus] [REPORT.json]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitlab_ha.drills.report import Getter, cell, load, metric
from gitlab_ha.drills.scenarios import SCENARIOS
from gitlab_ha.errors import EXIT_BAD_INPUT, InputError

MODES = (("off", "async"), ("on", "sync"))


def rto(runs: list[dict[str, Any]], store: str) -> str:
    return cell(runs, metric(store, "rto"), 1)  # the report's own median (min–max), "never" included


def total(runs: list[dict[str, Any]], getter: Getter) -> str:
    """The sum over the runs (acknowledged writes lost), — when there are none."""
    values = [getter(r["metrics"]) for r in runs if r.get("metrics")]
    return f"{sum(v or 0 for v in values):.0f}" if values else "—"


def lost(runs: list[dict[str, Any]], store: str) -> str:
    return total(runs, metric(store, "lost"))


def most(runs: list[dict[str, Any]]) -> str:
    """The most writable primaries any run saw at once."""
    values = [r["metrics"]["max_primaries"] for r in runs if r.get("metrics")]
    return str(max(values)) if values else "—"


def passed(runs: list[dict[str, Any]]) -> str:
    return f"{sum(bool(r['passed']) for r in runs)}/{len(runs)}" if runs else "—"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path, default=Path("bench/results/drills.json"))
    parser.add_argument("--profile", default="fast", choices=("fast", "omnibus"))
    args = parser.parse_args(argv)
    if not args.report.is_file():
        print(f"error: {args.report}: no such drill report", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        runs = [r for r in load(args.report) if r["profile"] == args.profile]
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    modes = [(mode, label) for mode, label in MODES if any(r["sync"] == mode for r in runs)]
    if not modes:
        print(f"no {args.profile} runs in {args.report}", file=sys.stderr)
        return 1
    labels = [label for _, label in modes]

    def both(cell: Callable[[list[dict[str, Any]]], str], by: dict[str, list[dict[str, Any]]]) -> str:
        return " / ".join(cell(by[mode]) for mode, _ in modes)

    headers = [f"DB unavailable, {label}" for label in labels]
    headers += [f"Redis unavailable ({labels[0]})", f"rows lost {' / '.join(labels)}", f"keys lost {labels[0]}"]
    headers += [f"primaries at once {' / '.join(labels)}", f"passed {' / '.join(labels)}"]
    print("| scenario | " + " | ".join(headers) + " |")
    print("|---" * (len(headers) + 1) + "|")
    for name in SCENARIOS:
        by = {mode: [r for r in runs if r["scenario"] == name and r["sync"] == mode] for mode, _ in modes}
        if not any(by.values()):
            continue
        first = by[modes[0][0]]
        cells = [f"`{name}`", *(rto(by[mode], "sql") for mode, _ in modes), rto(first, "redis")]
        cells += [both(lambda g: lost(g, "sql"), by), lost(first, "redis"), both(most, by), both(passed, by)]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
