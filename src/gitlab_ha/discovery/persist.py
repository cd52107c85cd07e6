"""Durable state: an append-only command log plus a snapshot, in the agent's data dir.

Every command is appended (one JSON line with a sequence number) and fsynced *before* it is applied
and answered, so an acknowledged write survives a crash. Start-up loads the snapshot and replays the
log lines after it; a torn last line (a crash in the middle of a write) was never acknowledged and is
dropped. When the log grows past `compact_every` lines, the state is written as a new snapshot
(atomically) and the log restarts empty; the sequence numbers make a crash between the two harmless.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any

from gitlab_ha.discovery.state import Command, CommandError, State
from gitlab_ha.fsutil import fsync_dir, write_atomic

SNAPSHOT = "state-snapshot.json"
LOG = "state-log.jsonl"
LOCK = "agent.lock"


class DataDirBusy(OSError):
    """Two agents must never write the same data dir."""


class Store:
    """The state plus its on-disk log; `data_dir=None` keeps everything in memory (`-dev`)."""

    def __init__(self, data_dir: Path | None, *, compact_every: int = 20_000) -> None:
        self.data_dir = data_dir
        self.compact_every = compact_every
        self.state = State()
        self.seq = 0
        self._log_lines = 0
        self._log: Any = None
        self._lock: Any = None
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._lock = open(data_dir / LOCK, "a")  # noqa: SIM115 - held for the agent's lifetime
            try:
                fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._lock.close()
                raise DataDirBusy(f"{data_dir} is in use by another agent") from None
            self._load()
            self._log = open(data_dir / LOG, "ab")  # noqa: SIM115 - kept open for the agent's lifetime
            fsync_dir(data_dir)

    def _load(self) -> None:
        assert self.data_dir is not None
        snap = self.data_dir / SNAPSHOT
        if snap.exists():
            data = json.loads(snap.read_text())
            self.state = State.restore(data["state"])
            self.seq = int(data["seq"])
        log = self.data_dir / LOG
        if not log.exists():
            return
        raw = log.read_bytes()
        good = 0
        for line in raw.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # torn write: never acknowledged
            try:
                entry = json.loads(line)
                cmd = Command.from_json(entry["cmd"])
            except (ValueError, KeyError, TypeError):
                break
            good += len(line)
            self._log_lines += 1
            if entry["seq"] <= self.seq:
                continue
            self.seq = entry["seq"]
            with contextlib.suppress(CommandError):
                self.state.apply(cmd)
        if good != len(raw):
            with open(log, "r+b") as fh:
                fh.truncate(good)
                os.fsync(fh.fileno())

    def submit(self, cmd: Command) -> Any:
        """Log durably, then apply; returns the command's result or raises its CommandError."""
        self.seq += 1
        if self._log is not None:
            line = json.dumps({"seq": self.seq, "cmd": cmd.to_json()}, separators=(",", ":")).encode() + b"\n"
            self._log.write(line)
            self._log.flush()
            os.fsync(self._log.fileno())
            self._log_lines += 1
        try:
            return self.state.apply(cmd)
        finally:
            if self._log is not None and self._log_lines >= self.compact_every:
                self.compact()

    def compact(self) -> None:
        if self.data_dir is None:
            return
        payload = json.dumps({"seq": self.seq, "state": self.state.snapshot()}, separators=(",", ":"))
        write_atomic(self.data_dir / SNAPSHOT, payload, mode=0o600)
        self._log.close()
        self._log = open(self.data_dir / LOG, "wb")  # noqa: SIM115
        os.fsync(self._log.fileno())
        self._log_lines = 0

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
