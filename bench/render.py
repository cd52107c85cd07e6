"""Time `render` of every preset, in process (PRODUCT.md §6 target: render + lint of 50k ≤ 1 s).

Prints figures; asserts nothing. Run: .venv/bin/python bench/render.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from gitlab_ha.render.cluster import render_cluster
from gitlab_ha.render.context import Context
from gitlab_ha.render.writer import write_artifacts
from gitlab_ha.secrets.store import SecretStore
from gitlab_ha.topology.load import load_text
from gitlab_ha.topology.presets import PRESETS, expand
from gitlab_ha.topology.yaml_out import topology_yaml

RUNS = 7


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SecretStore.init(Path(tmp) / "secrets.json")
        title = f"render ms (median of {RUNS})"
        print(f"{'preset':10} {'nodes':>5} {'files':>5} {title:>26} {'+ write ms':>11}")
        for name, preset in PRESETS.items():
            text = topology_yaml(preset, expand(preset))
            times, write_times = [], []
            artifacts = []
            for _ in range(RUNS):
                start = time.perf_counter()
                topo = load_text(text, "bench.yml").topology
                artifacts = render_cluster(Context(topo, store), "bench.yml")
                middle = time.perf_counter()
                write_artifacts(artifacts, Path(tmp) / "out")
                end = time.perf_counter()
                times.append((middle - start) * 1000)
                write_times.append((end - middle) * 1000)
            print(
                f"{name:10} {len(topo.nodes):5d} {len(artifacts):5d} {statistics.median(times):26.1f} "
                f"{statistics.median(write_times):11.1f}"
            )


if __name__ == "__main__":
    main()
