"""`gitlab-ha status`: one table of the live cluster, a verdict per component; exit 1 when degraded."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from gitlab_ha.cli.output import console, fail, load_topology_warned, print_json

if TYPE_CHECKING:
    from gitlab_ha.probe.model import Component
    from gitlab_ha.probe.target import Target

# The probes (psycopg, redis, the lab) are imported by the commands that use them: `gitlab-ha --help`
# and a mistyped verb import every verb module (cli/commands.py), and should stay quick.


def show(components: list[Component], title: str) -> None:
    from rich.table import Table

    from gitlab_ha.probe.model import Verdict

    colors = {Verdict.OK: "green", Verdict.DEGRADED: "yellow", Verdict.DOWN: "red", Verdict.NOT_RUNNABLE: "dim"}
    table = Table(title=title, title_justify="left")
    for column in ("component", "verdict", "node", "what", "state", "detail"):
        table.add_column(column, overflow="fold")
    for component in components:
        color = colors[component.verdict]
        table.add_row(
            f"[bold]{component.name}[/bold]",
            f"[{color}]{component.verdict.value}[/{color}]",
            "",
            "",
            "",
            component.summary,
        )
        for row in component.rows:
            mark = "" if row.ok else "[red]✗[/red] "
            table.add_row("", "", row.node, row.what, f"{mark}{row.state}", row.detail)
    console.print(table)


def target_of(lab_dir: Path | None, cluster: Path | None, secrets: Path | None) -> tuple[Target, str]:
    from gitlab_ha.lab.lab import Lab
    from gitlab_ha.probe.target import for_topology
    from gitlab_ha.secrets.store import SecretStore

    if cluster is not None:
        topo = load_topology_warned(cluster)
        store = SecretStore.load(secrets) if secrets is not None else None
        return for_topology(topo, store), f"{topo.name} (hosts)"
    lab = Lab(lab_dir or Path("lab"))
    return lab.target(), f"lab {lab.dir}"


def run_status(target: Target, title: str, json_out: bool, watch: float | None) -> int:
    if watch is not None and not 0 < watch <= 3600:
        fail(f"--watch {watch:g}: seconds between refreshes, above 0 and at most 3600")
    from gitlab_ha.probe.status import collect, healthy

    while True:
        components = collect(target)
        ok = healthy(components)
        if json_out:
            print_json({"healthy": ok, "components": [c.to_dict() for c in components]})
        else:
            if watch:
                console.clear()
            show(components, f"{title}: {'healthy' if ok else 'DEGRADED'} at {time.strftime('%H:%M:%S')}")
        if not watch:
            return 0 if ok else 1
        time.sleep(watch)


def status(
    cluster: Path | None = typer.Argument(None, help="Topology file of a real cluster (default: the lab in --lab)."),
    lab_dir: Path | None = typer.Option(None, "--lab", help="Lab directory (default ./lab)."),
    secrets: Path | None = typer.Option(None, "--secrets", "-s", help="Secrets store, for a real cluster's passwords."),
    json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
    watch: float | None = typer.Option(None, "--watch", help="Refresh every N seconds until Ctrl-C."),
) -> None:
    """Show Consul members and leader, Patroni members and lag, Redis and Sentinel, each PgBouncer's
    target against the Patroni leader, and HAProxy's backends; exit 1 when anything is degraded.

    Example: gitlab-ha status --lab lab/     (or: gitlab-ha status cluster.yml --secrets secrets.json)
    """
    target, title = target_of(lab_dir, cluster, secrets)
    raise typer.Exit(run_status(target, title, json_out, watch))


def register(app: typer.Typer) -> None:
    app.command()(status)
