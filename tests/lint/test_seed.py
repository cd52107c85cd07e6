"""Acceptance: the seed blog's 15 hand-written configs, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import REFERENCE
from tests.helpers import cli

SEED = Path(__file__).parent / "fixtures" / "seed15"
PRAEFECTS = ("10.10.1.242", "10.10.1.130", "10.10.1.188")


def findings(*extra: str) -> list[dict[str, object]]:
    result = cli("lint", SEED, "--version", "16.6.0", "--format", "json", *extra)
    assert result.returncode == 1, result.stderr
    data: list[dict[str, object]] = json.loads(result.stdout)["findings"]
    return data


def real_line(node: str) -> int:
    """The line where the seed's unclosed `{` meets the `],` that Ruby chokes on."""
    lines = (SEED / node / "gitlab.rb").read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if line.strip() == "],") + 1


def test_praefect_syntax_error_on_each_praefect_at_its_real_line() -> None:
    syntax = [f for f in findings() if f["rule"] == "GHA001"]
    assert sorted(str(f["node"]) for f in syntax) == sorted(PRAEFECTS)
    for f in syntax:
        node = str(f["node"])
        assert f["file"] == f"{node}/gitlab.rb"
        assert f["line"] == real_line(node) == 58
        assert f["column"] == 7
        assert "expected '}'" in str(f["message"]) and "line 39" in str(f["message"])


def test_load_balancing_hosts_that_match_no_node() -> None:
    bad = [f for f in findings() if f["rule"] == "GHA031"]
    assert {(f["node"], f["line"]) for f in bad} == {("10.10.1.127", 19), ("10.10.1.38", 19)}
    assert {str(f["message"]).split("'")[1] for f in bad} == {"10.10.1.170", "10.10.1.189"}
    assert all(f["severity"] == "error" for f in bad)


def test_weak_secrets() -> None:
    weak = {(f["node"], f["line"]) for f in findings() if f["rule"] == "GHA061"}
    assert ("10.10.1.120", 12) in weak  # patroni password 'test' = its user name
    assert ("10.10.1.127", 18) in weak  # db_password 'test1'
    assert ("10.10.1.127", 13) in weak  # gitaly_token 'test123' inside git_data_dirs
    assert ("10.10.1.139", 6) in weak  # redis['password'] = 'redis-password'
    assert ("10.10.1.183", 28) in weak  # Gitaly token 'test456'


def test_other_seed_mistakes() -> None:
    rules = {str(f["rule"]) for f in findings()}
    assert {"GHA051", "GHA063", "GHA070", "GHA071"} <= rules
    assert "GHA041" not in rules and "GHA040" not in rules  # retry_join is right everywhere
    timeouts = {(f["file"], f["line"]) for f in findings() if f["rule"] == "GHA081"}
    assert timeouts == {("10.10.1.233/haproxy.cfg", 9), ("10.10.1.233/haproxy.cfg", 10)}  # the seed's 10s


def test_same_errors_with_the_seed_topology(tmp_path: Path) -> None:
    topology = tmp_path / "cluster.yml"
    assert cli("init", "--preset", "seed-15", "-o", topology).returncode == 0
    result = cli("lint", SEED, "--topology", topology, "--format", "json")
    assert result.returncode == 1, result.stderr
    with_topology = {
        (f["rule"], f["file"], f["line"]) for f in json.loads(result.stdout)["findings"] if f["severity"] == "error"
    }
    assert with_topology == {(f["rule"], f["file"], f["line"]) for f in findings() if f["severity"] == "error"}


def test_text_output_is_grouped_by_node_and_exit_1() -> None:
    result = cli("lint", SEED, "--version", "16.6.0", "--template", REFERENCE / "gitlab.rb.template-16.6.0")
    assert result.returncode == 1
    assert "10.10.1.242\n  10.10.1.242/gitlab.rb:58:7: error GHA001" in result.stdout
    assert "fix:" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].endswith("notes")


def test_no_migrating_rails_node_is_a_note_not_an_error() -> None:
    """The seed (like GitLab's docs) sets auto_migrate false on every Rails node: migrations are then
    a deliberate step, not a mistake."""
    found = [f for f in findings() if f["rule"] == "GHA051"]
    assert [(f["node"], f["severity"]) for f in found] == [("10.10.1.127", "note")]
    assert "deliberately" in str(found[0]["message"])
