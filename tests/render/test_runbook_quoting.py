"""Every value a RUNBOOK.md command carries is shell-quoted: even a value that slipped past the
topology's checks stays one word and runs nothing."""

from __future__ import annotations

import shlex

from gitlab_ha.render.context import Context, Placeholders
from gitlab_ha.render.runbook import runbook
from gitlab_ha.topology.load import load_text
from gitlab_ha.topology.model import Redis
from gitlab_ha.topology.presets import SEED_15, expand
from gitlab_ha.topology.roles import Role
from gitlab_ha.topology.yaml_out import topology_yaml

HOSTILE = "gitlab-redis; touch /tmp/pwned"


def test_runbook_commands_quote_the_values_they_carry() -> None:
    topo = load_text(topology_yaml(SEED_15, expand(SEED_15)), "cluster.yml").topology
    # model_construct skips validation, as a future field or a hand-built model might
    redis = Redis.model_construct(master_name=HOSTILE, cache_master_name="gitlab-redis-cache")
    nodes = [n.model_copy(update={"name": f"{n.name} $(id)"}) if n.has(Role.INTERNAL_LB) else n for n in topo.nodes]
    text = runbook(Context(topo.model_copy(update={"redis": redis, "nodes": nodes}), Placeholders()), "cluster.yml")
    line = next(x for x in text.splitlines() if "get-master-addr-by-name" in x)
    assert shlex.split(line)[-1] == HOSTILE, line
    installs = [x for x in text.splitlines() if x.startswith("sudo install") and x.endswith("/etc/haproxy/haproxy.cfg")]
    assert installs and all(shlex.split(x)[-2].endswith(" $(id)/haproxy.cfg") for x in installs), installs
