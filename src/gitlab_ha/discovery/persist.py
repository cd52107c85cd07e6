"""Durable Raft state in the agent's data dir: the command log, its snapshot, the term and the vote.

Files (0600 in a 0700 data dir):

- `state-log.jsonl` — one line per log entry, `<crc32> {"seq":index,"term":t,"c":commit,"cmd":{…}}`. An
  entry is written and fsynced before it counts (before a leader counts itself, before a follower says
  yes), so an acknowledged write survives SIGKILL and power loss. `c` is the commit index the writer
  knew: on restart, entries up to the highest `c` are known committed and applied at once.
- `state-snapshot.json` — a header line `gitlab-ha-snapshot 1 <index> <term> <crc32>`, then the state after
  entry `index` as JSON (the single-agent release's `{"seq", "state"}` is still read).
  Compaction writes it in a child process (`python -m gitlab_ha.discovery.persist compact …`), off the
  agent's event loop; the agent then keeps only the log after it.
- `raft.json` — `{"term", "voted_for", "peers"}`, replaced atomically (fsynced) before any vote or
  message that depends on it.

Start-up refuses, with one line naming the file (and line), anything it cannot trust: a damaged line
in the middle of the log (checksum, JSON, an unknown command, a gap in the sequence), a snapshot or
`raft.json` of the wrong shape. It never rewrites such a file. Only a torn *last* line (no newline:
a crash in the middle of a write, which was never acknowledged) is dropped. Lines without a checksum
(`{"seq":…}`, written by the single-agent release) are read as they are.

A write that fails (ENOSPC, EIO) leaves no trace: the file is cut back to where it was, nothing is
applied, and the caller gets `LogWriteError` ("no space left on device") for its 500.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitlab_ha.discovery.state import COMMANDS, Command, CommandError, State
from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import fsync_dir, write_atomic

SNAPSHOT = "state-snapshot.json"
SNAPSHOT_NEW = "state-snapshot.json.new"
LOG = "state-log.jsonl"
META = "raft.json"
LOCK = "agent.lock"
FILE_MODE = 0o600
DIR_MODE = 0o700
COMPACT_ENTRIES = 20_000
COMPACT_BYTES = 64 * 1024 * 1024


class DataDirBusy(OSError):
    """Two agents must never write the same data dir."""


class DataDirCorrupt(InputError):
    """A data-dir file that cannot be trusted; the message names the file (and the line)."""


class LogWriteError(Exception):
    """The log could not be written; nothing of the write remains. `message` is what the 500 says."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Entry:
    index: int
    term: int
    cmd: Command

    def line(self, commit: int) -> bytes:
        body = json.dumps(
            {"seq": self.index, "term": self.term, "c": commit, "cmd": self.cmd.to_json()}, separators=(",", ":")
        ).encode()
        return b"%08x " % zlib.crc32(body) + body + b"\n"

    def to_json(self) -> Any:
        return [self.index, self.term, self.cmd.to_json()]

    @staticmethod
    def from_json(raw: Any) -> Entry:
        index, term, cmd = raw
        return Entry(int(index), int(term), Command.from_json(cmd))


def _parse_line(line: bytes) -> tuple[int, int, int, Command]:
    """(index, term, commit hint, command) of one log line; ValueError saying what is wrong."""
    if line.startswith(b"{"):
        body = line  # the single-agent release's lines carry no checksum
    else:
        crc, sep, body = line.partition(b" ")
        if not sep or len(crc) != 8:
            raise ValueError("no checksum")
        try:
            want = int(crc, 16)
        except ValueError:
            raise ValueError("no checksum") from None
        if zlib.crc32(body) != want:
            raise ValueError("checksum mismatch")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cmd"), dict):
        raise ValueError("not a log entry")
    kind = data["cmd"].get("kind")
    if kind not in COMMANDS:
        raise ValueError(f"unknown command kind {kind!r}")
    seq, term, commit = data.get("seq"), data.get("term", 0), data.get("c", None)
    if not isinstance(seq, int) or not isinstance(term, int) or isinstance(seq, bool):
        raise ValueError("seq and term must be integers")
    try:
        cmd = Command.from_json(data["cmd"])
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"bad command ({type(exc).__name__}: {exc})") from None
    legacy = "term" not in data
    return seq, term, seq if legacy else int(commit or 0), cmd


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataDirCorrupt(
            f"not valid JSON ({exc}); refusing to start (the file is left as it is)", str(path)
        ) from None


SNAPSHOT_MAGIC = b"gitlab-ha-snapshot"


def encode_snapshot(index: int, term: int, state: State) -> bytes:
    """`gitlab-ha-snapshot 1 <index> <term> <crc32>` on a line of its own, then the state as JSON."""
    body = json.dumps(state.snapshot(), separators=(",", ":")).encode()
    return b"%s 1 %d %d %08x\n" % (SNAPSHOT_MAGIC, index, term, zlib.crc32(body)) + body


def decode_snapshot(raw: bytes, where: str) -> tuple[int, int, State]:
    """(index, term, state) of a snapshot; DataDirCorrupt naming `where` when it cannot be trusted.

    Also reads the single-agent release's `{"seq": …, "state": …}` (which has no checksum)."""
    if raw.startswith(SNAPSHOT_MAGIC):
        head, _, body = raw.partition(b"\n")
        parts = head.split()
        try:
            if len(parts) != 5 or parts[1] != b"1":
                raise ValueError("unknown header")
            index, term, crc = int(parts[2]), int(parts[3]), int(parts[4], 16)
        except ValueError:
            raise DataDirCorrupt("damaged header; refusing to start (the file is left as it is)", where) from None
        if zlib.crc32(body) != crc:
            raise DataDirCorrupt("checksum mismatch; refusing to start (the file is left as it is)", where)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataDirCorrupt(f"not valid JSON ({exc})", where) from None
    else:
        try:
            legacy = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataDirCorrupt(
                f"not valid JSON ({exc}); refusing to start (the file is left as it is)", where
            ) from None
        fields = legacy if isinstance(legacy, dict) else {}
        seq, legacy_term = fields.get("seq"), fields.get("term", 0)
        if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(legacy_term, int):
            raise DataDirCorrupt("not a snapshot (seq and term must be integers)", where)
        index, term, data = seq, legacy_term, fields.get("state")
    try:
        state = State.restore(data)
    except ValueError as exc:
        raise DataDirCorrupt(str(exc), where) from None
    state.index = max(state.index, index)
    return index, term, state


def load_snapshot(path: Path) -> tuple[int, int, State]:
    """(index, term, state) of a snapshot file; DataDirCorrupt naming it."""
    return decode_snapshot(path.read_bytes(), str(path))


def read_log(path: Path, after: int) -> tuple[list[Entry], list[int], int, int, int]:
    """The entries after index `after`: (entries, their file offsets, commit hint, good length, file length).

    DataDirCorrupt for a damaged line anywhere but a torn last one.
    """
    raw = path.read_bytes()
    entries: list[Entry] = []
    offsets: list[int] = []
    commit = 0
    pos = 0
    lineno = 0
    prev: int | None = None
    while pos < len(raw):
        end = raw.find(b"\n", pos)
        if end < 0:
            break  # no newline: a torn write, never acknowledged
        lineno += 1
        line = raw[pos:end]
        try:
            seq, term, hint, cmd = _parse_line(line)
            if prev is not None and seq != prev + 1:
                raise ValueError(f"sequence jumps from {prev} to {seq}")
        except ValueError as exc:
            if end == len(raw) - 1 and line.strip(b"\0") == b"":
                break  # a zeroed last block: the tail of an interrupted write
            raise DataDirCorrupt(
                f"line {lineno}: damaged entry ({exc}); refusing to start (the file is left as it is)", str(path)
            ) from None
        prev = seq
        commit = max(commit, min(hint, seq))
        if seq > after:
            if not entries and seq != after + 1:
                raise DataDirCorrupt(
                    f"line {lineno}: entry {seq} does not follow the snapshot's {after}; refusing to start "
                    "(the file is left as it is)",
                    str(path),
                )
            entries.append(Entry(seq, term, cmd))
            offsets.append(pos)
        pos = end + 1
    return entries, offsets, commit, pos, len(raw)


class Store:
    """The Raft log, snapshot and vote of one server; `data_dir=None` keeps them in memory (`-dev`, clients)."""

    def __init__(
        self, data_dir: Path | None, *, compact_entries: int = COMPACT_ENTRIES, compact_bytes: int = COMPACT_BYTES
    ) -> None:
        self.data_dir = data_dir
        self.compact_entries = compact_entries
        self.compact_bytes = compact_bytes
        self.state = State()  # the snapshot's state; the Raft node applies committed entries to it
        self.snapshot_index = 0
        self.snapshot_term = 0
        self.entries: list[Entry] = []
        self._offsets: list[int] = []
        self.commit_hint = 0
        self.term = 0
        self.voted_for: str | None = None
        self.peers: dict[str, str] = {}  # voter name -> RPC address
        self._fd = -1
        self._size = 0
        self._lock: Any = None
        self.broken = ""  # set when the log could not even be cut back after a failed write
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
            os.chmod(data_dir, DIR_MODE)
            self._lock = open(data_dir / LOCK, "a")  # noqa: SIM115 - held for the agent's lifetime
            try:
                fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._lock.close()
                raise DataDirBusy(f"{data_dir} is in use by another agent") from None
            try:
                self._load()
            except BaseException:
                self.close()
                raise

    # -- loading -------------------------------------------------------------------------------------------------

    def _load(self) -> None:
        assert self.data_dir is not None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.data_dir / SNAPSHOT_NEW)  # a compaction the agent never took over
        snap = self.data_dir / SNAPSHOT
        if snap.exists():
            os.chmod(snap, FILE_MODE)
            self.snapshot_index, self.snapshot_term, state = load_snapshot(snap)
            self.state.replace_with(state)
        meta = self.data_dir / META
        if meta.exists():
            self._load_meta(meta)
        log = self.data_dir / LOG
        self._fd = os.open(log, os.O_RDWR | os.O_CREAT, FILE_MODE)
        os.fchmod(self._fd, FILE_MODE)
        entries, offsets, commit, good, size = read_log(log, self.snapshot_index)
        if good != size:
            os.ftruncate(self._fd, good)  # the torn last line only
            os.fsync(self._fd)
        self.entries, self._offsets, self._size = entries, offsets, good
        self.commit_hint = max(self.snapshot_index, min(commit, self.last_index))
        fsync_dir(self.data_dir)

    def _load_meta(self, path: Path) -> None:
        data = _read_json(path)
        if not isinstance(data, dict):
            raise DataDirCorrupt("expected an object", str(path))
        term, voted, peers = data.get("term", 0), data.get("voted_for"), data.get("peers", {})
        if not isinstance(term, int) or isinstance(term, bool) or term < 0:
            raise DataDirCorrupt("term: expected a non-negative integer", str(path))
        if voted is not None and not isinstance(voted, str):
            raise DataDirCorrupt("voted_for: expected a string", str(path))
        if not isinstance(peers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in peers.items()):
            raise DataDirCorrupt("peers: expected an object of strings", str(path))
        self.term, self.voted_for, self.peers = term, voted, dict(peers)

    # -- the log -------------------------------------------------------------------------------------------------

    @property
    def last_index(self) -> int:
        return self.entries[-1].index if self.entries else self.snapshot_index

    @property
    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.snapshot_term

    def term_at(self, index: int) -> int | None:
        """The term of the entry at `index`; None when it is not in the log (compacted or beyond)."""
        if index == self.snapshot_index:
            return self.snapshot_term
        pos = index - self.snapshot_index - 1
        if 0 <= pos < len(self.entries):
            return self.entries[pos].term
        return None

    def entry(self, index: int) -> Entry:
        return self.entries[index - self.snapshot_index - 1]

    def entries_from(self, index: int, limit: int) -> list[Entry]:
        pos = max(0, index - self.snapshot_index - 1)
        return self.entries[pos : pos + limit]

    def append(self, entries: list[Entry], commit: int) -> None:
        """Append and fsync; LogWriteError (and no trace of the write) when the disk refuses it."""
        if not entries:
            return
        if self.broken:
            raise LogWriteError(self.broken)
        if self._fd >= 0:
            data = b"".join(e.line(commit) for e in entries)
            start = self._size
            try:
                written = os.pwrite(self._fd, data, start)
                if written != len(data):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                os.fsync(self._fd)
            except OSError as exc:
                self._cut_back(start)
                raise LogWriteError((exc.strerror or str(exc)).lower()) from None
            offset = start
            for e in entries:
                self._offsets.append(offset)
                offset += len(e.line(commit))
            self._size = start + len(data)
        self.entries.extend(entries)

    def _cut_back(self, size: int) -> None:
        try:
            os.ftruncate(self._fd, size)
            os.fsync(self._fd)
        except OSError as exc:
            self.broken = f"the log could not be restored after a failed write: {exc.strerror or exc}"

    def truncate_from(self, index: int) -> None:
        """Drop the entries from `index` on (a follower's conflicting, never committed entries)."""
        pos = index - self.snapshot_index - 1
        if pos < 0 or pos >= len(self.entries):
            return
        if self._fd >= 0:
            os.ftruncate(self._fd, self._offsets[pos])
            os.fsync(self._fd)
            self._size = self._offsets[pos]
            del self._offsets[pos:]
        del self.entries[pos:]

    # -- term and vote -------------------------------------------------------------------------------------------

    def save_meta(self, term: int, voted_for: str | None, peers: dict[str, str] | None = None) -> None:
        if peers is not None:
            self.peers = dict(peers)
        self.term, self.voted_for = term, voted_for
        if self.data_dir is not None:
            payload = json.dumps({"term": term, "voted_for": voted_for, "peers": self.peers}, sort_keys=True)
            write_atomic(self.data_dir / META, payload + "\n", mode=FILE_MODE)

    # -- snapshots -----------------------------------------------------------------------------------------------

    def snapshot_bytes(self) -> bytes:
        """The snapshot file as it is on disk (sent to a follower that lags behind the log)."""
        if self.data_dir is None or not (self.data_dir / SNAPSHOT).exists():
            return b""
        return (self.data_dir / SNAPSHOT).read_bytes()

    def install_snapshot(self, payload: bytes, applied: State) -> tuple[int, int]:
        """Replace everything with a snapshot a leader sent; returns its (index, term). DataDirCorrupt if bad."""
        index, term, state = decode_snapshot(payload, "the leader's snapshot")
        if self.data_dir is not None:
            write_atomic(self.data_dir / SNAPSHOT, payload, mode=FILE_MODE)
            os.ftruncate(self._fd, 0)
            os.fsync(self._fd)
        self.entries, self._offsets, self._size = [], [], 0
        self.snapshot_index, self.snapshot_term = index, term
        self.commit_hint = max(self.commit_hint, index)
        applied.replace_with(state)
        return index, term

    def compaction_due(self) -> bool:
        return self.data_dir is not None and (
            len(self.entries) >= self.compact_entries or self._size >= self.compact_bytes
        )

    def compact_argv(self, upto: int) -> list[str]:
        """The child process that writes the snapshot at `upto` (entries up to it are committed and on disk)."""
        assert self.data_dir is not None
        return [sys.executable, "-m", "gitlab_ha.discovery.persist", "compact", str(self.data_dir), str(upto)]

    def finish_compaction(self, upto: int) -> None:
        """Take over the snapshot the child wrote, and keep only the log after it."""
        assert self.data_dir is not None
        new = self.data_dir / SNAPSHOT_NEW
        term = self.term_at(upto)
        if term is None or not new.exists():
            with contextlib.suppress(FileNotFoundError):
                new.unlink()
            return
        os.replace(new, self.data_dir / SNAPSHOT)
        fsync_dir(self.data_dir)
        pos = upto - self.snapshot_index
        keep_from = self._offsets[pos] if pos < len(self._offsets) else self._size
        with open(self.data_dir / LOG, "rb") as fh:
            fh.seek(keep_from)
            tail = fh.read(self._size - keep_from)
        tmp = self.data_dir / (LOG + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            os.write(fd, tail)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.data_dir / LOG)
        fsync_dir(self.data_dir)
        os.close(self._fd)
        self._fd = os.open(self.data_dir / LOG, os.O_RDWR, FILE_MODE)
        self.entries = self.entries[pos:]
        self._offsets = [o - keep_from for o in self._offsets[pos:]]
        self._size = len(tail)
        self.snapshot_index, self.snapshot_term = upto, term

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None


def replay(data_dir: Path, upto: int | None = None) -> tuple[int, int, State]:
    """The state after entry `upto` (default: the whole log), read from the files alone (no lock taken)."""
    snap = data_dir / SNAPSHOT
    index, term, state = load_snapshot(snap) if snap.exists() else (0, 0, State())
    log = data_dir / LOG
    entries = read_log(log, index)[0] if log.exists() else []
    for entry in entries:
        if upto is not None and entry.index > upto:
            break
        with contextlib.suppress(CommandError):
            state.apply(entry.cmd, entry.index)
        index, term = entry.index, entry.term
    return index, term, state


def write_snapshot(path: Path, index: int, term: int, state: State) -> None:
    write_atomic(path, encode_snapshot(index, term, state), mode=FILE_MODE)


def _compact_main(argv: list[str]) -> int:
    """`compact DATA_DIR UPTO`: write the snapshot at UPTO to state-snapshot.json.new (the agent takes it over)."""
    data_dir, upto = Path(argv[0]), int(argv[1])
    index, term, state = replay(data_dir, upto)
    if index != upto:
        print(f"compaction: the log ends at {index}, not {upto}", file=sys.stderr)
        return 1
    write_snapshot(data_dir / SNAPSHOT_NEW, index, term, state)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "compact":
        sys.exit(_compact_main(sys.argv[2:]))
    print("usage: python -m gitlab_ha.discovery.persist compact DATA_DIR UPTO", file=sys.stderr)
    sys.exit(2)
