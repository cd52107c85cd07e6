"""Rendered gitlab.rb files against Omnibus' own key, role and deprecation lists, and real tools."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gitlab_ha.topology.presets import PRESETS
from tests.render.conftest import Rendered, role_names
from tests.render.reference import deprecated, is_known, removed, roles

CASES = [(p, v) for p in ("seed-15", "ref-3k") for v in ("16.6.0", "19.3.0")]
EVERY_VERSION = [("ref-3k", v) for v in ("17.0.0", "18.0.0")]
OTHER_PRESETS = [(p, v) for p in sorted(set(PRESETS) - {"seed-15", "ref-3k"}) for v in ("16.6.0", "19.3.0")]


def _rb_files(r: Rendered) -> list[Path]:
    files = sorted(r.out.glob("*/gitlab.rb")) + sorted(r.out.glob("*/gitlab.rb.first-run"))
    assert files
    return files


@pytest.mark.parametrize(("preset", "version"), CASES + OTHER_PRESETS)
def test_ruby_syntax(rendered: Callable[[str, str], Rendered], preset: str, version: str) -> None:
    r = rendered(preset, version)
    for path in _rb_files(r):
        result = subprocess.run(["ruby", "-c", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0 and "Syntax OK" in result.stdout, f"{path}: {result.stderr}"


@pytest.mark.parametrize(("preset", "version"), CASES + EVERY_VERSION + OTHER_PRESETS)
def test_every_key_is_known_and_not_removed(
    rendered: Callable[[str, str], Rendered], preset: str, version: str
) -> None:
    r = rendered(preset, version)
    problems = []
    for node, doc in r.docs().items():
        for key in doc.flat():
            if not is_known(key, version):
                problems.append(f"{node}: {key} is not a key of {version}")
            if (gone := removed(key, version)) is not None:
                problems.append(f"{node}: {key} was removed in {gone}")
            if (dep := deprecated(key, version)) is not None:
                problems.append(f"{node}: {key} is deprecated since {dep}")
        for call in doc.calls:
            if call.name == "git_data_dirs" and removed("git_data_dirs", version):
                problems.append(f"{node}: git_data_dirs was removed")
            if call.name == "git_data_dirs" and deprecated("git_data_dirs", version):
                problems.append(f"{node}: git_data_dirs is deprecated")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("version", ["16.8.2", "16.9.0", "16.11.5", "17.7.0", "17.8.0"])
def test_nothing_deprecated_between_reference_releases(rendered: Callable[[str, str], Rendered], version: str) -> None:
    """No key list exists for these releases, but deprecations.tsv says when each old key went stale."""
    problems = []
    for node, doc in rendered("ref-3k", version).docs().items():
        problems += [f"{node}: {key} deprecated since {dep}" for key in doc.flat() if (dep := deprecated(key, version))]
        if any(c.name == "git_data_dirs" for c in doc.calls) and deprecated("git_data_dirs", version):
            problems.append(f"{node}: git_data_dirs is deprecated")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("preset", "version"), CASES + OTHER_PRESETS)
def test_every_role_exists(rendered: Callable[[str, str], Rendered], preset: str, version: str) -> None:
    r = rendered(preset, version)
    known = roles(version)
    seen = set()
    for node, doc in r.docs().items():
        for role in role_names(doc):
            seen.add(role)
            assert role in known, f"{node}: role {role} does not exist in {version}"
    if preset in {"seed-15", "ref-3k"}:
        assert "consul_role" in seen and "patroni_role" in seen


def test_version_differences(rendered: Callable[[str, str], Rendered]) -> None:
    old = rendered("ref-3k", "16.6.0").docs()
    v17 = rendered("ref-3k", "17.0.0").docs()
    new = rendered("ref-3k", "19.3.0").docs()
    # Sidekiq concurrency key
    assert old["sidekiq-1"].get("sidekiq['max_concurrency']") is not None
    assert old["sidekiq-1"].get("sidekiq['concurrency']") is None
    assert new["sidekiq-1"].get("sidekiq['concurrency']") is not None
    assert new["sidekiq-1"].get("sidekiq['max_concurrency']") is None
    # git_data_dirs before 17.8, repositories_storages after
    assert any(c.name == "git_data_dirs" for c in old["rails-1"].calls)
    assert old["rails-1"].get("gitlab_rails['repositories_storages']") is None
    assert not any(c.name == "git_data_dirs" for c in new["rails-1"].calls)
    assert new["rails-1"].get("gitlab_rails['repositories_storages']") is not None
    # gitaly_role ships from 17.6.0; before, Gitaly nodes switch the bundled services off by hand
    for before in (old, v17):
        assert "gitaly_role" not in role_names(before["gitaly-1"])
        assert before["gitaly-1"].get("gitaly['enable']").to_python() is True  # type: ignore[union-attr]
        assert before["gitaly-1"].get("puma['enable']").to_python() is False  # type: ignore[union-attr]
    assert "gitaly_role" in role_names(new["gitaly-1"])
    assert new["gitaly-1"].get("gitaly['enable']") is None


@pytest.mark.parametrize(("preset", "version"), CASES + [c for c in OTHER_PRESETS if c[0] != "ref-1k"])
def test_haproxy_config_is_valid(
    rendered: Callable[[str, str], Rendered], preset: str, version: str, tmp_path: Path
) -> None:
    r = rendered(preset, version)
    configs = sorted(r.out.glob("*/haproxy.cfg"))
    assert configs
    cert = _self_signed_pem(tmp_path)
    for cfg in configs:
        # the external LB terminates TLS: point its crt-base at a throwaway certificate
        text = cfg.read_text().replace("crt-base /etc/haproxy/certs", f"crt-base {cert.parent}")
        checked = tmp_path / f"{cfg.parent.name}.cfg"
        checked.write_text(text)
        result = subprocess.run(["haproxy", "-c", "-f", str(checked)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{cfg}: {result.stdout}{result.stderr}"
        assert "ALERT" not in result.stdout + result.stderr


def _self_signed_pem(tmp_path: Path) -> Path:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gitlab.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    certs = tmp_path / "certs"
    certs.mkdir()
    pem = certs / "gitlab.pem"
    pem.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return pem


def _sshd() -> str:
    found = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(found).exists():
        pytest.fail("sshd is not installed: run make test, which installs openssh-server")
    return found


@pytest.mark.parametrize(("preset", "version"), CASES[:1])
def test_sshd_snippet_is_valid(
    rendered: Callable[[str, str], Rendered], preset: str, version: str, tmp_path: Path
) -> None:
    r = rendered(preset, version)
    snippets = sorted(r.out.glob("*/sshd_gitlab.conf"))
    assert [s.parent.name for s in snippets] == ["rails-1", "rails-2"]
    host_key = tmp_path / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    for snippet in snippets:
        config = tmp_path / "sshd_config"
        config.write_text(f"HostKey {host_key}\nPidFile {tmp_path}/sshd.pid\nUsePAM no\n" + snippet.read_text())
        result = subprocess.run([_sshd(), "-t", "-f", str(config)], capture_output=True, text=True, check=False)
        if "privilege separation directory" in result.stderr:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
            result = subprocess.run([_sshd(), "-t", "-f", str(config)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        # and a broken snippet is refused, so this check can fail
        config.write_text(config.read_text().replace("AuthorizedKeysCommandUser", "AuthorizedKeysCommandUsr"))
        bad = subprocess.run([_sshd(), "-t", "-f", str(config)], capture_output=True, text=True, check=False)
        assert bad.returncode != 0
