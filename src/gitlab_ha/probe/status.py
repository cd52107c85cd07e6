"""All collectors at once: one list of components, healthy when every verdict is."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from gitlab_ha.probe import consul, haproxy, patroni, pgbouncer, redis
from gitlab_ha.probe.model import Component, Row, Verdict
from gitlab_ha.probe.target import Target

GITLAB_SERVICES = {"praefect": "Praefect", "gitaly": "Gitaly", "puma": "Rails", "sidekiq": "Sidekiq"}


def gitlab_component(target: Target) -> Component:
    rows = [
        Row(node.name, title, "not runnable here", "needs GitLab Omnibus")
        for node in target.nodes
        for service, title in GITLAB_SERVICES.items()
        if node.runs(service)
    ]
    return Component("GitLab (Praefect, Gitaly, Rails, Sidekiq)", Verdict.NOT_RUNNABLE, "needs GitLab Omnibus", rows)


def collect(target: Target) -> list[Component]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        consul_f = pool.submit(consul.collect, target)
        patroni_f = pool.submit(patroni.collect, target)
        redis_f = pool.submit(redis.collect, target)
        haproxy_f = pool.submit(haproxy.collect, target)
        patroni_component, leader = patroni_f.result()
        bouncers = pgbouncer.collect(target, leader)
        components = [consul_f.result(), patroni_component, bouncers, redis_f.result(), haproxy_f.result()]
    components = [c for c in components if c.rows or c.verdict is not Verdict.NOT_RUNNABLE]
    if target.lab:
        components.append(gitlab_component(target))
    return components


def healthy(components: list[Component]) -> bool:
    return all(c.verdict.healthy for c in components)
