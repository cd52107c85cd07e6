"""The topology's `ha:` timing reaches the files Omnibus would write, through gitlab.rb: the fast profile
changes them, the omnibus profile leaves Omnibus' own defaults."""

from __future__ import annotations

import yaml

from gitlab_ha.reconfigure.cluster import ClusterModel, from_topology
from gitlab_ha.render.context import Placeholders
from gitlab_ha.topology.load import load_text
from gitlab_ha.topology.profiles import with_profile
from tests.helpers import preset_text


def _model(profile: str) -> ClusterModel:
    topo = load_text(preset_text("seed-15"), "seed-15").topology
    return from_topology(with_profile(topo, profile), Placeholders())


def _ini(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith(";"))
    return {key.strip(): value.strip() for key, value in pairs}


def test_fast_and_omnibus_profiles_in_the_written_files() -> None:
    for profile, want in {
        "fast": {"retry": "1", "ttl": 20, "loop": 1, "down_after": 1000, "interval": "1s"},
        "omnibus": {"retry": "15", "ttl": 30, "loop": 10, "down_after": 10000, "interval": "10s"},
    }.items():
        model = _model(profile)
        pg = model.node("postgres-1")
        ini = _ini(pg.file("pgbouncer.ini").content)  # type: ignore[union-attr]
        assert ini["server_login_retry"] == want["retry"], profile
        dcs = yaml.safe_load(pg.file("patroni.yaml").content)["bootstrap"]["dcs"]  # type: ignore[union-attr]
        assert (dcs["ttl"], dcs["loop_wait"]) == (want["ttl"], want["loop"]), profile
        service = pg.file("postgresql_service.json").content  # type: ignore[union-attr]
        assert f'"interval": "{want["interval"]}"' in service, profile
        sentinel = model.node("consul-redis-1").file("sentinel.conf").content  # type: ignore[union-attr]
        assert f"down-after-milliseconds gitlab-redis {want['down_after']}" in sentinel, profile


def test_the_topology_wins_over_the_profile() -> None:
    text = preset_text("seed-15").replace("  pgbouncer: {}", "  pgbouncer: {server_login_retry: 4}")
    topo = load_text(text, "seed-15").topology
    assert topo.ha.pgbouncer.server_login_retry == 4
    model = from_topology(with_profile(topo, "fast"), Placeholders())
    ini = _ini(model.node("postgres-2").file("pgbouncer.ini").content)  # type: ignore[union-attr]
    assert ini["server_login_retry"] == "4"
