"""RUNBOOK.md read back step by step: what runs where, in which order (issue 8, faults 3, 6 and 8)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.render.conftest import Rendered, RunbookStep, runbook_sections, runbook_steps

CASES = [(p, v) for p in ("seed-15", "ref-3k", "ref-10k") for v in ("16.6.0", "19.3.0")]


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
