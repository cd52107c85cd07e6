"""What reconfigure writes for Consul TLS (ConsulHelper#tls_configuration, 15.6+; patroni.yaml.erb's
consul section), and what `explain` shows of it."""

from __future__ import annotations

from gitlab_ha.reconfigure.files import consul, patroni
from tests.reconfigure.conftest import node_of

CLIENT_TLS = """roles ['patroni_role']
consul['use_tls'] = true
consul['tls_ca_file'] = '/etc/gitlab/consul-tls/ca.pem'
consul['tls_certificate_file'] = '/etc/gitlab/consul-tls/agent.pem'
consul['tls_key_file'] = '/etc/gitlab/consul-tls/agent-key.pem'
consul['https_port'] = 8502
consul['http_port'] = 8600
patroni['consul']['url'] = 'https://127.0.0.1:8502'
patroni['consul']['cacert'] = '/etc/gitlab/consul-tls/ca.pem'
patroni['consul']['verify'] = true
"""


def test_use_tls_writes_tls_defaults_and_drops_http_port() -> None:
    """Ruby's shallow Hash#merge: tls_configuration's `ports` replaces ports_configuration's, so
    consul['http_port'] is lost under use_tls; https_port survives through api_port('https')."""
    config = consul.configuration(node_of(CLIENT_TLS).input)
    assert config["tls"] == {
        "defaults": {
            "ca_file": "/etc/gitlab/consul-tls/ca.pem",
            "cert_file": "/etc/gitlab/consul-tls/agent.pem",
            "key_file": "/etc/gitlab/consul-tls/agent-key.pem",
            "verify_outgoing": True,
            "verify_incoming": False,  # a client: tls_verify_client unset → server? → false
        }
    }
    assert config["ports"] == {"https": 8502}
    api = consul.api(config)
    assert (api.http, api.https, api.verify_clients, api.tls, api.has_cert) == (8500, 8502, False, True, True)


def test_user_ports_are_deep_merged_over_tls() -> None:
    text = CLIENT_TLS + "consul['configuration'] = { ports: { http: -1 } }\nconsul['tls_verify_client'] = true\n"
    config = consul.configuration(node_of(text).input)
    assert config["ports"] == {"https": 8502, "http": -1}
    api = consul.api(config)
    assert api.http is None and api.verify_clients


def test_servers_verify_clients_by_default() -> None:
    text = "roles ['consul_role']\nconsul['configuration'] = { server: true }\nconsul['use_tls'] = true\n"
    config = consul.configuration(node_of(text).input)
    assert config["tls"]["defaults"] == {"verify_outgoing": True, "verify_incoming": True}
    assert config["ports"] == {"https": 8501}


def test_patroni_yaml_consul_section_passes_every_key() -> None:
    text = patroni.patroni_yaml(node_of(CLIENT_TLS).input).content
    section = text.split("consul:\n", 1)[1].split("postgresql:", 1)[0]
    assert "  url: https://127.0.0.1:8502\n" in section
    assert "  cacert: /etc/gitlab/consul-tls/ca.pem\n" in section
    assert "  verify: true\n" in section


def test_explain_shows_tls() -> None:
    effects = {(e.service, e.setting): e.value for e in node_of(CLIENT_TLS).effects()}
    consul_title = next(s for s, k in effects if k == "TLS")
    assert effects[(consul_title, "TLS")].startswith("on: CA /etc/gitlab/consul-tls/ca.pem")
    assert effects[(consul_title, "HTTP API")] == "http 8500, https 8502"
    patroni_title = next(s for s, k in effects if k == "DCS TLS")
    assert "client certificate none" in effects[(patroni_title, "DCS TLS")]
