"""Issue 8's acceptance: every Rails node runs NGINX, Puma and Workhorse, and no Rails-only node runs
Sidekiq, for the seed at 16.6.0 and the 3k and 10k reference architectures at 16.6, 17.5, 18.4, 19.3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitlab_ha.topology.roles import Role
from tests.helpers import cli
from tests.reconfigure.conftest import preset_model, preset_roles
from tests.render.conftest import make_topology

CASES = [("seed-15", "16.6.0")] + [
    (preset, version) for preset in ("ref-3k", "ref-10k") for version in ("16.6.0", "17.5.0", "18.4.0", "19.3.0")
]


@pytest.mark.parametrize(("preset", "version"), CASES)
def test_rails_nodes_run_the_web_tier_and_web_only_nodes_no_sidekiq(preset: str, version: str) -> None:
    model = preset_model(preset, version)
    roles = preset_roles(preset)
    rails = [n for n in model.nodes if Role.RAILS in roles[n.name]]
    assert rails
    for node in rails:
        assert {"nginx", "puma", "gitlab_workhorse"} <= set(node.services.enabled), (node.name, node.services.disabled)
        if Role.SIDEKIQ not in roles[node.name]:
            assert not node.services.runs("sidekiq"), node.name
        assert not node.services.runs("gitaly"), node.name


def test_explain_cli_json_and_table(tmp_path: Path) -> None:
    topology = make_topology(tmp_path, "seed-15", "16.6.0")
    result = cli("explain", topology, "rails-1", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    services = {s["service"] for s in data["nodes"][0]["services"]}
    assert {"nginx", "puma", "gitlab_workhorse", "sidekiq"} <= services
    assert data["nodes"][0]["migrations"]["run"] is False  # steady state: migrations only from the first-run file
    table = cli("explain", topology, "postgres-1")
    assert table.returncode == 0 and "Patroni" in table.stdout and "replication password: set" in table.stdout
    assert "ms5" not in table.stdout  # no secret value, only set / not set
    bad = cli("explain", topology, "no-such-node")
    assert bad.returncode == 2 and "no node 'no-such-node'" in bad.stderr and "Traceback" not in bad.stderr
    fixture = Path(__file__).parents[1] / "lint" / "fixtures" / "seed15"
    folder = cli("explain", fixture)
    assert folder.returncode == 2 and "--version" in folder.stderr
    folder = cli("explain", fixture, "--version", "16.6.0", "--json")  # read by lint's inventory
    assert folder.returncode == 0, folder.stderr
    assert json.loads(folder.stdout)["version"] == "16.6.0" and len(json.loads(folder.stdout)["nodes"]) == 14
