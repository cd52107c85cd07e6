"""Verbs on the topology file: init, validate, show, roles."""

from __future__ import annotations

from pathlib import Path

import typer

from gitlab_ha.cli.output import console, print_json, print_table, warn_all
from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import write_user_file
from gitlab_ha.topology.load import load_text, load_topology
from gitlab_ha.topology.presets import PRESETS, expand, get_preset, read_hosts_file
from gitlab_ha.topology.roles import ROLE_DOCS
from gitlab_ha.topology.yaml_out import topology_yaml

PRESET_HELP = "Preset: " + ", ".join(PRESETS) + "."


def init(
    preset: str = typer.Option(..., "--preset", "-p", help=PRESET_HELP),
    output: Path = typer.Option(Path("cluster.yml"), "--output", "-o", help="Topology file to write."),
    subnet: str | None = typer.Option(
        None, "--subnet", help="Give nodes addresses from this subnet (from the 10th host on, in order)."
    ),
    hosts: Path | None = typer.Option(None, "--hosts", help="Take addresses from an /etc/hosts-style file."),
    name: str | None = typer.Option(None, "--name", help="Cluster name (default: the preset's name)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented topology file from a preset.

    Example: gitlab-ha init --preset ref-3k --subnet 10.20.0.0/24 -o cluster.yml
    """
    if subnet is not None and hosts is not None:
        raise InputError("give --subnet or --hosts, not both", "--hosts")
    chosen = get_preset(preset)
    nodes = expand(chosen, subnet=subnet, hosts=read_hosts_file(hosts) if hosts else None)
    text = topology_yaml(chosen, nodes, cluster_name=name)
    if output.exists() and not force:
        raise InputError("exists; use --force to overwrite", str(output))
    loaded = load_text(text, str(output))
    write_user_file(output, text)
    console.print(f"wrote {output}: {len(nodes)} nodes ({chosen.description})")
    warn_all(loaded.warnings)


def validate(
    topology: Path = typer.Argument(..., help="Topology file."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check a topology file; exit 2 with one line per error.

    Example: gitlab-ha validate cluster.yml
    """
    loaded = load_topology(topology)
    if json_out:
        print_json({"file": str(topology), "ok": True, "warnings": loaded.warnings})
        return
    warn_all(loaded.warnings)
    console.print(f"{topology}: ok, {len(loaded.topology.nodes)} nodes")


def show(
    topology: Path = typer.Argument(..., help="Topology file."),
    json_out: bool = typer.Option(False, "--json", help="Print the nodes as JSON."),
) -> None:
    """Print the cluster's nodes, addresses and roles as a table.

    Example: gitlab-ha show cluster.yml --json
    """
    loaded = load_topology(topology)
    topo = loaded.topology
    rows = [(n.name, n.ip, ", ".join(r.value for r in n.roles), n.size or "") for n in topo.nodes]
    if json_out:
        print_json(
            {
                "name": topo.name,
                "version": str(topo.gitlab.version),
                "nodes": [{"name": r[0], "address": r[1], "roles": r[2].split(", "), "size": r[3]} for r in rows],
            }
        )
        return
    title = f"{topo.name}: GitLab {topo.gitlab.version}-{topo.gitlab.edition}, {len(topo.nodes)} nodes"
    print_table(title, ["node", "address", "roles", "size"], rows)
    warn_all(loaded.warnings)


def roles(json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the role vocabulary of topology files.

    Example: gitlab-ha roles
    """
    if json_out:
        print_json({role.value: doc for role, doc in ROLE_DOCS.items()})
        return
    print_table("roles", ["role", "what the node runs"], [(r.value, d) for r, d in ROLE_DOCS.items()])


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(validate)
    app.command()(show)
    app.command()(roles)
