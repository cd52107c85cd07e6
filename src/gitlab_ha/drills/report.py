"""The drill report: per scenario one table, a column per configuration (fast / Omnibus profile,
asynchronous / synchronous replication) with the median, min and max over the repeats; per run a
PNG timeline and the recorded history; JSON for machines.

`--report FILE.md` writes FILE.md, FILE.json beside it and FILE-runs/ (timelines and histories);
`--report FILE.json` the JSON and the folder. A report that already holds runs keeps those of the
configurations this invocation did not run, so running once per configuration (bench/drills.sh)
builds the side-by-side tables; a configuration run again replaces its old runs of that scenario.
"""

from __future__ import annotations

import datetime
import json
import os
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitlab_ha.drills.runner import SYNC_LABELS, RunResult, config_label
from gitlab_ha.drills.scenarios import SCENARIOS
from gitlab_ha.drills.timeline import draw
from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import read_user_text, write_atomic

VERSION = 1
MAX_REPORT = 64 * 1024 * 1024  # a run is a few KiB: bench/drills.sh's 4 configurations × 12 scenarios × 5 are < 1 MiB
PROFILES = ("fast", "omnibus")
SYNCS = tuple(SYNC_LABELS)  # off, on, strict: the columns' order

Getter = Callable[[dict[str, Any]], float | None]
# what the tables and the merge read from every run of a report, and its type
RUN_FIELDS: dict[str, type | tuple[type, ...]] = {
    "scenario": str,
    "profile": str,
    "sync": str,
    "index": int,
    "passed": bool,
    "metrics": (dict, type(None)),
}


def metric(*path: str) -> Getter:
    def get(metrics: dict[str, Any]) -> float | None:
        value: Any = metrics
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, list):
            return float(len(value))
        return None if value is None else float(value)

    return get


# (row label, value from a run's metrics, decimals)
ROWS: tuple[tuple[str, Getter, int], ...] = (
    ("database writes unavailable (RTO, s)", metric("sql", "rto"), 1),
    ("acknowledged rows lost (RPO)", metric("sql", "lost"), 0),
    ("unknown rows found / not found", metric("sql", "unknown_present"), 0),
    ("", metric("sql", "unknown_absent"), 0),
    ("Redis writes unavailable (s)", metric("redis", "rto"), 1),
    ("acknowledged keys lost", metric("redis", "lost"), 0),
    ("unknown keys found / not found", metric("redis", "unknown_present"), 0),
    ("", metric("redis", "unknown_absent"), 0),
    ("detected after (s)", metric("detect"), 1),
    ("promoted after (s)", metric("promote"), 1),
    ("every PgBouncer followed after (s)", metric("pgbouncers_followed"), 1),
    ("most writable primaries at once", metric("max_primaries"), 0),
)


def paths(report: Path) -> tuple[Path, Path | None, Path]:
    """(the JSON, the Markdown or None, the folder of timelines and histories) for `--report`."""
    if report.suffix == ".json":
        return report, None, report.with_name(report.stem + "-runs")
    if report.suffix == ".md":
        return report.with_suffix(".json"), report, report.with_name(report.stem + "-runs")
    raise InputError("the report is FILE.md (with FILE.json beside it) or FILE.json", "--report")


def run_name(result: RunResult) -> str:
    return f"{result.scenario}-{result.config.profile}-sync-{result.config.sync}-{result.index}"


def record(result: RunResult, history_file: str, timeline_file: str) -> dict[str, Any]:
    return {
        "scenario": result.scenario,
        "profile": result.config.profile,
        "sync": result.config.sync,
        "index": result.index,
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "target": result.history.target,
        "passed": result.passed,
        "interrupted": result.interrupted,
        "healthy_after": result.healthy_after,
        "problems": result.problems,
        "notes": result.notes,
        "seconds": round(result.seconds, 1),
        "held": result.held,
        "metrics": None if result.metrics is None else result.metrics.to_dict(),
        "history": history_file,
        "timeline": timeline_file,
    }


def save_run(result: RunResult, folder: Path) -> tuple[str, str]:
    """Write a run's history and its timeline; their paths relative to the report."""
    name = run_name(result)
    history = folder / f"{name}.history.json"
    timeline = folder / f"{name}.png"
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(history, result.history.dumps() + "\n", mode=0o644)
    if result.history.event("fault") is None:
        return f"{folder.name}/{history.name}", ""  # interrupted before the fault: no timeline to draw
    draw(
        result.history,
        result.metrics,
        timeline,
        f"{result.scenario} · {config_label(result.config.profile, result.config.sync)} · run {result.index}",
    )
    return f"{folder.name}/{history.name}", f"{folder.name}/{timeline.name}"


def load(path: Path) -> list[dict[str, Any]]:
    """The runs of the report at `path` ([] when there is none yet); InputError for anything else, so a
    report the drills could not merge into fails before they run, not after."""
    if not path.exists():
        return []
    try:  # not path.read_text(): a FIFO named as the report hung the drill forever, a huge file filled memory
        data = json.loads(read_user_text(path, limit=MAX_REPORT))
    except InputError as err:
        raise InputError(f"cannot read the existing report: {err.message}", str(path)) from None
    except ValueError as err:
        raise InputError(f"cannot read the existing report: {err}", str(path)) from None
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("runs"), list):
        raise InputError("not a drill report of this version (move it away or name another --report)", str(path))
    runs: list[dict[str, Any]] = data["runs"]
    for number, run in enumerate(runs, 1):
        if not isinstance(run, dict) or not all(isinstance(run.get(k), t) for k, t in RUN_FIELDS.items()):
            fields = ", ".join(RUN_FIELDS)
            raise InputError(f"run {number} is not a drill run (it needs {fields})", str(path))
    return runs


def check(report: Path) -> None:
    """InputError now, before the drills, for a report `write` could not write: a folder this user cannot
    write, a folder where its Markdown or JSON goes, a file where its folder of runs goes, an existing JSON
    it cannot merge into. (Found after the drills, the JSON was written and the Markdown not, or the runs
    were lost.)"""
    json_path, md_path, folder = paths(report)
    if not json_path.parent.is_dir() or not os.access(json_path.parent, os.W_OK):
        raise InputError(f"{json_path.parent} is not a folder this user can write", f"--report {report}")
    for file in (json_path, md_path):
        if file is not None and file.is_dir():
            raise InputError("is a folder: the report cannot be written there", str(file))
    if folder.exists() and not folder.is_dir():
        raise InputError("is not a folder: the report's timelines and histories go there", str(folder))
    load(json_path)


def merge(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    replaced = {(r["scenario"], r["profile"], r["sync"]) for r in new}
    return [r for r in old if (r["scenario"], r["profile"], r["sync"]) not in replaced] + new


def _stat(values: list[float | None], decimals: int) -> str:
    known = [v for v in values if v is not None]
    never = len(values) - len(known)
    if not known:
        return "never" if never else "—"
    fmt = f"{{:.{decimals}f}}"
    median, low, high = statistics.median(known), min(known), max(known)
    text = fmt.format(median) if low == high else f"{fmt.format(median)} ({fmt.format(low)}–{fmt.format(high)})"
    return text + (f", never ×{never}" if never else "")


def cell(runs: list[dict[str, Any]], getter: Getter, decimals: int) -> str:
    measured = [r["metrics"] for r in runs if r.get("metrics")]
    return _stat([getter(m) for m in measured], decimals) if measured else "—"


def configs(runs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    present = {(r["profile"], r["sync"]) for r in runs}
    return [(p, s) for p in PROFILES for s in SYNCS if (p, s) in present]


def markdown(runs: list[dict[str, Any]]) -> str:
    lines = [
        "# Drills",
        "",
        "Failures injected on purpose into the lab, measured by the checker (`gitlab-ha drill run`). Each cell: "
        "median (min–max) over the repeats. Omnibus' defaults (the `omnibus` profile): Patroni ttl 30 s, "
        "loop_wait 10 s, retry_timeout 10 s, asynchronous replication (up to 1 MiB of WAL may be lost); "
        "Sentinel down-after 10 s. Targets with the fast profile: database RTO ≤ 10 s median for a killed or "
        "lost leader, Redis ≤ 5 s, RPO 0 in synchronous mode.",
        "",
    ]
    for scenario in scenarios_in(runs):
        mine = [r for r in runs if r["scenario"] == scenario]
        headers, rows = scenario_table(mine)
        summary = SCENARIOS[scenario].summary
        lines += [f"## {scenario}", "", summary[0].upper() + summary[1:] + ".", ""]
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|---|" + "---:|" * (len(headers) - 1))
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
        for profile, sync in configs(mine):
            group = [r for r in mine if (r["profile"], r["sync"]) == (profile, sync)]
            links = ", ".join(f"[run {r['index']}]({r['timeline']})" for r in group if r.get("timeline"))
            holds = sorted({float(r["held"]) for r in group if isinstance(r.get("held"), (int, float))})
            held = f"fault held {', '.join(f'{h:g}' for h in holds)} s; " if holds else ""
            lines.append(f"- {config_label(profile, sync)}: {held}timelines {links or '—'}")
            for run in group:
                if run.get("interrupted"):
                    lines.append(f"  - **run {run['index']}: interrupted (Ctrl-C or SIGTERM), not measured**")
                for problem in run.get("problems", []):
                    lines.append(f"  - **run {run['index']}: {problem}**")
                for note in run.get("notes", []):
                    lines.append(f"  - run {run['index']}: {note}")
        lines.append("")
    return "\n".join(lines)


def scenarios_in(runs: list[dict[str, Any]]) -> list[str]:
    return [s for s in SCENARIOS if any(r["scenario"] == s for r in runs)]


def scenario_table(runs: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """One scenario's runs as (headers, rows): a column per configuration, a row per measure."""
    columns = configs(runs)
    groups = [[r for r in runs if (r["profile"], r["sync"]) == c] for c in columns]
    rows = [["runs passed", *(f"{sum(bool(r['passed']) for r in g)} / {len(g)}" for g in groups)]]
    index = 0
    while index < len(ROWS):
        label, getter, decimals = ROWS[index]
        if index + 1 < len(ROWS) and ROWS[index + 1][0] == "":
            second = ROWS[index + 1][1]
            cells = [f"{cell(g, getter, decimals)} / {cell(g, second, decimals)}" for g in groups]
            index += 2
        else:
            cells = [cell(g, getter, decimals) for g in groups]
            index += 1
        rows.append([label, *cells])
    return ["measure", *(config_label(p, s) for p, s in columns)], rows


def kept_over(old: list[dict[str, Any]], results: list[RunResult]) -> list[RunResult]:
    """The results that would replace a configuration's complete runs with interrupted ones only: they are
    left out of the report (its earlier runs stay, with their timelines), and the caller says so."""
    complete = {(r["scenario"], r["profile"], r["sync"]) for r in old if not r.get("interrupted")}

    def key(result: RunResult) -> tuple[str, str, str]:
        return result.scenario, result.config.profile, result.config.sync

    finished = {key(r) for r in results if not r.interrupted}
    return [r for r in results if key(r) in complete and key(r) not in finished]


def write(report: Path, results: list[RunResult]) -> tuple[list[dict[str, Any]], list[RunResult]]:
    """Write the report for these runs, merged with the report's earlier runs: (all its runs, the
    results left out because they were interrupted where complete runs were already reported)."""
    json_path, md_path, folder = paths(report)
    old = load(json_path)
    left_out = kept_over(old, results)
    new = []
    for result in results:
        if any(result is r for r in left_out):
            continue
        history_file, timeline_file = save_run(result, folder)
        new.append(record(result, history_file, timeline_file))
    runs = merge(old, new)
    write_atomic(json_path, json.dumps({"version": VERSION, "runs": runs}, indent=2) + "\n", mode=0o644)
    if md_path is not None:
        write_atomic(md_path, markdown(runs) + "\n", mode=0o644)
    return runs, left_out
