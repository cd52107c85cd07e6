"""The lab's plan, built without starting anything: what it refuses before a lab exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitlab_ha.errors import InputError
from gitlab_ha.lab.lab import Lab
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


@pytest.mark.parametrize("damage", ['{"source": "cluster.yml", "addr', "[1]\n", "\x00\x00"])
def test_a_damaged_lab_json_is_refused_before_anything_starts(tmp_path: Path, damage: str) -> None:
    # a truncated lab.json beside its cluster.yml used to be written over and the lab brought up
    (tmp_path / "lab.json").write_text(damage)
    (tmp_path / "cluster.yml").write_text(preset_text("seed-15"))
    with pytest.raises(InputError, match=r"lab.json: the lab's state file is damaged"):
        Lab(tmp_path).up(preset_text("seed-15"), "cluster.yml")
    assert (tmp_path / "lab.json").read_text() == damage
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.yml", "lab.json"]
