"""`gitlab-ha render`: every node's files, the runbook and the manifest."""

from __future__ import annotations

from pathlib import Path

import typer

from gitlab_ha.cli.output import console, load_topology_warned, print_json, print_table
from gitlab_ha.render.cluster import render_cluster
from gitlab_ha.render.context import Context
from gitlab_ha.render.credentials import resolve
from gitlab_ha.render.writer import write_artifacts
from gitlab_ha.secrets.store import STORE_ENV, SecretStore


def render(
    topology: Path = typer.Argument(..., help="Topology file (see `gitlab-ha init`)."),
    output: Path = typer.Option(Path("out"), "--output", "-o", help="Folder to write; replaced as a whole."),
    secrets: Path = typer.Option(
        Path("secrets.json"),
        "--secrets",
        "-s",
        envvar=STORE_ENV,
        help="Secrets store (see `gitlab-ha secrets init`).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the written files as JSON."),
    force: bool = typer.Option(
        False, "--force", help="Replace the output folder even if that loses files added to it or edited by hand."
    ),
) -> None:
    """Render every node's gitlab.rb, the load balancers' haproxy.cfg, sshd snippets, RUNBOOK.md and manifest.json.

    Files holding a secret are written 0600. The same inputs always give byte-identical files.

    Example: gitlab-ha render cluster.yml --secrets secrets.json -o out/
    """
    topo = load_topology_warned(topology)
    store = SecretStore.load(secrets)
    ctx = Context(topo, store, resolve(topo.object_storage))
    artifacts = render_cluster(ctx, topology.name)
    write_artifacts(artifacts, output, force=force)
    if json_out:
        print_json(
            [
                {"path": a.path, "node": a.node, "role": a.role, "sha256": a.sha256, "secret": a.secret}
                for a in artifacts
            ]
        )
        return
    rows = [(a.path, "0600" if a.secret else "0644", a.sha256[:12]) for a in artifacts]
    print_table(f"rendered {len(artifacts)} files into {output}", ["file", "mode", "sha256"], rows)
    console.print(f"next: follow {output / 'RUNBOOK.md'}")


def register(app: typer.Typer) -> None:
    app.command()(render)
