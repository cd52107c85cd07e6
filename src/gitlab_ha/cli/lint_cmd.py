"""`gitlab-ha lint`: check a folder of hand-written (or rendered) node configs across all nodes."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path

import typer

from gitlab_ha import __version__
from gitlab_ha.cli.output import console
from gitlab_ha.errors import EXIT_FINDINGS, EXIT_OK
from gitlab_ha.lint.api import lint_folder
from gitlab_ha.lint.findings import Severity
from gitlab_ha.lint.report import print_text, to_json, to_sarif


class Format(enum.StrEnum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"


def lint(
    folder: Path = typer.Argument(..., help="Folder with one sub-folder per node (its gitlab.rb, haproxy.cfg)."),
    topology: Path | None = typer.Option(
        None, "--topology", "-t", help="Topology file: folders are node names or addresses, roles come from it."
    ),
    version: str | None = typer.Option(
        None, "--version", help="Target GitLab release (default: the topology's) for removed keys and roles."
    ),
    template: Path | None = typer.Option(
        None,
        "--template",
        help="The release's gitlab.rb.template (/opt/gitlab/etc/gitlab.rb.template); needed for unknown-key warnings.",
    ),
    fmt: Format = typer.Option(Format.TEXT, "--format", "-f", help="text, json or sarif (SARIF 2.1.0)."),
) -> None:
    """Lint every node's gitlab.rb (and the load balancers' haproxy.cfg) alone and across nodes.

    Without --topology, roles come from each file (roles [...], praefect['enable'], ...).

    Unknown keys are checked against --template; without it, only typos of Omnibus' setting groups
    and of the keys gitlab-ha renders are found (a note says so).

    Exit 1 when any error is found, 0 otherwise; 2 on bad input. Rules: docs/lint.md.

    Example: gitlab-ha lint nodes/ --version 16.6.0 --template gitlab.rb.template
    """
    findings = lint_folder(folder, topology=topology, version=version, template=template)
    if fmt is Format.JSON:
        sys.stdout.write(to_json(findings) + "\n")
    elif fmt is Format.SARIF:
        sys.stdout.write(json.dumps(to_sarif(findings, __version__, folder), indent=2) + "\n")
    else:
        print_text(findings, console)
    failed = any(f.severity is Severity.ERROR for f in findings)
    raise typer.Exit(EXIT_FINDINGS if failed else EXIT_OK)


def register(app: typer.Typer) -> None:
    app.command()(lint)
