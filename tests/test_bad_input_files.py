"""Files a careless or hostile user hands the CLI: devices, FIFOs, symlink loops, huge files, YAML alias
bombs. Each is one line naming the file, exit 2, promptly; never a hang, a MemoryError or a traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import cli

BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    stderr = done.stderr
    assert done.returncode == 2, stderr
    assert "Traceback" not in stderr and "MemoryError" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    for fragment in fragments:
        assert fragment in stderr, (fragment, stderr)


def test_validate_refuses_devices_fifos_and_huge_files(tmp_path: Path) -> None:
    one_line_error(cli("validate", "/dev/zero"), "/dev/zero", "character device")
    one_line_error(cli("consul", "validate", "/dev/zero"), "/dev/zero", "character device")
    fifo = tmp_path / "cluster.yml"
    os.mkfifo(fifo)
    one_line_error(cli("validate", fifo), str(fifo), "FIFO")
    huge = tmp_path / "huge.yml"
    huge.write_text("# padding\n" * 500_000)
    one_line_error(cli("validate", huge), str(huge), "larger than 4 MiB")


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yml"
    path.write_text(BOMB + "name: x\n")
    assert len(BOMB) < 500  # 9**9 values once expanded
    one_line_error(cli("validate", path), f"{path}:", "expands to more than 100,000 values")


def _lint_folder(tmp_path: Path) -> Path:
    root = tmp_path / "nodes"
    (root / "consul-1").mkdir(parents=True)
    (root / "consul-1" / "gitlab.rb").write_text("roles ['consul_role']\nconsul['enable'] = true\n")
    (root / "bad").mkdir()
    return root


@pytest.mark.parametrize("kind", ["symlink loop", "FIFO", "folder", "/dev/zero", "8 MB one line"])
def test_lint_names_a_node_file_it_cannot_read(tmp_path: Path, kind: str) -> None:
    root = _lint_folder(tmp_path)
    rb = root / "bad" / "gitlab.rb"
    if kind == "symlink loop":
        rb.symlink_to(rb)
    elif kind == "FIFO":
        os.mkfifo(rb)
    elif kind == "folder":
        rb.mkdir()
    elif kind == "/dev/zero":
        rb.symlink_to("/dev/zero")
    else:
        rb.write_text("gitlab_rails['x'] = [" + "1," * 4_000_000 + "]\n")
    expected = {"symlink loop": "symbolic links", "FIFO": "FIFO", "folder": "folder", "8 MB one line": "larger than"}
    fragment = expected.get(kind, "outside the linted folder")  # /dev/zero: outside, before it is a device
    one_line_error(cli("lint", root), str(rb), fragment)


def test_lint_does_not_follow_symlinks_out_of_the_folder(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "gitlab.rb").write_text("roles ['redis_master_role']\n")
    root = _lint_folder(tmp_path)
    (root / "bad" / "gitlab.rb").symlink_to(outside / "gitlab.rb")
    one_line_error(cli("lint", root), str(root / "bad" / "gitlab.rb"), "outside the linted folder")
    (root / "bad" / "gitlab.rb").unlink()
    (root / "bad").rmdir()
    (root / "bad").symlink_to(outside)
    one_line_error(cli("lint", root), str(root / "bad"), "outside the linted folder")
    # a symlink that stays inside is fine
    (root / "bad").unlink()
    (root / "copy").symlink_to(root / "consul-1")
    assert cli("lint", root).returncode in (0, 1)
