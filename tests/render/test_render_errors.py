"""Bad input to `render`: one line naming the file or field, exit 2, nothing half-written."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.helpers import cli
from tests.render.conftest import Rendered


def test_missing_secrets_store(rendered: Callable[[str, str], Rendered], tmp_path: Path) -> None:
    r = rendered("seed-15", "16.6.0")
    result = cli("render", r.topology, "--secrets", tmp_path / "none.json", "-o", tmp_path / "out")
    assert result.returncode == 2
    assert "none.json" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_refuses_to_replace_a_folder_that_is_not_a_render(
    rendered: Callable[[str, str], Rendered], tmp_path: Path
) -> None:
    r = rendered("seed-15", "16.6.0")
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    result = cli("render", r.topology, "--secrets", r.store, "-o", precious)
    assert result.returncode == 2
    assert "not a gitlab-ha render" in result.stderr
    assert (precious / "notes.txt").read_text() == "mine"


def test_object_storage_credentials_from_env(rendered: Callable[[str, str], Rendered], tmp_path: Path) -> None:
    r = rendered("seed-15", "16.6.0")
    data = yaml.safe_load(r.topology.read_text())
    data["object_storage"]["credentials"] = {"env": "GITLAB_S3"}
    topo = tmp_path / "cluster.yml"
    topo.write_text(yaml.safe_dump(data, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITLAB_S3")}
    missing = cli("render", topo, "--secrets", r.store, "-o", tmp_path / "out", env=env)
    assert missing.returncode == 2
    assert "object_storage.credentials.env" in missing.stderr and "GITLAB_S3_ACCESS_KEY_ID" in missing.stderr
    assert not (tmp_path / "out").exists()
    key_id, secret = "AKIAEXAMPLEKEYID0001", "s3cr3t-Value-That-Must-Not-Leak-0123456789"
    env |= {"GITLAB_S3_ACCESS_KEY_ID": key_id, "GITLAB_S3_SECRET_ACCESS_KEY": secret}
    ok = cli("render", topo, "--secrets", r.store, "-o", tmp_path / "out", env=env)
    assert ok.returncode == 0, ok.stderr
    assert secret not in ok.stdout + ok.stderr
    rails = tmp_path / "out" / "rails-1" / "gitlab.rb"
    text = rails.read_text()
    assert f"'aws_secret_access_key' => '{secret}'" in text and "use_iam_profile" not in text
    assert stat.S_IMODE(rails.stat().st_mode) == 0o600


def test_invalid_topology_writes_nothing(rendered: Callable[[str, str], Rendered], tmp_path: Path) -> None:
    r = rendered("seed-15", "16.6.0")
    data = yaml.safe_load(r.topology.read_text())
    data["nodes"][0]["roles"] = ["redis", "sentinel", "consul", "sentinel"]
    topo = tmp_path / "cluster.yml"
    topo.write_text(yaml.safe_dump(data, sort_keys=False))
    result = cli("render", topo, "--secrets", r.store, "-o", tmp_path / "out")
    assert result.returncode == 2
    assert "nodes[0] (consul-redis-1).roles" in result.stderr and "listed twice" in result.stderr
    assert not (tmp_path / "out").exists()


def test_output_path_that_is_a_file_or_unwritable(rendered: Callable[[str, str], Rendered], tmp_path: Path) -> None:
    r = rendered("seed-15", "16.6.0")
    afile = tmp_path / "afile"
    afile.write_text("mine")
    for out, needle in ((afile, "exists and is not a folder"), (afile / "out", "cannot write"), (Path("/proc/o"), "")):
        result = cli("render", r.topology, "--secrets", r.store, "-o", out)
        assert result.returncode == 2, result
        assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr, result.stderr
        assert f"{out}: {needle}" in result.stderr
    assert afile.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
