"""Acceptance: whatever `render` writes lints with zero errors and zero warnings."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gitlab_ha.lint.api import lint_folder
from gitlab_ha.lint.findings import Severity
from gitlab_ha.topology.presets import PRESETS
from tests.conftest import REFERENCE
from tests.render.conftest import Render, Rendered

VERSIONS = ("16.6.0", "19.3.0")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_render_lints_clean(rendered: Callable[[str, str], Rendered], preset: str, version: str) -> None:
    out = rendered(preset, version)
    template = REFERENCE / f"gitlab.rb.template-{version}"
    found = lint_folder(out.out, topology=out.topology, template=template)
    loud = [f"{f.severity} {f.rule} {f.where()} {f.message}" for f in found if f.severity is not Severity.NOTE]
    assert loud == []
    # without the topology, roles inferred from the files: still no error (single points of
    # failure are warnings then, as for a hand-written set)
    inferred = lint_folder(out.out, version=version, template=template)
    errors = [f"{f.rule} {f.where()} {f.message}" for f in inferred if f.severity is Severity.ERROR]
    assert errors == []
    assert {f.rule for f in inferred if f.severity is Severity.WARNING} <= {"GHA070", "GHA071"}
    # without a template, the tool's own key knowledge finds nothing unknown in its own render
    own = lint_folder(out.out, topology=out.topology)
    assert [f"{f.rule} {f.where()} {f.message}" for f in own if f.severity is not Severity.NOTE] == []


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("tls", ["server", "mutual", "mutual_patroni"])
def test_tls_render_lints_clean(rendered: Render, tls: str, version: str) -> None:
    """Acceptance (issue 10): the seed's three Consul TLS variants lint clean, with the template and without."""
    out = rendered("seed-15", version, tls)
    template = REFERENCE / f"gitlab.rb.template-{version}"
    for found in (
        lint_folder(out.out, topology=out.topology, template=template),
        lint_folder(out.out, topology=out.topology),
    ):
        loud = [f"{f.severity} {f.rule} {f.where()} {f.message}" for f in found if f.severity is not Severity.NOTE]
        assert loud == []
