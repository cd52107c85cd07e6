"""Time `lab up` of the seed's cluster from nothing to every runnable service healthy, and the lab's
peak memory (the summed RSS of every process in the lab's node cgroups).

Target (PRODUCT.md §6): ≤ 30 s on 2 cores. Prints figures; asserts nothing. Needs root.
Run: .venv/bin/python bench/lab_up.py [--repeat 3] [--dir /tmp/gitlab-ha-bench-lab]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path

import psutil

from gitlab_ha.lab.lab import Lab
from gitlab_ha.lab.network import LabNetwork
from gitlab_ha.lab.plan import make_plan
from gitlab_ha.render.context import Placeholders
from gitlab_ha.topology.load import load_text
from gitlab_ha.topology.presets import PRESETS, expand
from gitlab_ha.topology.yaml_out import topology_yaml


def lab_rss(lab_dir: Path, addresses: dict[str, str]) -> int:
    """The summed RSS of every process in the lab's node cgroups (cheap: no plan is built while timing)."""
    network = LabNetwork(lab_dir, addresses)
    total = 0
    for node in addresses:
        for pid in network.pids(node):
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.Error:
                continue
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/gitlab-ha-bench-lab"))
    parser.add_argument("--profile", default="fast")
    args = parser.parse_args()
    spec = PRESETS["seed-15"]
    text = topology_yaml(spec, expand(spec))
    times, peaks = [], []
    for run in range(args.repeat):
        lab = Lab(args.dir)
        lab.down(purge=True)
        args.dir.mkdir(parents=True, exist_ok=True)
        args.dir.chmod(0o755)
        peak = [0]
        done = threading.Event()

        addresses = make_plan(args.dir, load_text(text, "seed-15").topology, Placeholders()).addresses

        def sample(best: list[int] = peak, stop: threading.Event = done, nodes: dict[str, str] = addresses) -> None:
            while not stop.wait(0.5):
                best[0] = max(best[0], lab_rss(args.dir, nodes))

        sampler = threading.Thread(target=sample, daemon=True)
        start = time.monotonic()
        sampler.start()
        result = lab.up(text, "seed-15", profile=args.profile)  # returns once `status` is healthy
        elapsed = time.monotonic() - start
        if not result.healthy:
            print(f"run {run + 1}: NOT healthy after {elapsed:.1f} s (gitlab-ha lab status --dir {args.dir})")
        time.sleep(5)  # keep sampling a little once healthy: the steady state's memory
        done.set()
        sampler.join()
        times.append(elapsed)
        peaks.append(peak[0] / 1048576)
        print(f"run {run + 1}: healthy after {elapsed:.1f} s, peak RSS {peak[0] / 1048576:.0f} MiB", flush=True)
        lab.down(purge=True)
    print()
    print(f"{'lab up, seed-15 (' + args.profile + ')':34} {'median':>8} {'min':>8} {'max':>8}   target")
    print(
        f"{'nothing -> all healthy (s)':34} {statistics.median(times):8.1f} {min(times):8.1f} {max(times):8.1f}"
        "   <= 30 s (the seed by hand: hours)"
    )
    print(f"{'peak RSS of the whole lab (MiB)':34} {statistics.median(peaks):8.0f} {min(peaks):8.0f} {max(peaks):8.0f}")


if __name__ == "__main__":
    main()
