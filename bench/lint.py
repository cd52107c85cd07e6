"""Time `lint` of a rendered 50k reference architecture (PRODUCT.md §6 target: render + lint ≤ 1 s).

Renders ref-50k (and the seed) into a temporary folder, then lints it in process, with its topology
and Omnibus' 19.3.0 template from ../shared/reference/omnibus. Prints figures; asserts nothing.
Run: .venv/bin/python bench/lint.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from gitlab_ha.lint.api import lint_folder
from gitlab_ha.lint.findings import Severity
from gitlab_ha.render.cluster import render_cluster
from gitlab_ha.render.context import Context
from gitlab_ha.render.writer import write_artifacts
from gitlab_ha.secrets.store import SecretStore
from gitlab_ha.topology.load import load_text
from gitlab_ha.topology.presets import PRESETS, expand
from gitlab_ha.topology.yaml_out import topology_yaml

RUNS = 7
TEMPLATE = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "reference" / "omnibus" / "gitlab.rb.template-19.3.0"
)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = SecretStore.init(root / "secrets.json")
        print(f"{'preset':10} {'nodes':>5} {'render ms':>10} {'lint ms (median of 7)':>22} {'min':>7} {'findings':>9}")
        for name in ("seed-15", "ref-3k", "ref-50k"):
            preset = PRESETS[name]
            text = topology_yaml(preset, expand(preset)).replace(f"version: {preset.version}", "version: 19.3.0")
            topology_file = root / f"{name}.yml"
            topology_file.write_text(text)
            out = root / name
            start = time.perf_counter()
            topo = load_text(text, str(topology_file)).topology
            write_artifacts(render_cluster(Context(topo, store), topology_file.name), out)
            render_ms = (time.perf_counter() - start) * 1000
            times = []
            loud = 0
            for _ in range(RUNS):
                start = time.perf_counter()
                found = lint_folder(out, topology=topology_file, template=TEMPLATE)
                times.append((time.perf_counter() - start) * 1000)
                loud = sum(f.severity is not Severity.NOTE for f in found)
            print(
                f"{name:10} {len(topo.nodes):5d} {render_ms:10.1f} {statistics.median(times):22.1f} "
                f"{min(times):7.1f} {loud:9d}"
            )


if __name__ == "__main__":
    main()
