"""GHA095–GHA097 on hand-written sets (GitLab's 3k data tier, docs-faithful): the seed's TLS lines in
each variant are clean; each inconsistency is found on the node that has it, and only there."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitlab_ha.lint.api import lint_folder
from tests.lint.test_hand_written import write
from tests.lint.test_meaning import CONSUL, PATRONI, PGBOUNCER

TLS = (
    "consul['use_tls'] = true\n"
    "consul['tls_ca_file'] = '/etc/gitlab/ca.pem'\n"
    "consul['tls_certificate_file'] = '/etc/gitlab/agent.pem'\n"
    "consul['tls_key_file'] = '/etc/gitlab/agent-key.pem'\n"
    "consul['https_port'] = 8501\n"
)
PATRONI_HTTPS = (
    "patroni['consul']['url'] = 'https://127.0.0.1:8501'\npatroni['consul']['cacert'] = '/etc/gitlab/ca.pem'\n"
)
PATRONI_CERT = "patroni['consul']['cert'] = '/etc/gitlab/p.pem'\npatroni['consul']['key'] = '/etc/gitlab/p-key.pem'\n"


def _set(servers: str, patroni: str, pgbouncer: str) -> dict[str, str]:
    return {
        **{f"10.6.0.1{i}/gitlab.rb": CONSUL + servers for i in (1, 2, 3)},
        **{f"10.6.0.2{i}/gitlab.rb": PATRONI + patroni for i in (1, 2, 3)},
        **{f"10.6.0.3{i}/gitlab.rb": PGBOUNCER + pgbouncer for i in (1, 2, 3)},
    }


def _tls_findings(tmp: Path, files: dict[str, str]) -> list[tuple[str, str]]:
    found = lint_folder(write(tmp, files), version="17.5.0")
    return sorted((f.rule, f.node) for f in found if f.rule in ("GHA095", "GHA096", "GHA097"))


VERIFY = "consul['tls_verify_client'] = true\n"
CLEAN = {
    "server": _set(TLS + "consul['tls_verify_client'] = false\n", TLS + PATRONI_HTTPS, TLS),
    "mutual": _set(TLS, TLS + PATRONI_HTTPS, TLS),
    "mutual_patroni": _set(TLS, TLS + VERIFY + PATRONI_HTTPS + PATRONI_CERT, TLS + VERIFY),
    "off": _set("", "", ""),
}


@pytest.mark.parametrize("variant", sorted(CLEAN))
def test_the_seeds_variants_are_clean(tmp_path: Path, variant: str) -> None:
    assert _tls_findings(tmp_path, CLEAN[variant]) == []


def test_a_client_with_tls_against_servers_without(tmp_path: Path) -> None:
    files = _set("", "", "")
    files["10.6.0.31/gitlab.rb"] += TLS
    assert _tls_findings(tmp_path, files) == [("GHA095", "10.6.0.31")]


def test_one_server_without_tls(tmp_path: Path) -> None:
    files = dict(CLEAN["server"])
    files["10.6.0.12/gitlab.rb"] = CONSUL
    assert _tls_findings(tmp_path, files) == [("GHA095", "10.6.0.12")]


def test_patroni_https_to_an_agent_without_tls_and_http_to_an_https_only_one(tmp_path: Path) -> None:
    files = _set("", "", "")
    files["10.6.0.21/gitlab.rb"] += PATRONI_HTTPS
    assert _tls_findings(tmp_path / "a", files) == [("GHA096", "10.6.0.21")]
    files = dict(CLEAN["mutual"])
    files["10.6.0.22/gitlab.rb"] = PATRONI + TLS + "consul['configuration'][:ports] = { http: -1 }\n"
    assert _tls_findings(tmp_path / "b", files) == [("GHA096", "10.6.0.22")]
    files["10.6.0.22/gitlab.rb"] = PATRONI + TLS + PATRONI_HTTPS.replace("8501", "8500")
    assert _tls_findings(tmp_path / "c", files) == [("GHA096", "10.6.0.22")]


def test_certificates_missing_where_verified(tmp_path: Path) -> None:
    files = dict(CLEAN["mutual"])
    files["10.6.0.33/gitlab.rb"] = (
        PGBOUNCER + "consul['use_tls'] = true\nconsul['tls_ca_file'] = '/etc/gitlab/ca.pem'\n"
    )
    assert _tls_findings(tmp_path / "a", files) == [("GHA097", "10.6.0.33")]
    files = dict(CLEAN["mutual"])
    files["10.6.0.33/gitlab.rb"] = PGBOUNCER  # no TLS at all: refused by servers that verify clients
    assert _tls_findings(tmp_path / "b", files) == [("GHA097", "10.6.0.33")]
    files = dict(CLEAN["mutual_patroni"])
    files["10.6.0.23/gitlab.rb"] = PATRONI + TLS + VERIFY + PATRONI_HTTPS
    assert _tls_findings(tmp_path / "c", files) == [("GHA097", "10.6.0.23")]
    # the seed's "server TLS only": servers do not verify, so a client without a certificate is no finding
    files = dict(CLEAN["server"])
    files["10.6.0.33/gitlab.rb"] = (
        PGBOUNCER + "consul['use_tls'] = true\nconsul['tls_ca_file'] = '/etc/gitlab/ca.pem'\n"
    )
    assert _tls_findings(tmp_path / "d", files) == []
