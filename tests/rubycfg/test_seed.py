"""The seed blog's gitlab.rb snippets: all parse, except Praefect's unclosed `virtual_storage` hash."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from gitlab_ha.rubycfg import RubySyntaxError, parse
from tests.conftest import SEEDS

SEED = SEEDS / "000_2207fb396714e06b.txt"
HEADER = "## /etc/gitlab/gitlab.rb"


@dataclass
class Snippet:
    first_line: int  # the seed's line number of the snippet's first line
    text: str


def is_prose(line: str) -> bool:
    """A line with Korean text that is not inside a string or a comment."""
    for char in line:
        if char in "'\"#":
            return False
        if not char.isascii():
            return True
    return False


def snippets() -> list[Snippet]:
    """Each block after a `## /etc/gitlab/gitlab.rb` header, up to the next line of prose or shell.


    Lines holding only (no-break) spaces are blog formatting between paragraphs: they are blanked
    here (a real gitlab.rb with a stray U+00A0 is an error, tested in test_errors.py), and so are the
    `...` lines with which two excerpts elide the rest of the file.
    """
    lines = SEED.read_text(encoding="utf-8").splitlines()
    found: list[Snippet] = []
    for index, line in enumerate(lines):
        if line.strip() != HEADER:
            continue
        body: list[str] = []
        for following in lines[index + 1 :]:
            stripped = following.strip()
            if stripped and (is_prose(stripped) or stripped.startswith("$ ")):
                break
            body.append("" if stripped in ("", "...") else following)
        found.append(Snippet(index + 2, "\n".join(body).rstrip() + "\n"))
    return found


def test_the_seed_has_eleven_gitlab_rb_snippets() -> None:
    assert len(snippets()) == 11


def test_praefect_virtual_storage_error_points_at_the_stray_bracket() -> None:
    (praefect,) = [s for s in snippets() if "virtual_storage" in s.text]
    with pytest.raises(RubySyntaxError) as info:
        parse(praefect.text, "praefect.rb")
    error = info.value
    seed_line = praefect.first_line + error.line - 1
    seed_lines = SEED.read_text(encoding="utf-8").splitlines()
    assert seed_line == 623
    assert seed_lines[seed_line - 1].strip() == "],"
    assert error.column == 7
    opened = re.fullmatch(r"expected '}' to close '\{' opened at line (\d+), found '\]'", error.message)
    assert opened is not None, error.message
    opener = praefect.first_line + int(opened.group(1)) - 1
    assert opener == 604
    assert seed_lines[opener - 1].strip() == "{"


def test_praefect_snippet_recovers_after_the_error() -> None:
    (praefect,) = [s for s in snippets() if "virtual_storage" in s.text]
    doc = parse(praefect.text, "praefect.rb", recover=True)
    assert len(doc.errors) == 1
    flat = doc.flat()
    assert flat["praefect['enable']"].to_python() is True
    assert flat["node_exporter['listen_address']"].to_python() == "0.0.0.0:9100"
    assert doc.get("consul['configuration']['retry_join']") is not None


def test_every_other_snippet_parses() -> None:
    others = [s for s in snippets() if "virtual_storage" not in s.text]
    assert len(others) == 10
    for snippet in others:
        doc = parse(snippet.text, f"seed:{snippet.first_line}")
        assert doc.statements, snippet.first_line


def test_rails_snippet_values() -> None:
    (rails,) = [s for s in snippets() if "git_data_dirs" in s.text]
    doc = parse(rails.text, "rails.rb")
    assert [r.name for r in doc.roles()] == ["sidekiq_role", "application_role"]
    queue_groups = doc.get("sidekiq['queue_groups']")
    assert queue_groups is not None
    assert queue_groups.to_python() == ["*", "*"]
    (git_data_dirs,) = [c for c in doc.calls if c.name == "git_data_dirs"]
    assert git_data_dirs.args[0].to_python() == {
        "default": {"gitaly_address": "tcp://10.10.1.233:2305", "gitaly_token": "test123"}
    }
    hosts = doc.get("gitlab_rails['db_load_balancing']['hosts']")
    assert hosts is not None
    assert hosts.to_python() == ["10.10.1.170", "10.10.1.189"]
    bucket = doc.get("gitlab_rails['object_store']['objects']['lfs']['bucket']")
    assert bucket is not None
    assert bucket.to_python() == "각 환경에 맞는 버킷 이름킷"


def test_database_snippet_values() -> None:
    database = next(s for s in snippets() if "patroni_role" in s.text)
    doc = parse(database.text, "db.rb")
    flat = doc.flat()
    assert flat["patroni['postgresql']['max_wal_senders']"].to_python() == 5
    assert flat["pgbouncer['users']['gitlab-consul']['password']"].to_python() == "2deabc6a0997166c753c1537890f27c1"
    assert flat["pgbouncer['databases']['gitlabhq_production']['host']"].to_python() == "127.0.0.1"
    assert doc.get("consul['services']") is not None
