"""What Omnibus will really do with the rendered files (issue 8, faults 1-7): read as an operator who
knows the cookbooks at the release tags, each node must run what its roles need and nothing else."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.render.conftest import Cluster, Rendered

CASES = [(p, v) for p in ("seed-15", "ref-3k", "ref-10k") for v in ("16.6.0", "19.3.0")]


@pytest.fixture(params=CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def cluster(request: pytest.FixtureRequest, rendered: Callable[[str, str], Rendered]) -> Cluster:
    preset, version = request.param
    return Cluster(rendered(preset, version))


def test_rails_nodes_enable_nginx(cluster: Cluster) -> None:
    """Before 17.4 `application_role` never starts NGINX (the `rails` group has none): nothing would
    listen on :80. The render says so at every release."""
    rails = cluster.names("rails")
    assert rails
    for node in rails:
        assert cluster.value(node, "nginx['enable']") is True, node
    for node in set(cluster.docs) - set(rails):
        assert cluster.value(node, "nginx['enable']") in (None, False), node

