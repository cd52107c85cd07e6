"""Consul TLS in the render (topology `consul.tls`): the seed's three variants pass every existing check
(Ruby syntax, Omnibus' key lists, the reconfigure model), their config.json is what our agent loads, and
an agent started from the model's config.json answers Patroni's own client over HTTPS."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

import patroni.dcs.consul as patroni_consul
import pytest

from gitlab_ha.discovery.config import validate_paths
from gitlab_ha.reconfigure.files import consul as consul_files
from gitlab_ha.reconfigure.files import patroni as patroni_files
from gitlab_ha.secrets.store import SecretStore
from tests.discovery.harness import Node, free_subnet
from tests.reconfigure.conftest import node_of
from tests.render.conftest import Render, Rendered, runbook_steps
from tests.render.reference import is_known

VARIANTS = ("server", "mutual", "mutual_patroni")
VERSIONS = ("16.6.0", "19.3.0")
TLS_KEYS = ("use_tls", "tls_ca_file", "tls_certificate_file", "tls_key_file", "tls_verify_client", "https_port")


def _patroni_consul_keys() -> set[str]:
    """The settings Patroni's consul DCS reads from its config (patroni/dcs/consul.py, the pinned Patroni)."""
    source = Path(patroni_consul.__file__).read_text()
    return set(re.findall(r"config(?:\.get\(|\[)'(\w+)'", source)) | {"url"}


def _known(key: str, version: str) -> bool:
    """Omnibus' key list, plus what patroni.yaml.erb passes through: one line per patroni['consul'] key
    (`@consul.each`), read by Patroni's consul DCS."""
    match = re.fullmatch(r"patroni\['consul'\]\['(\w+)'\]", key)
    return is_known(key, version) or (match is not None and match.group(1) in _patroni_consul_keys())


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("tls", VARIANTS)
def test_tls_render_passes_ruby_and_the_key_lists(rendered: Render, tls: str, version: str) -> None:
    r = rendered("seed-15", version, tls)
    problems = []
    for path in sorted(r.out.glob("*/gitlab.rb")) + sorted(r.out.glob("*/gitlab.rb.first-run")):
        result = subprocess.run(["ruby", "-c", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0 and "Syntax OK" in result.stdout, f"{path}: {result.stderr}"
    for node, doc in r.docs().items():
        problems += [f"{node}: {key}" for key in doc.flat() if not _known(key, version)]
        for key in TLS_KEYS:
            assert doc.get(f"consul['{key}']") is not None, (node, key)
    assert not problems, problems


def test_patroni_reads_the_rendered_patroni_consul_keys() -> None:
    """The pass-through keys are Patroni's: a rename in Patroni would fail here, not in production."""
    assert {"cacert", "cert", "key", "verify", "url"} <= _patroni_consul_keys()


def _value(r: Rendered, node: str, key: str) -> object:
    found = r.docs()[node].get(key)
    return None if found is None else found.to_python()


@pytest.mark.parametrize("tls", VARIANTS)
def test_each_variant_says_what_the_seed_says(rendered: Render, tls: str) -> None:
    r = rendered("seed-15", "16.6.0", tls)
    server_verifies = tls != "server"
    client_verifies = tls == "mutual_patroni"
    assert _value(r, "consul-redis-1", "consul['tls_verify_client']") is server_verifies
    assert _value(r, "postgres-1", "consul['tls_verify_client']") is client_verifies
    assert _value(r, "postgres-1", "patroni['consul']['url']") == "https://127.0.0.1:8501"
    assert _value(r, "postgres-1", "patroni['consul']['cacert']") == "/etc/gitlab/consul-tls/ca.pem"
    assert _value(r, "postgres-1", "patroni['consul']['verify']") is True
    assert (_value(r, "postgres-1", "patroni['consul']['cert']") is not None) is client_verifies
    assert _value(r, "gitaly-1", "patroni['consul']['url']") is None  # no Patroni there
    assert (r.out / "postgres-1" / "patroni-key.pem").exists() is client_verifies
    # the model: what reconfigure writes
    config = consul_files.configuration(node_of((r.out / "consul-redis-1" / "gitlab.rb").read_text()).input)
    assert config["tls"]["defaults"]["verify_incoming"] is server_verifies
    assert config["tls"]["internal_rpc"] == {"verify_server_hostname": True}
    assert config["ports"] == {"https": 8501}


@pytest.mark.parametrize("tls", VARIANTS)
def test_tls_files_match_the_store_and_keys_are_0600(rendered: Render, tls: str) -> None:
    r = rendered("seed-15", "16.6.0", tls)
    store = SecretStore.load(r.store)
    for node, kind in (("consul-redis-1", "server"), ("postgres-1", "client"), ("rails-1", "client")):
        folder = r.out / node
        assert (folder / "ca.pem").read_text() == store.get("consul_tls_ca_cert")
        assert (folder / "agent.pem").read_text() == store.get(f"consul_tls_{kind}_cert")
        assert (folder / "agent-key.pem").read_text() == store.get(f"consul_tls_{kind}_key")
        assert stat.S_IMODE((folder / "agent-key.pem").stat().st_mode) == 0o600
        assert stat.S_IMODE((folder / "agent.pem").stat().st_mode) == 0o644
    assert not (r.out / "internal-lb" / "ca.pem").exists()  # no Omnibus there
    for value in r.secret_values():
        assert value not in (r.out / "RUNBOOK.md").read_text()
        assert all(value not in output for output in r.outputs)


@pytest.mark.parametrize("tls", VARIANTS)
def test_runbook_places_the_files_before_consul_starts(rendered: Render, tls: str) -> None:
    r = rendered("seed-15", "16.6.0", tls)
    steps = runbook_steps((r.out / "RUNBOOK.md").read_text())
    titles = [s.title for s in steps]
    place = titles.index(f"Consul TLS files ({tls})")
    assert place < titles.index("Consul servers")
    step = steps[place]
    assert len(step.nodes) == 14  # every Omnibus node
    text = "\n".join(step.commands)
    for name in ("ca.pem", "agent.pem"):
        assert f"sudo install -m 0644 -o root -g root <node>/{name} /etc/gitlab/consul-tls/{name}" in text
    assert "sudo install -m 0600 -o root -g root <node>/agent-key.pem /etc/gitlab/consul-tls/agent-key.pem" in text
    assert "sudo chown gitlab-consul:gitlab-consul /etc/gitlab/consul-tls/agent-key.pem" in text
    assert ("patroni-key.pem" in text) is (tls == "mutual_patroni")
    assert "https://127.0.0.1:8501" in "\n".join(step.check)


def test_plain_render_has_no_tls(rendered: Render) -> None:
    r = rendered("seed-15", "16.6.0")
    assert _value(r, "consul-redis-1", "consul['use_tls']") is None
    assert not list(r.out.glob("*/ca.pem"))
    assert "Consul TLS files" not in (r.out / "RUNBOOK.md").read_text()


@pytest.mark.parametrize("tls", VARIANTS)
def test_our_agent_loads_the_models_config_json(rendered: Render, tls: str, tmp_path: Path) -> None:
    """gitlab_ha.discovery.config accepts each node's config.json, with the rendered files in place."""
    r = rendered("seed-15", "19.3.0", tls)
    for node in ("consul-redis-1", "postgres-1"):
        config = _config_on_disk(r, node, tmp_path / node)
        loaded = validate_paths([config])
        assert loaded.tls.https_port == 8501 and loaded.tls.verify_outgoing and loaded.tls.verify_server_hostname
        expected = (node.startswith("consul") and tls != "server") or tls == "mutual_patroni"
        assert loaded.tls.verify_incoming_https is expected


def _config_on_disk(r: Rendered, node: str, folder: Path) -> Path:
    """The model's config.json of `node`, its TLS paths moved to the rendered files."""
    folder.mkdir(parents=True)
    config = consul_files.configuration(node_of((r.out / node / "gitlab.rb").read_text()).input)
    for key in ("ca_file", "cert_file", "key_file"):
        config["tls"]["defaults"][key] = str(r.out / node / Path(config["tls"]["defaults"][key]).name)
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.slow
def test_patroni_talks_https_to_an_agent_started_from_the_model(rendered: Render, tmp_path: Path) -> None:
    """mutual_patroni: our agent runs postgres-1's config.json; Patroni's own Consul client, set up from
    postgres-1's patroni['consul'] section, is served with its certificate and refused without one."""
    r = rendered("seed-15", "19.3.0", "mutual_patroni")
    address = f"{free_subnet()}.1"
    config = json.loads(_config_on_disk(r, "postgres-1", tmp_path / "gen").read_text())
    config.update(
        {
            "client_addr": address,
            "bind_addr": address,
            "node_name": "postgres-1",
            "server": True,
            "bootstrap_expect": 1,
            "retry_join": [],
            "tls": {"defaults": config["tls"]["defaults"]},
        }
    )  # fmt: skip  (a lone agent: no servers to reach; the HTTPS side is what is tested)
    agent = Node("postgres-1", address, True, tmp_path / "agent", config)
    section = patroni_files.consul_section(node_of((r.out / "postgres-1" / "gitlab.rb").read_text()).input)
    files = {k: str(r.out / "postgres-1" / Path(str(section[k])).name) for k in ("cacert", "cert", "key")}
    try:
        agent.start()
        client = patroni_consul.ConsulClient(
            host=address, port=8501, scheme="https", verify=section["verify"] is True,
            ca_cert=files["cacert"], cert=(files["cert"], files["key"]),
        )  # fmt: skip
        # The agent runs on its own loopback address; Patroni reaches it as https://127.0.0.1:8501 in
        # production, so the certificate is checked against that name, not the test's address.
        client.http.http.connection_pool_kw["assert_hostname"] = "127.0.0.1"
        assert client.kv.put("service/seed/config", "{}")
        assert client.kv.get("service/seed/config")[1]["Value"] == b"{}"
        bare = patroni_consul.ConsulClient(host=address, port=8501, scheme="https", ca_cert=files["cacert"])
        bare.http.http.connection_pool_kw["assert_hostname"] = "127.0.0.1"
        with pytest.raises(Exception):  # noqa: B017 - urllib3 raises SSLError or a protocol error, as it likes
            bare.kv.get("service/seed/config")
    finally:
        agent.stop()
