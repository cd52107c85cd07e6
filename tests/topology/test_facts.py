"""HA facts computed from the topology: the Redis cache's memory limit from a node's size."""

from __future__ import annotations

import pytest

from gitlab_ha.topology.facts import redis_cache_maxmemory


@pytest.mark.parametrize(
    ("size", "maxmemory"),
    [
        ("m5.xlarge", "13500mb"),  # GitLab's 10k/25k/50k cache nodes: the docs' own figure
        ("M5.2xlarge ", "27000mb"),
        ("4 vCPU, 15 GB memory", "13500mb"),
        ("8 vCPU 32GiB", "28800mb"),
        ("m5.large", "6750mb"),
        (None, "13500mb"),  # no size: the docs' figure
        ("a big box", "13500mb"),
    ],
)
def test_redis_cache_maxmemory_is_90_percent_of_the_ram(size: str | None, maxmemory: str) -> None:
    assert redis_cache_maxmemory(size) == maxmemory
