"""`gitlab-ha explain`: what `gitlab-ctl reconfigure` will run on each node, and the settings that matter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from gitlab_ha.cli.output import console, load_topology_warned, print_json
from gitlab_ha.errors import InputError
from gitlab_ha.lint.inventory import build
from gitlab_ha.reconfigure.cluster import ClusterModel, from_docs, from_topology
from gitlab_ha.reconfigure.node import NodeModel
from gitlab_ha.reconfigure.services import TITLES
from gitlab_ha.render.context import Placeholders, SecretSource
from gitlab_ha.secrets.store import SecretStore
from gitlab_ha.topology.versions import version_option


def _load(cluster: Path, version: str | None, secrets: Path | None) -> ClusterModel:
    """The model of a folder of node gitlab.rb files (read by lint's inventory, at --version), or of a
    topology file (at its own release unless --version says otherwise; placeholders without --secrets)."""
    target = version_option(version)
    if cluster.is_dir():
        if target is None:
            raise InputError("a folder of gitlab.rb files needs --version (the Omnibus release)", str(cluster))
        return from_docs(build(cluster).documents(), target)
    topo = load_topology_warned(cluster)
    if target is not None:
        topo = topo.model_copy(update={"gitlab": topo.gitlab.model_copy(update={"version": target})})
    store: SecretSource = SecretStore.load(secrets) if secrets is not None else Placeholders()
    return from_topology(topo, store, source=cluster.name)


def _node_json(node: NodeModel) -> dict[str, Any]:
    return {
        "node": node.name,
        "address": node.address,
        "services": [
            {"service": name, "title": TITLES.get(name, name), "why": why}
            for name, why in sorted(node.services.enabled.items())
        ],
        "not_running": [{"service": name, "why": why} for name, why in sorted(node.services.disabled.items())],
        "rails": {"configured": node.services.rails, "why": node.services.rails_why},
        "migrations": {"run": node.services.migrates, "why": node.services.migrates_why},
        "settings": [{"service": e.service, "setting": e.setting, "value": e.value} for e in node.effects()],
        "files": [{"path": str(f.path), "mode": f"{f.mode:04o}", "service": f.service} for f in node.files],
    }


def _print_node(node: NodeModel) -> None:
    from rich.table import Table

    table = Table(title=f"{node.name} ({node.address})", title_justify="left")
    table.add_column("service")
    table.add_column("why it runs", overflow="fold")
    table.add_column("settings that matter", overflow="fold")
    effects: dict[str, list[str]] = {}
    for effect in node.effects():
        effects.setdefault(effect.service, []).append(f"{effect.setting}: {effect.value}")
    for name, why in sorted(node.services.enabled.items(), key=lambda item: TITLES.get(item[0], item[0]).lower()):
        title = TITLES.get(name, name)
        table.add_row(title, why, "\n".join(effects.get(title, [])))
    for name, why in sorted(node.services.disabled.items()):
        table.add_row(f"[dim]{TITLES.get(name, name)} (off)[/dim]", why, "")
    if node.services.rails:
        table.add_row("GitLab Rails config", node.services.rails_why, "\n".join(effects.get("rails", [])))
    console.print(table)


def explain(
    cluster: Path = typer.Argument(
        ..., help="Topology file, or a folder with one sub-folder per node (its gitlab.rb)."
    ),
    node: str | None = typer.Argument(None, help="Only this node (name or address)."),
    version: str | None = typer.Option(
        None, "--version", help="Omnibus release (default: the topology's; required for a folder)."
    ),
    secrets: Path | None = typer.Option(
        None, "--secrets", "-s", help="Secrets store to render with (values are never shown; default: placeholders)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show, per node, the services `gitlab-ctl reconfigure` will run and the settings that matter.

    Services follow Omnibus' roles, service groups and `x['enable']` at the target release; the
    settings are listen addresses, ports, auth and upstreams. Secrets are shown as set / not set.

    Example: gitlab-ha explain cluster.yml rails-1
    """
    model = _load(cluster, version, secrets)
    nodes = [model.node(node)] if node is not None else model.nodes
    if json_out:
        print_json({"version": str(model.version), "nodes": [_node_json(n) for n in nodes]})
        return
    console.print(f"gitlab-ctl reconfigure at GitLab {model.version}: {len(nodes)} node(s)")
    for item in nodes:
        _print_node(item)


def register(app: typer.Typer) -> None:
    app.command()(explain)
