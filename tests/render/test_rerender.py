"""Re-rendering never silently loses the user's files (added to out/, or edited by hand), and the hidden
folders a killed render leaves behind (holding secrets) are removed by the next render."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from tests.helpers import cli
from tests.render.conftest import Rendered


def _copy(r: Rendered, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(r.out, out)
    return out


def test_files_added_or_edited_are_named_and_kept_unless_force(
    rendered: Callable[[str, str], Rendered], tmp_path: Path
) -> None:
    r = rendered("seed-15", "16.6.0")
    out = _copy(r, tmp_path)
    assert cli("render", r.topology, "--secrets", r.store, "-o", out).returncode == 0  # untouched: replaced
    (out / "NOTES.md").write_text("my notes\n")
    rb = next(out.glob("*/gitlab.rb"))
    rb.write_text(rb.read_text() + "# hand edit\n")
    done = cli("render", r.topology, "--secrets", r.store, "-o", out)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    edited = rb.relative_to(out).as_posix()
    assert "added: NOTES.md" in done.stderr and f"edited since the last render: {edited}" in done.stderr
    assert "--force" in done.stderr
    assert (out / "NOTES.md").read_text() == "my notes\n" and rb.read_text().endswith("# hand edit\n")
    done = cli("render", r.topology, "--secrets", r.store, "-o", out, "--force")
    assert done.returncode == 0, done.stderr
    assert not (out / "NOTES.md").exists() and not rb.read_text().endswith("# hand edit\n")


def test_a_killed_renders_hidden_folders_are_removed(rendered: Callable[[str, str], Rendered], tmp_path: Path) -> None:
    """A SIGKILL between mkdtemp and the rename leaves `.out.XXXXXXXX` (and `.out.old.XXXXXXXX`) holding
    secret files; they are made here as mkdtemp names them."""
    r = rendered("seed-15", "16.6.0")
    out = _copy(r, tmp_path)
    leftovers = [tmp_path / ".out.k1ll3d_a", tmp_path / ".out.old.z9y8x7w6"]
    for folder in leftovers:
        (folder / "gitaly-1").mkdir(parents=True, mode=0o700)
        (folder / "gitaly-1" / "gitlab.rb").write_text("gitaly['configuration'] = { auth: { token: 'secret' } }\n")
    mine = tmp_path / ".out.backup"  # not a name mkdtemp makes: the user's, kept
    mine.mkdir()
    done = cli("render", r.topology, "--secrets", r.store, "-o", out)
    assert done.returncode == 0, done.stderr
    assert not any(folder.exists() for folder in leftovers)
    assert mine.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.backup", "out"]
