"""`gitlab-ha drill`: failures injected on purpose into the lab, with the outage and every lost
acknowledged write measured."""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from gitlab_ha.cli.output import console, fail, print_table, sigterm_as_interrupt
from gitlab_ha.drills.scenarios import DEFAULT_DURATION, PAST_TTL, SCENARIOS, resolve
from gitlab_ha.errors import InputError
from gitlab_ha.topology.profiles import PROFILES

if TYPE_CHECKING:
    from gitlab_ha.drills.runner import RunResult
    from gitlab_ha.lab.lab import Lab

# The runner, the lab and the report (matplotlib) are imported by the commands that use them: `gitlab-ha --help`
# and a mistyped verb import every verb module (cli/commands.py), and should stay quick.

MAX_REPEAT = 100  # runs of one scenario: 100 Omnibus runs are about four hours

drill_app = typer.Typer(
    name="drill",
    help="Inject failures into the lab on purpose and measure the outage and the acknowledged writes lost.\n\n"
    "Example: gitlab-ha drill run leader-node-lost redis-master-killed --repeat 3 --report drills.md",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@drill_app.command("list")
def list_() -> None:
    """The scenarios, what each breaks, and whether the fault is held (--duration) or instant.

    Example: gitlab-ha drill list
    """
    rows = [(s.name, s.kind, "held" if s.held else "instant", s.summary) for s in SCENARIOS.values()]
    print_table("drill scenarios (`all` runs every one)", ("scenario", "kind", "fault", "what it breaks"), rows)


def _summary(result: RunResult) -> str:
    mark = "[green]passed[/green]" if result.passed else "[red]FAILED[/red]"
    m = result.metrics
    if m is None:
        return f"{result.scenario} #{result.index}: {mark}"

    def sec(value: float | None) -> str:
        return "never" if value is None else f"{value:.1f} s"

    return (
        f"{result.scenario} #{result.index}: {mark} — database unavailable {sec(m.sql.rto)}, "
        f"{len(m.sql.lost)} rows lost; Redis unavailable {sec(m.redis.rto)}, {len(m.redis.lost)} keys lost; "
        f"detect {sec(m.detect)}, promote {sec(m.promote)}, PgBouncers {sec(m.pgbouncers_followed)}; "
        f"most primaries at once {m.max_primaries}"
    )


@drill_app.command("run")
def run(
    scenarios: list[str] = typer.Argument(..., help="Scenario names (gitlab-ha drill list), or all."),
    lab_dir: Path = typer.Option(Path("lab"), "--lab", help="Lab directory (default ./lab); brought up if needed."),
    repeat: int = typer.Option(1, "--repeat", help="Runs of each scenario (1 to 100)."),
    profile: str = typer.Option("fast", "--profile", help="Failover timing of the lab: fast or omnibus."),
    sync: bool = typer.Option(False, "--sync", help="Patroni synchronous replication (database.synchronous_mode)."),
    strict: bool = typer.Option(False, "--strict", help="With --sync: synchronous_mode_strict."),
    duration: float | None = typer.Option(
        None,
        "--duration",
        help=f"Seconds a held fault lasts (default {DEFAULT_DURATION['fast']:g} fast, "
        f"{DEFAULT_DURATION['omnibus']:g} omnibus; a hung leader at least Patroni's ttl + {PAST_TTL:g}).",
    ),
    report: Path | None = typer.Option(
        None, "--report", help="FILE.md (with FILE.json beside it) or FILE.json; default LAB/drills/<time>.md."
    ),
) -> None:
    """Run each scenario on the lab while writers insert numbered rows (internal LB, 6432) and set numbered
    keys (Sentinel); then read everything back and report the write-unavailable window, acknowledged
    writes lost, unknown outcomes, time to detect, promote and until every PgBouncer followed, and any
    moment with two writable primaries. Exit 1 when a run failed, 130 when interrupted (the fault is
    healed first).

    Example: gitlab-ha drill run all --repeat 5 --profile omnibus --sync --report drills.md
    """
    from gitlab_ha.drills import report as drill_report
    from gitlab_ha.drills.runner import RunConfig
    from gitlab_ha.drills.session import run_session
    from gitlab_ha.lab.lab import Lab

    chosen = resolve(scenarios)
    if not 1 <= repeat <= MAX_REPEAT:
        fail(f"--repeat: from 1 to {MAX_REPEAT} (each run takes a minute or more)")
    if profile not in PROFILES:
        fail(f"--profile: {profile!r} is not a profile (use {' or '.join(PROFILES)})")
    if strict and not sync:
        fail("--strict: needs --sync")
    if duration is not None and not 0 < duration <= 3600:
        fail("--duration: seconds, above 0 and at most 3600")
    if report is not None:
        drill_report.check(report)  # a report that cannot be written fails now, not after the drills
    if os.geteuid() != 0:
        fail("the drills need root (the lab runs with cgroups, nftables and service accounts)")
    config = RunConfig(profile, "strict" if strict else ("on" if sync else "off"))
    lab = Lab(lab_dir)
    console.print(f"lab: {lab.dir}" + (" (default; --lab to choose)" if lab_dir == Path("lab") else ""))
    with sigterm_as_interrupt():  # SIGTERM heals the fault as Ctrl-C does
        outcome = run_session(lab, chosen, config, _ConsoleView(), repeat=repeat, duration=duration)
    if outcome.results:
        _write_report(lab, report, outcome.results)
    if outcome.interrupted:
        raise typer.Exit(130)
    raise typer.Exit(0 if outcome.passed else 1)


class _ConsoleView:
    """The session on the terminal: a status line while the lab comes up, then a progress bar with a
    summary line per run (drills/session.SessionView)."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    @contextlib.contextmanager
    def preparing(self) -> Iterator[Callable[[str], None]]:
        with console.status("preparing the lab …"):
            yield lambda line: console.print(f"  {line}")

    @contextlib.contextmanager
    def running(self, runs: int) -> Iterator[None]:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            self._progress, self._task = progress, progress.add_task("drills", total=runs)
            try:
                yield
            finally:
                self._progress = self._task = None

    def _bar(self) -> tuple[Progress, TaskID]:
        assert self._progress is not None and self._task is not None, "only while running"
        return self._progress, self._task

    def phase(self, run: str, what: str) -> None:
        progress, task = self._bar()
        progress.update(task, description=f"{run}: {what}")

    def could_not_run(self, scenario: str, index: int, error: Exception) -> None:
        progress, task = self._bar()
        progress.console.print(f"[red]{scenario} #{index}: could not run: {error}[/red]")
        progress.advance(task)

    def finished(self, result: RunResult) -> None:
        progress, task = self._bar()
        progress.console.print(_summary(result))
        for problem in result.problems:
            progress.console.print(f"  [red]{problem}[/red]")
        for note in result.notes:
            progress.console.print(f"  {note}", markup=False)
        progress.advance(task)

    def interrupted(self, result: RunResult | None) -> None:
        if result is None:
            console.print("[yellow]interrupted (no fault was in place)[/yellow]")
            return
        what = "the fault was healed" if result.history.event("fault") is not None else "before its fault"
        console.print(f"[yellow]interrupted during {result.scenario}: {what}[/yellow]")
        for note in result.notes:
            console.print(f"  {note}", markup=False)
        console.print(
            "  the lab is healthy again" if result.healthy_after else "  [red]the lab is not healthy yet[/red]"
        )


def _write_report(lab: Lab, report: Path | None, results: list[RunResult]) -> None:
    from gitlab_ha.drills import report as drill_report
    from gitlab_ha.drills.runner import Shield

    path = report or lab.dir / "drills" / (datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + ".md")
    try:
        # a few seconds (the timelines): a second Ctrl-C there lost the report of the run the first one interrupted
        with Shield():
            runs, left_out = drill_report.write(path, results)
    except (InputError, OSError) as err:
        fail(f"the report could not be written: {err}")
    for result in left_out:
        console.print(
            f"{result.scenario} ({result.config.label}) was interrupted: the report keeps its earlier complete runs",
            markup=False,
        )
    for scenario in drill_report.scenarios_in([r for r in runs if r["scenario"] in {x.scenario for x in results}]):
        headers, rows = drill_report.scenario_table([r for r in runs if r["scenario"] == scenario])
        table = Table(title=scenario, title_justify="left")
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    console.print(f"report: {path} (timelines in {drill_report.paths(path)[2]})")


def register(app: typer.Typer) -> None:
    app.add_typer(drill_app, name="drill")
