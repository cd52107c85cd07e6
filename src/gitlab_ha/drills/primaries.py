"""The parent's side of the primary sampler (`sampler.py`): start the helper as `postgres` with
`proc`, turn its lines into the history's samples, stop it by its pid."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from gitlab_ha.drills.history import History, Sample
from gitlab_ha.lab.runtime import python_for_services, service_env
from gitlab_ha.proc import PIPE, Process


class PrimarySampler:
    def __init__(self, members: dict[str, Path], history: History, log: Path) -> None:
        self.members = members  # node → its PostgreSQL socket directory
        self.history = history
        self.log = log
        self.process: Process | None = None
        self.reader: threading.Thread | None = None

    def start(self) -> None:
        argv = [*python_for_services(), "-m", "gitlab_ha.drills.sampler"]
        argv += [f"{node}={path}" for node, path in sorted(self.members.items())]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.process = Process.spawn(argv, user="postgres", env=service_env(), cwd="/", stdout=PIPE, stderr=self.log)
        self.reader = threading.Thread(target=self._read, args=(self.process,), daemon=True, name="drill-sampler")
        self.reader.start()

    def _read(self, process: Process) -> None:
        assert process.stdout is not None
        try:
            for raw in process.stdout:
                try:
                    data = json.loads(raw)
                except ValueError:
                    continue
                self.history.samples.append(Sample(float(data["t"]), str(data["node"]), str(data["state"])))
        except (ValueError, OSError):  # the pipe closed under us as the helper was stopped
            return

    def states(self) -> dict[str, str]:
        """Each member's latest state."""
        out: dict[str, str] = {}
        for sample in list(self.history.samples):
            out[sample.node] = sample.state
        return out

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=2)
            self.process = None
        if self.reader is not None:
            self.reader.join(timeout=5)
            self.reader = None
