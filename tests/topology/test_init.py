"""`gitlab-ha init`: presets, addresses from a subnet or a hosts file, a commented editable file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitlab_ha.topology.presets import PRESETS
from tests.helpers import cli

# Node counts of GitLab's reference architectures (Linux package), external LB included.
EXPECTED_COUNTS = {
    "seed-15": 15,
    "ref-1k": 1,
    "ref-2k": 8,
    "ref-3k": 27,
    "ref-5k": 27,
    "ref-10k": 32,
    "ref-25k": 34,
    "ref-50k": 41,
}


def _nodes(path: Path) -> list[dict[str, object]]:
    data = yaml.safe_load(path.read_text())
    nodes = data["nodes"]
    assert isinstance(nodes, list)
    return nodes


def test_seed_15_is_the_seed(tmp_path: Path) -> None:
    out = tmp_path / "c.yml"
    assert cli("init", "--preset", "seed-15", "-o", out).returncode == 0
    text = out.read_text()
    assert text.startswith("# gitlab-ha topology")
    assert text.count("\n#") + text.count("  #") > 10  # commented for people
    nodes = _nodes(out)
    by_address = {str(n["address"]): n["roles"] for n in nodes}
    assert by_address["10.10.1.139"] == ["redis", "sentinel", "consul"]
    assert by_address["10.10.1.120"] == ["patroni", "pgbouncer"]
    assert by_address["10.10.1.84"] == ["praefect_postgres"]
    assert by_address["10.10.1.233"] == ["internal_lb"]
    assert by_address["10.10.1.38"] == ["rails", "sidekiq"]
    assert sorted(by_address) == sorted(
        [
            "10.10.1.139",
            "10.10.1.137",
            "10.10.1.244",
            "10.10.1.120",
            "10.10.1.167",
            "10.10.1.84",
            "10.10.1.242",
            "10.10.1.130",
            "10.10.1.188",
            "10.10.1.183",
            "10.10.1.21",
            "10.10.1.169",
            "10.10.1.233",
            "10.10.1.127",
            "10.10.1.38",
        ]
    )
    assert yaml.safe_load(text)["gitlab"]["version"] == "16.6.0"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_node_counts(tmp_path: Path, preset: str) -> None:
    out = tmp_path / "c.yml"
    assert cli("init", "--preset", preset, "-o", out).returncode == 0
    assert len(_nodes(out)) == EXPECTED_COUNTS[preset]


def test_ref_3k_roles(tmp_path: Path) -> None:
    out = tmp_path / "c.yml"
    assert cli("init", "--preset", "ref-3k", "-o", out).returncode == 0
    counts: dict[str, int] = {}
    for node in _nodes(out):
        for role in node["roles"]:  # type: ignore[attr-defined]
            counts[role] = counts.get(role, 0) + 1
    assert counts == {
        "consul": 3, "patroni": 3, "pgbouncer": 3, "redis": 3, "sentinel": 3, "gitaly": 3, "praefect": 3,
        "praefect_postgres": 1, "sidekiq": 2, "rails": 3, "internal_lb": 1, "external_lb": 1, "monitoring": 1,
    }  # fmt: skip


def test_subnet_gives_stable_addresses(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yml", tmp_path / "b.yml"
    assert cli("init", "--preset", "ref-3k", "--subnet", "10.20.0.0/24", "-o", a).returncode == 0
    assert cli("init", "--preset", "ref-3k", "--subnet", "10.20.0.0/24", "-o", b).returncode == 0
    assert a.read_text() == b.read_text()
    addresses = [n["address"] for n in _nodes(a)]
    assert addresses[0] == "10.20.0.10"
    assert addresses == [f"10.20.0.{10 + i}" for i in range(27)]


def test_subnet_too_small(tmp_path: Path) -> None:
    result = cli("init", "--preset", "ref-3k", "--subnet", "10.20.0.0/28", "-o", tmp_path / "c.yml")
    assert result.returncode == 2
    assert "--subnet" in result.stderr and "27 are needed" in result.stderr
    assert not (tmp_path / "c.yml").exists()


def test_hosts_file(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    lines = [f"192.168.7.{i + 1} consul-redis-{i + 1}" for i in range(3)]
    names = ["postgres-1", "postgres-2", "praefect-postgres", "praefect-1", "praefect-2", "praefect-3"]
    names += ["gitaly-1", "gitaly-2", "gitaly-3", "internal-lb", "rails-1", "rails-2"]
    lines += [f"192.168.8.{i + 1} {name} {name}.example.com  # comment" for i, name in enumerate(names)]
    hosts.write_text("# cluster\n" + "\n".join(lines) + "\n")
    out = tmp_path / "c.yml"
    result = cli("init", "--preset", "seed-15", "--hosts", hosts, "-o", out)
    assert result.returncode == 0, result.stderr
    assert {n["name"]: n["address"] for n in _nodes(out)}["rails-2"] == "192.168.8.12"


def test_hosts_file_missing_node(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("10.0.0.1 consul-redis-1\n")
    result = cli("init", "--preset", "seed-15", "--hosts", hosts, "-o", tmp_path / "c.yml")
    assert result.returncode == 2
    assert "no address for node(s) consul-redis-2" in result.stderr


def test_hosts_file_bad_line(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("10.0.0.1 consul-redis-1\n10.0.0.300 consul-redis-2\n")
    result = cli("init", "--preset", "seed-15", "--hosts", hosts, "-o", tmp_path / "c.yml")
    assert result.returncode == 2
    assert f"{hosts}:2: '10.0.0.300' is not an IP address" in result.stderr


@pytest.mark.parametrize(
    ("line", "reason"), [("fd00::5 consul-redis-2", "is IPv6"), ("0.0.0.0 consul-redis-2", "unspecified")]
)
def test_hosts_file_address_that_is_no_host(tmp_path: Path, line: str, reason: str) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(f"10.0.0.1 consul-redis-1\n{line}\n")
    result = cli("init", "--preset", "seed-15", "--hosts", hosts, "-o", tmp_path / "c.yml")
    assert result.returncode == 2
    assert f"{hosts}:2: " in result.stderr and reason in result.stderr


@pytest.mark.parametrize(("subnet", "reason"), [("fd00::/64", "is IPv6"), ("224.1.0.0/16", "multicast")])
def test_subnet_that_holds_no_hosts(tmp_path: Path, subnet: str, reason: str) -> None:
    result = cli("init", "--preset", "ref-3k", "--subnet", subnet, "-o", tmp_path / "c.yml")
    assert result.returncode == 2
    assert "--subnet" in result.stderr and reason in result.stderr
    assert not (tmp_path / "c.yml").exists()


def test_binary_hosts_file(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_bytes(b"10.0.0.1 \xff\xfe\n")
    result = cli("init", "--preset", "seed-15", "--hosts", hosts, "-o", tmp_path / "c.yml")
    assert result.returncode == 2
    assert f"{hosts}: not UTF-8 text" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("target", ["folder", "under-a-file", "proc"])
def test_output_that_cannot_be_written(tmp_path: Path, target: str) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    out = {"folder": tmp_path / "folder", "under-a-file": tmp_path / "afile" / "c.yml", "proc": Path("/proc/c.yml")}
    result = cli("init", "--preset", "seed-15", "-o", out[target], "--force")
    assert result.returncode == 2, result
    assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(out[target]) in result.stderr
    assert list((tmp_path / "folder").iterdir()) == []


def test_unknown_preset(tmp_path: Path) -> None:
    result = cli("init", "--preset", "ref-4k", "-o", tmp_path / "c.yml")
    assert result.returncode == 2
    assert "unknown preset 'ref-4k'" in result.stderr


def test_init_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "c.yml"
    out.write_text("mine\n")
    result = cli("init", "--preset", "seed-15", "-o", out)
    assert result.returncode == 2
    assert out.read_text() == "mine\n"
    assert cli("init", "--preset", "seed-15", "-o", out, "--force").returncode == 0
