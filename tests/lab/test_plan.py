"""The lab's plan, built without starting anything: what it refuses before a lab exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitlab_ha.errors import InputError
from gitlab_ha.lab.plan import make_plan
from gitlab_ha.render.context import Placeholders
from gitlab_ha.topology.load import load_text
from tests.helpers import preset_text


@pytest.mark.parametrize("variant", ["server", "mutual", "mutual_patroni"])
def test_consul_tls_is_refused_not_run_without_its_certificates(tmp_path: Path, variant: str) -> None:
    topo = load_text(preset_text("seed-15"), "cluster.yml").topology
    topo = topo.model_copy(update={"consul": topo.consul.model_copy(update={"tls": variant})})
    with pytest.raises(InputError, match=rf"^consul.tls: the lab runs Consul without TLS .*'{variant}'"):
        make_plan(tmp_path, topo, Placeholders())
    plain = topo.model_copy(update={"consul": topo.consul.model_copy(update={"tls": "off"})})
    assert make_plan(tmp_path, plain, Placeholders()).nodes
