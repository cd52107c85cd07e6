"""The data dir trusts nothing it cannot check: damaged log lines, snapshots and files are refused with one
line naming the file (and line), never rewritten; only a torn last line is dropped; a write the disk
refuses leaves no trace. Plus a fuzz of truncations and byte flips."""

from __future__ import annotations

import json
import os
import random
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from gitlab_ha.discovery.persist import (
    LOG,
    META,
    SNAPSHOT,
    DataDirCorrupt,
    Entry,
    Store,
    encode_snapshot,
    replay,
)
from gitlab_ha.discovery.state import KVSet, State
from gitlab_ha.proc import call
from tests.helpers import cli


def _fill(path: Path, count: int = 8) -> list[KVSet]:
    cmds = [KVSet(f"k{i}", f"value-{i}".encode()) for i in range(count)]
    store = Store(path)
    for i, cmd in enumerate(cmds, start=1):
        store.append([Entry(i, 1, cmd)], i)
    store.close()
    return cmds


def _lines(path: Path) -> list[bytes]:
    return (path / LOG).read_bytes().splitlines(keepends=True)


def _refused(path: Path, *needles: str) -> str:
    before = {p.name: p.read_bytes() for p in path.iterdir() if p.is_file() and p.name != "agent.lock"}
    with pytest.raises(DataDirCorrupt) as caught:
        Store(path)
    after = {p.name: p.read_bytes() for p in path.iterdir() if p.is_file() and p.name != "agent.lock"}
    assert after == before  # never rewritten
    text = str(caught.value)
    assert "\n" not in text
    for needle in needles:
        assert needle in text, text
    return text


@pytest.mark.parametrize(
    "damage",
    ["flipped byte", "zeroed block", "unknown command", "sequence gap", "not json"],
)
def test_a_damaged_line_in_the_middle_refuses_to_start(tmp_path: Path, damage: str) -> None:
    _fill(tmp_path)
    lines = _lines(tmp_path)
    if damage == "flipped byte":
        line = bytearray(lines[3])
        line[30] ^= 0x01
        lines[3] = bytes(line)
    elif damage == "zeroed block":
        lines[3] = b"\0" * (len(lines[3]) - 1) + b"\n"
    elif damage == "unknown command":
        lines[3] = b'{"seq":4,"cmd":{"kind":"drop_table"}}\n'
    elif damage == "sequence gap":
        del lines[3]
    else:
        lines[3] = b"{this is not json\n"
    (tmp_path / LOG).write_bytes(b"".join(lines))
    _refused(tmp_path, str(tmp_path / LOG), "line 4", "refusing to start")


def test_only_a_torn_last_line_is_dropped(tmp_path: Path) -> None:
    cmds = _fill(tmp_path)
    raw = (tmp_path / LOG).read_bytes()
    (tmp_path / LOG).write_bytes(raw[:-7])  # the last write was cut short: never acknowledged
    store = Store(tmp_path)
    assert [e.cmd for e in store.entries] == cmds[:-1]
    store.close()
    assert (tmp_path / LOG).read_bytes() == raw[: raw.rindex(b"\n", 0, len(raw) - 1) + 1]


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        (SNAPSHOT, b'{"seq": 3, "state": {"ind', "not valid JSON"),
        (SNAPSHOT, b'{"seq": "3", "state": {}}', "seq and term must be integers"),
        (SNAPSHOT, b'{"seq": 3, "state": [1, 2]}', "not a state snapshot"),
        (SNAPSHOT, None, "checksum mismatch"),
        (META, b'{"term": "2"}', "term"),
        (META, b"\xff\xfe", "not valid JSON"),
    ],
)
def test_a_corrupt_snapshot_or_data_file_is_one_line_naming_it(
    tmp_path: Path, name: str, content: bytes | None, needle: str
) -> None:
    if content is None:  # a flipped byte inside a snapshot that still parses as JSON
        state = State()
        state.apply(KVSet("a", b"1"))
        raw = bytearray(encode_snapshot(1, 1, state))
        raw[raw.index(b'"ModifyIndex":1') + 14] = ord("7")
        content = bytes(raw)
    (tmp_path / name).write_bytes(content)
    _refused(tmp_path, str(tmp_path / name), needle)


def test_the_agent_refuses_a_corrupt_data_dir_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "node-id").write_bytes(b"\xff\xfe\x00")
    done = cli("consul", "agent", "-data-dir", str(data), "-http-port", "0", "-dns-port", "0",
               "-serf-lan-port", "0", "-server-port", "0")  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and f"{data / 'node-id'}" in done.stderr


def test_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    _fill(data)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / LOG).stat().st_mode) == 0o600


def test_fuzz_truncations_and_flips_never_serve_a_wrong_state_silently(tmp_path: Path) -> None:
    rng = random.Random(1234)
    pristine = tmp_path / "pristine"
    cmds = _fill(pristine, 30)
    log = (pristine / LOG).read_bytes()
    for trial in range(300):
        case = tmp_path / f"case{trial}"
        case.mkdir()
        raw = bytearray(log)
        if rng.random() < 0.5:
            raw = raw[: rng.randrange(len(raw))]
        for _ in range(rng.choice([0, 1, 1, 2, 5])):
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        (case / LOG).write_bytes(bytes(raw))
        try:
            store = Store(case)
        except DataDirCorrupt as exc:
            assert str(case / LOG) in str(exc)
            continue
        got = [e.cmd for e in store.entries]
        store.close()
        assert got == cmds[: len(got)], f"trial {trial}: a state that is not a prefix of the writes"


ENOSPC_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from gitlab_ha.discovery.persist import Entry, LogWriteError, Store
    from gitlab_ha.discovery.state import KVSet
    data = Path(sys.argv[1])
    store = Store(data)
    acked = 0
    while True:
        entry = Entry(store.last_index + 1, 1, KVSet(f"k{store.last_index}", os.urandom(3000)))
        size = (data / "state-log.jsonl").stat().st_size
        try:
            store.append([entry], entry.index)
        except LogWriteError as exc:
            assert exc.message == "no space left on device", exc.message
            assert (data / "state-log.jsonl").stat().st_size == size, "a trace of the failed write"
            break
        acked += 1
    store.close()
    again = Store(data)
    assert again.last_index == acked, (again.last_index, acked)
    print("acked", acked)
    """
)


def test_enospc_leaves_no_trace(tmp_path: Path) -> None:
    """A small tmpfs in a mount namespace the test makes: fill it, the failed write is gone after a reopen."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs in a new mount namespace needs root")
    data = tmp_path / "small"
    data.mkdir()
    script = tmp_path / "enospc.py"
    script.write_text(ENOSPC_SCRIPT)
    done = call(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         f'mount -t tmpfs -o size=96k tmpfs "{data}" && exec "{sys.executable}" "{script}" "{data}/d"'],
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert int(done.stdout.split()[-1]) > 5


def test_replay_matches_what_the_store_holds(tmp_path: Path) -> None:
    cmds = _fill(tmp_path, 5)
    index, term, state = replay(tmp_path)
    assert (index, term) == (5, 1) and sorted(state.kv) == sorted(c.key for c in cmds)
    assert json.loads(json.dumps(state.snapshot()))["index"] == 5
