"""One call for the CLI, tests and benchmarks: lint a folder of node configs."""

from __future__ import annotations

from pathlib import Path

from gitlab_ha.lint.engine import Lint, run
from gitlab_ha.lint.findings import Finding
from gitlab_ha.lint.inventory import build
from gitlab_ha.lint.template import load_template
from gitlab_ha.topology.load import load_topology
from gitlab_ha.topology.versions import version_option


def lint_folder(
    folder: Path,
    *,
    topology: Path | None = None,
    version: str | None = None,
    template: Path | None = None,
) -> list[Finding]:
    """Every finding for the node folders under `folder`. Raises InputError on bad input."""
    loaded = load_topology(topology).topology if topology is not None else None
    target = version_option(version)
    if target is None and loaded is not None:
        target = loaded.gitlab.version
    cluster = build(folder, loaded)
    return run(Lint(cluster, target, load_template(template) if template is not None else None))
