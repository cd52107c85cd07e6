"""The rendered folder: determinism, manifest, modes, and no secret on any output stream."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from gitlab_ha.secrets.store import SecretStore
from tests.helpers import cli
from tests.render.conftest import Rendered


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("preset", ["seed-15", "ref-3k"])
def test_render_twice_gives_identical_bytes(
    rendered: Callable[[str, str], Rendered], preset: str, tmp_path: Path
) -> None:
    r = rendered(preset, "16.6.0")
    again = tmp_path / "again"
    result = cli("render", r.topology, "--secrets", r.store, "-o", again)
    assert result.returncode == 0, result.stderr
    assert _tree(again) == _tree(r.out)
    # rendering over an existing render replaces it whole
    result = cli("render", r.topology, "--secrets", r.store, "-o", again)
    assert result.returncode == 0
    assert _tree(again) == _tree(r.out)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".again")]


def test_manifest_lists_every_file_with_its_hash(rendered: Callable[[str, str], Rendered]) -> None:
    r = rendered("seed-15", "16.6.0")
    manifest = json.loads((r.out / "manifest.json").read_text())
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = set(_tree(r.out)) - {"manifest.json"}
    assert set(listed) - {"manifest.json"} == on_disk
    for path in on_disk:
        assert listed[path]["sha256"] == hashlib.sha256((r.out / path).read_bytes()).hexdigest()
    assert listed["rails-1/gitlab.rb"]["node"] == "rails-1"
    assert listed["rails-1/gitlab.rb"]["role"] == "rails,sidekiq"
    assert listed["internal-lb/haproxy.cfg"]["role"] == "internal_lb"
    assert {f["node"] for f in manifest["files"] if f["path"].endswith("gitlab.rb")} == {
        n for n in (p.split("/")[0] for p in on_disk) if n != "internal-lb" and "/" not in n
    } - {"RUNBOOK.md"}


def test_files_with_secrets_are_0600(rendered: Callable[[str, str], Rendered]) -> None:
    r = rendered("seed-15", "16.6.0")
    values = r.secret_values()
    for path in sorted(r.out.rglob("*")):
        if not path.is_file():
            continue
        mode = stat.S_IMODE(os.stat(path).st_mode)
        text = path.read_text()
        holds_secret = any(v in text for v in values)
        if holds_secret:
            assert mode == 0o600, f"{path} holds a secret but is {oct(mode)}"
        else:
            assert mode & 0o077 in (0, 0o044), path
    assert stat.S_IMODE(os.stat(r.store).st_mode) == 0o600
    for name in ("gitlab.rb", "pgpass"):
        assert stat.S_IMODE(os.stat(r.out / "postgres-1" / name).st_mode) == 0o600


def test_runbook_has_no_secret_and_every_step(rendered: Callable[[str, str], Rendered]) -> None:
    r = rendered("seed-15", "16.6.0")
    runbook = (r.out / "RUNBOOK.md").read_text()
    for value in r.secret_values():
        assert value not in runbook
    order = [
        "gitlab-secrets.json",
        "Consul servers",
        "Redis and Sentinel",
        "PostgreSQL with Patroni",
        "PgBouncer",
        "Praefect's PostgreSQL",
        "Praefect, first node",
        "Gitaly",
        "Internal load balancer",
        "First Rails node",
        "SSH host keys",
        "External load balancer (outside the topology",  # the seed's NLB: no node of the topology
        "End to end: sign in and upload",
    ]
    positions = [runbook.index(title) for title in order]
    assert positions == sorted(positions)
    assert "10.10.1.233" in runbook and "praefect-postgres" in runbook
    assert "skip-auto-reconfigure" in runbook and "sql-ping" in runbook and "patroni members" in runbook
    # commands that must work as written on an Omnibus node
    assert "praefect -config /var/opt/gitlab/praefect/config.toml sql-ping" in runbook
    assert "sudo gitlab-psql -d template1 < praefect-postgres/praefect-db.sql" in runbook
    assert "curl -s http://127.0.0.1/-/readiness" in runbook
    assert "/etc/ssh/sshd_config.d/60-gitlab.conf" in runbook
    assert runbook.count("Healthy:") >= len(order)
    # the NLB's targets are exactly the Rails nodes, on NGINX's port and sshd's
    assert "TCP 80 -> 10.10.1.127:80 10.10.1.38:80" in runbook and "TCP 22 -> 10.10.1.127:22 10.10.1.38:22" in runbook
    assert "FROM uploads" in runbook  # the seed's check that uploads land in object storage


def test_runbook_uses_the_external_lb_node_when_there_is_one(rendered: Callable[[str, str], Rendered]) -> None:
    runbook = (rendered("ref-3k", "19.3.0").out / "RUNBOOK.md").read_text()
    assert "External load balancer (HAProxy, TLS)" in runbook
    assert "outside the topology" not in runbook
    assert runbook.index("External load balancer") < runbook.index("End to end")


def test_no_secret_on_any_output(rendered: Callable[[str, str], Rendered], tmp_path: Path) -> None:
    r = rendered("seed-15", "16.6.0")
    outputs = list(r.outputs)
    store = tmp_path / "copy.json"  # rotate a copy: other tests compare the render with r.store
    shutil.copy2(r.store, store)
    for args in (
        ("secrets", "list", "--store", r.store),
        ("secrets", "list", "--json", "--store", r.store),
        ("render", r.topology, "--secrets", r.store, "-o", tmp_path / "o", "--json"),
        ("render", r.topology, "--secrets", r.store, "-o", tmp_path / "o"),
        ("show", r.topology),
        ("show", r.topology, "--json"),
        ("validate", r.topology),
        ("secrets", "rotate", "redis_password", "--store", store),
        ("secrets", "init", "--store", store),  # refused: exists
    ):
        result = cli(*args)
        outputs.append(result.stdout + result.stderr)
    values = r.secret_values() + SecretStore.load(store).values()
    assert len(values) >= 11
    for output in outputs:
        for value in values:
            assert value not in output
