"""Every validation error names the file, line, node and field, exits 2 and prints no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitlab_ha.topology.presets import PRESETS, SEED_15, expand
from gitlab_ha.topology.yaml_out import topology_yaml
from tests.helpers import cli


def seed_data() -> dict[str, object]:
    data = yaml.safe_load(topology_yaml(SEED_15, expand(SEED_15)))
    assert isinstance(data, dict)
    return data


def write(tmp_path: Path, data: dict[str, object]) -> Path:
    path = tmp_path / "cluster.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def nodes(data: dict[str, object]) -> list[dict[str, object]]:
    value = data["nodes"]
    assert isinstance(value, list)
    return value


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def expect_error(path: Path, *fragments: str) -> str:
    result = cli("validate", path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    first = result.stderr.strip().splitlines()[0]
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in {result.stderr!r}"
    assert first.startswith("error: ") and str(path) in first
    return result.stderr


def test_seed_is_valid(tmp_path: Path) -> None:
    result = cli("validate", write(tmp_path, seed_data()))
    assert result.returncode == 0, result.stderr
    assert "15 nodes" in result.stdout


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_is_valid(tmp_path: Path, preset: str) -> None:
    out = tmp_path / "c.yml"
    result = cli("init", "--preset", preset, "-o", out)
    assert result.returncode == 0, result.stderr
    assert cli("validate", out).returncode == 0


def test_unknown_role(tmp_path: Path) -> None:
    data = seed_data()
    nodes(data)[9]["roles"] = ["gitlay"]
    path = write(tmp_path, data)
    stderr = expect_error(path, "nodes[9] (gitaly-1).roles[0]", "unknown role 'gitlay'")
    # the error points at the line of that node's roles
    assert f":{line_of(path, 'gitlay')}:" in stderr


def test_duplicate_name(tmp_path: Path) -> None:
    data = seed_data()
    nodes(data)[8]["name"] = "praefect-2"
    expect_error(write(tmp_path, data), "nodes[8] (praefect-2).name", "duplicate node name 'praefect-2'")


def test_duplicate_address(tmp_path: Path) -> None:
    data = seed_data()
    nodes(data)[4]["address"] = "10.10.1.120"
    expect_error(write(tmp_path, data), "nodes[4] (postgres-2).address", "also node 'postgres-1'")


@pytest.mark.parametrize("address", ["10.10.1.300", "not-an-ip", "10.10.1"])
def test_invalid_address(tmp_path: Path, address: str) -> None:
    data = seed_data()
    nodes(data)[0]["address"] = address
    stderr = expect_error(write(tmp_path, data), "nodes[0] (consul-redis-1).address", "is not an IP address")
    assert len(stderr.strip().splitlines()) == 1, stderr


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        (168430987, "write it as a string"),  # YAML int: pydantic alone would take it as 10.10.13.139
        ("0.0.0.0", "unspecified"),
        ("239.1.1.1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("fd00::1", "IPv6"),
    ],
)
def test_address_that_is_no_host(tmp_path: Path, address: object, reason: str) -> None:
    data = seed_data()
    nodes(data)[0]["address"] = address
    stderr = expect_error(write(tmp_path, data), "nodes[0] (consul-redis-1).address", reason)
    assert len(stderr.strip().splitlines()) == 1, stderr


def test_loopback_address_is_allowed_for_the_lab(tmp_path: Path) -> None:
    data = seed_data()
    for i, node in enumerate(nodes(data)):
        node["address"] = f"127.0.42.{i + 10}"
    result = cli("validate", write(tmp_path, data))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: !custom x\n", "cluster.yml:1:7: YAML: could not determine a constructor for the tag '!custom'"),
        ("name: !!python/object/apply:os.system [id]\n", "cluster.yml:1:7: YAML: could not determine a constructor"),
        ("a: &a [*a]\nname: x\n", "cluster.yml:1: an alias refers to a node that contains it"),
        ("name: " + "[" * 3000 + "]" * 3000 + "\n", "cluster.yml: YAML nested too deeply"),
    ],
)
def test_yaml_that_is_no_plain_data(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "cluster.yml"
    path.write_text(text)
    for verb in ("validate", "show"):
        result = cli(verb, path)
        assert result.returncode == 2, result
        assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr, result.stderr
        assert needle in result.stderr, result.stderr


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yml"
    path.write_bytes(b"name: \xff\xfe\x00\n")
    result = cli("validate", path)
    assert result.returncode == 2
    assert f"{path}: not UTF-8 text" in result.stderr and "Traceback" not in result.stderr


def test_even_consul_count_is_an_error(tmp_path: Path) -> None:
    data = seed_data()
    nodes(data)[2]["roles"] = ["redis", "sentinel"]  # 2 Consul servers left
    expect_error(write(tmp_path, data), "2 'consul' nodes", "no majority")


def test_even_sentinel_count_is_an_error(tmp_path: Path) -> None:
    data = seed_data()
    nodes(data)[2]["roles"] = ["redis", "consul"]
    expect_error(write(tmp_path, data), "2 'sentinel' nodes")


def test_even_praefect_count_is_an_error(tmp_path: Path) -> None:
    data = seed_data()
    del nodes(data)[8]
    expect_error(write(tmp_path, data), "2 'praefect' nodes")


def test_one_consul_is_a_warning(tmp_path: Path) -> None:
    data = seed_data()
    nodes(data)[1]["roles"] = ["redis", "sentinel"]
    nodes(data)[2]["roles"] = ["redis", "sentinel"]
    result = cli("validate", write(tmp_path, data))
    assert result.returncode == 0
    assert "warning:" in result.stderr and "only one 'consul' node (consul-redis-1)" in result.stderr


def test_status_prints_the_topology_warnings_too(tmp_path: Path) -> None:
    """Every verb that reads a topology file prints its warnings; `status` dropped them."""
    data = seed_data()
    nodes(data)[1]["roles"] = ["redis", "sentinel"]
    nodes(data)[2]["roles"] = ["redis", "sentinel"]
    result = cli("status", write(tmp_path, data), "--watch", "0")  # refused after loading, before any probe
    assert result.returncode == 2, result.stderr
    assert "warning:" in result.stderr and "only one 'consul' node (consul-redis-1)" in result.stderr


@pytest.mark.parametrize(
    ("index", "roles", "fragment"),
    [
        (5, ["redis"], "role 'praefect' needs a node with role 'praefect_postgres'"),
        (3, ["pgbouncer"], "role 'pgbouncer' needs a node with role 'patroni'"),
    ],
)
def test_missing_needed_role(tmp_path: Path, index: int, roles: list[str], fragment: str) -> None:
    data = seed_data()
    if fragment.startswith("role 'pgbouncer'"):
        nodes(data)[3]["roles"] = ["pgbouncer"]
        nodes(data)[4]["roles"] = ["pgbouncer"]
        expect_error(write(tmp_path, data), fragment)
        return
    nodes(data)[index]["roles"] = roles
    del nodes(data)[index]
    expect_error(write(tmp_path, data), fragment)


def test_praefect_without_gitaly(tmp_path: Path) -> None:
    data = seed_data()
    data["nodes"] = [n for n in nodes(data) if "gitaly" not in n["roles"]]  # type: ignore[operator]
    expect_error(write(tmp_path, data), "node 'praefect-1'", "needs a node with role 'gitaly'")


def test_rails_without_redis(tmp_path: Path) -> None:
    data = seed_data()
    for node in nodes(data)[:3]:
        node["roles"] = ["consul"]
    data.pop("redis_primary")
    expect_error(write(tmp_path, data), "node 'rails-1'", "role 'rails' needs a node with role 'redis'")


def test_conflicting_roles(tmp_path: Path) -> None:
    data = seed_data()
    nodes(data)[5]["roles"] = ["praefect_postgres", "patroni"]
    expect_error(write(tmp_path, data), "nodes[5] (praefect-postgres).roles", "cannot share a node")


@pytest.mark.parametrize("version", ["15.11.0", "20.0.0", "sixteen"])
def test_unsupported_version(tmp_path: Path, version: str) -> None:
    data = seed_data()
    data["gitlab"] = {**data["gitlab"], "version": version}  # type: ignore[dict-item]
    expect_error(write(tmp_path, data), "gitlab.version", version)


def test_unknown_field(tmp_path: Path) -> None:
    data = seed_data()
    nodes(data)[0]["rolez"] = ["redis"]
    expect_error(write(tmp_path, data), "nodes[0] (consul-redis-1).rolez", "unknown field")


def test_redis_primary_must_be_a_redis_node(tmp_path: Path) -> None:
    data = seed_data()
    data["redis_primary"] = "gitaly-1"
    expect_error(write(tmp_path, data), "redis_primary", "'gitaly-1' is not a node with role 'redis'")


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yml"
    path.write_text("name: x\nnodes:\n  - name: [a\n")
    result = cli("validate", path)
    assert result.returncode == 2
    assert f"{path}:4:" in result.stderr or f"{path}:3:" in result.stderr
    assert "Traceback" not in result.stderr


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yml"
    text = topology_yaml(SEED_15, expand(SEED_15)).replace("name: seed-15\n", "name: seed-15\nname: other\n", 1)
    path.write_text(text)
    expect_error(path, "key 'name' appears twice")


def test_missing_file() -> None:
    result = cli("validate", "/nonexistent/cluster.yml")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: /nonexistent/cluster.yml: no such file"


def test_ce_edition_cannot_run_the_ha_roles(tmp_path: Path) -> None:
    data = seed_data()
    data["gitlab"] = {**data["gitlab"], "edition": "ce"}  # type: ignore[dict-item]
    expect_error(write(tmp_path, data), "gitlab.edition", "need gitlab-ee")


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("redis", "master_name", "gitlab-redis; touch /tmp/pwned"),
        ("redis", "cache_master_name", "$(id)"),
        ("database", "name", "gitlab production"),
        ("database", "name", "x'; DROP TABLE users; --"),
        ("consul", "datacenter", "DC 1"),
        ("object_storage", "region", "us-east-1`reboot`"),
    ],
)
def test_strings_the_services_take_are_checked(tmp_path: Path, section: str, field: str, value: str) -> None:
    """They end up in sentinel.conf, SQL, Consul's config and RUNBOOK.md's shell commands: only what
    the service allows is accepted, with the file, line and field named."""
    data = seed_data()
    part = data.setdefault(section, {})
    assert isinstance(part, dict)
    part[field] = value
    path = write(tmp_path, data)
    expect_error(path, f"{section}.{field}", "is not a")


def test_consul_tls_bad_variant_is_one_line_naming_the_field(tmp_path: Path) -> None:
    data = seed_data()
    data["consul"] = {"tls": "mtls"}
    path = write(tmp_path, data)
    stderr = expect_error(path, "consul.tls", "'mtls' is not a Consul TLS variant", "mutual_patroni")
    assert len(stderr.strip().splitlines()) == 1
    assert f":{line_of(path, 'tls: mtls')}:" in stderr


def test_consul_tls_off_written_bare_is_off(tmp_path: Path) -> None:
    """YAML 1.1 reads `tls: off` as false: it means the variant off, never an error."""
    path = tmp_path / "cluster.yml"
    text = topology_yaml(SEED_15, expand(SEED_15))
    path.write_text(
        text + "consul:\n  tls: off\n"
        if "\nconsul:" not in text
        else text.replace("\nconsul:\n", "\nconsul:\n  tls: off\n")
    )
    assert "  tls: off\n" in path.read_text()
    result = cli("validate", path)
    assert result.returncode == 0, result.stderr


def test_consul_tls_needs_consul_servers(tmp_path: Path) -> None:
    data = seed_data()
    data["consul"] = {"tls": "mutual"}
    for node in nodes(data):
        roles = node["roles"]
        assert isinstance(roles, list)
        node["roles"] = [r for r in roles if r != "consul"]
    expect_error(write(tmp_path, data), "consul.tls", "needs Consul servers")


def test_consul_tls_version_fact_covers_every_supported_release() -> None:
    """consul['use_tls'] arrived in 14.8.0 (tls.defaults in 15.6.0): every release we support has both, so
    the refusal in validate.py cannot trigger today; this fails if OLDEST ever goes below them."""
    from gitlab_ha.topology.features import CONSUL_TLS_BLOCK_SINCE, CONSUL_TLS_SINCE, Features
    from gitlab_ha.topology.versions import OLDEST, Version

    assert Version(*OLDEST) >= CONSUL_TLS_BLOCK_SINCE > CONSUL_TLS_SINCE
    assert not Features(Version(14, 7, 0)).consul_tls and Features(Version(14, 8, 0)).consul_tls
    assert not Features(Version(15, 5, 0)).consul_tls_block and Features(Version(15, 6, 0)).consul_tls_block
