"""RUNBOOK.md read back step by step: what runs where, in which order (issue 8, faults 3, 6 and 8)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.render.conftest import CASES, Cluster, Rendered, RunbookStep, runbook_sections, runbook_steps


def _steps(r: Rendered) -> list[RunbookStep]:
    return runbook_steps((r.out / "RUNBOOK.md").read_text())


def _step(steps: list[RunbookStep], title: str) -> RunbookStep:
    found = [s for s in steps if s.title.startswith(title)]
    assert len(found) == 1, [s.title for s in steps]
    return found[0]


def _index(commands: list[str], needle: str, start: int = 0) -> int:
    return next(i for i, line in enumerate(commands) if i >= start and needle in line)


@pytest.mark.parametrize(("preset", "version"), CASES)
def test_migrations_run_from_the_first_run_file_then_the_steady_file_returns(
    rendered: Callable[[str, str], Rendered], preset: str, version: str
) -> None:
    r = rendered(preset, version)
    steps = _steps(r)
    step = _step(steps, "First Rails node")
    (node,) = step.nodes
    commands = step.commands
    first = _index(commands, f"{node}/gitlab.rb.first-run /etc/gitlab/gitlab.rb")
    migrate = _index(commands, "gitlab-ctl reconfigure", first)
    steady = _index(commands, f"{node}/gitlab.rb /etc/gitlab/gitlab.rb", migrate)
    _index(commands, "gitlab-ctl reconfigure", steady)
    assert "gitlab_rails['auto_migrate'] = false" in step.text and "PgBouncer" in step.text
    # and every upgrade migrates the same way, because the marker is keyed on host, port and REVISION
    upgrades = runbook_sections((r.out / "RUNBOOK.md").read_text())["Upgrades"]
    assert "/var/opt/gitlab/gitlab-rails/upgrade-status/db-migrate-" in upgrades
    assert f"{node}/gitlab.rb.first-run" in upgrades and "REVISION" in upgrades
    assert upgrades.index("gitlab.rb.first-run") < upgrades.index("gitlab-ctl reconfigure")


@pytest.mark.parametrize("preset", ["ref-3k", "ref-10k"])
def test_monitoring_step_says_what_consul_does_not_find(rendered: Callable[[str, str], Rendered], preset: str) -> None:
    r = rendered(preset, "19.3.0")
    step = _step(_steps(r), "Monitoring")
    assert "every exporter" not in step.text  # Consul discovery misses Praefect and the PgBouncer exporter
    assert "scrape_configs" in step.text and "praefect" in step.text and "pgbouncer" in step.text
    assert any("/api/v1/targets" in line for line in step.check)


def _after_rails(steps: list[RunbookStep], step: RunbookStep) -> bool:
    rails = [s.number for s in steps if s.title.startswith(("First Rails node", "The other Rails"))]
    return bool(rails) and step.number > max(rails)


@pytest.mark.parametrize(("preset", "version"), CASES)
def test_gitaly_check_on_each_gitaly_once_rails_is_up(
    rendered: Callable[[str, str], Rendered], preset: str, version: str
) -> None:
    """`gitaly check` calls Rails' internal API (through the internal LB): it can pass only once Rails runs."""
    r = rendered(preset, version)
    steps = _steps(r)
    step = _step(steps, "Check each Gitaly")
    assert sorted(step.nodes) == sorted(Cluster(r).names("gitaly"))
    assert "sudo /opt/gitlab/embedded/bin/gitaly check /var/opt/gitlab/gitaly/config.toml" in step.commands
    assert _after_rails(steps, step)


@pytest.mark.parametrize(("preset", "version"), CASES)
def test_praefect_and_gitaly_restart_after_their_first_reconfigure(
    rendered: Callable[[str, str], Rendered], preset: str, version: str
) -> None:
    steps = _steps(rendered(preset, version))
    for title, service in (
        ("Praefect, first node", "praefect"),
        ("Praefect, the other nodes", "praefect"),
        ("Gitaly", "gitaly"),
    ):
        commands = _step(steps, title).commands
        reconfigure = _index(commands, "sudo gitlab-ctl reconfigure")
        _index(commands, f"sudo gitlab-ctl restart {service}", reconfigure + 1)


@pytest.mark.parametrize(("preset", "version"), CASES)
def test_pgbouncer_reconfigures_again_once_pgpass_is_there(
    rendered: Callable[[str, str], Rendered], preset: str, version: str
) -> None:
    commands = _step(_steps(rendered(preset, version)), "PgBouncer").commands
    first = _index(commands, "sudo gitlab-ctl reconfigure")
    pgpass = _index(commands, "/var/opt/gitlab/consul/.pgpass", first + 1)
    _index(commands, "sudo gitlab-ctl reconfigure", pgpass + 1)


@pytest.mark.parametrize(
    ("preset", "version", "setting"),
    [
        ("seed-15", "16.6.0", False),
        ("ref-3k", "17.10.0", False),
        ("ref-3k", "17.11.0", True),
        ("ref-3k", "19.3.0", True),
        ("ref-10k", "19.3.0", True),
    ],
)
def test_incremental_logging_is_turned_on_once_rails_is_up(
    rendered: Callable[[str, str], Rendered], preset: str, version: str, setting: bool
) -> None:
    """Without NFS, job logs written on one Rails node must reach the others through Redis and object
    storage: incremental logging, a feature flag before 17.11 and an instance setting from 17.11."""
    r = rendered(preset, version)
    steps = _steps(r)
    step = _step(steps, "Incremental logging")
    assert _after_rails(steps, step)
    assert len(step.nodes) == 1 and step.nodes[0] in Cluster(r).names("rails")
    commands, check = "\n".join(step.commands), "\n".join(step.check)
    if setting:
        assert "update!(ci_job_live_trace_enabled: true)" in step.commands[0]  # no admin token needed
        assert "ci_job_live_trace_enabled=true" in commands and "/api/v4/application/settings" in commands
        assert "Gitlab::CurrentSettings.ci_job_live_trace_enabled?" in check
        assert "Feature.enable" not in commands
    else:
        assert "Feature.enable(:ci_enable_live_trace)" in commands
        assert "Feature.enabled?(:ci_enable_live_trace)" in check
