"""Fuzzing the whole lint run (the parser's own fuzz tests live in tests/rubycfg): whatever the node
files hold, lint reports findings and never raises."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitlab_ha.lint.api import lint_folder
from gitlab_ha.lint.findings import Finding, Severity
from tests.render.conftest import Rendered

NODES = ("rails-1", "praefect-1", "gitaly-2", "postgres-1", "consul-redis-1", "internal-lb")
PIECES = st.sampled_from(
    ["{", "}", "[", "]", "'", '"', "=", "=>", ",", "%w(", ")", "nil", "0.0.0.0/0", "10.10.1.999", ":", "#", "\n", "\\"]
)


@st.composite
def edits(draw: st.DrawFn) -> list[tuple[str, int, str, int]]:
    """(node, position fraction in per-mille, inserted text, characters deleted) edits."""
    return draw(
        st.lists(
            st.tuples(
                st.sampled_from(NODES),
                st.integers(0, 1000),
                st.one_of(st.text(max_size=12), st.lists(PIECES, max_size=6).map("".join)),
                st.integers(0, 40),
            ),
            min_size=1,
            max_size=6,
        )
    )


def apply(root: Path, changes: list[tuple[str, int, str, int]]) -> None:
    for node, where, text, delete in changes:
        path = root / node / ("haproxy.cfg" if node == "internal-lb" else "gitlab.rb")
        data = path.read_text()
        cut = len(data) * where // 1000
        path.write_text(data[:cut] + text + data[cut + delete :])


def check(found: list[Finding]) -> None:
    for finding in found:
        assert finding.rule.startswith("GHA") and finding.message and finding.hint
        assert isinstance(finding.severity, Severity)
        assert finding.line >= 0 and finding.column >= 0


def test_random_edits_never_crash(rendered: Callable[[str, str], Rendered]) -> None:
    clean = rendered("seed-15", "16.6.0")

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(changes=edits(), with_topology=st.booleans())
    def run(changes: list[tuple[str, int, str, int]], with_topology: bool) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "out"
            shutil.copytree(clean.out, root)
            apply(root, changes)
            check(lint_folder(root, topology=clean.topology if with_topology else None, version="19.3.0"))

    run()


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(st.text(max_size=300), min_size=1, max_size=4))
def test_arbitrary_files_never_crash(texts: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for index, text in enumerate(texts):
            folder = root / f"10.0.0.{index + 1}"
            folder.mkdir()
            (folder / ("haproxy.cfg" if index == 3 else "gitlab.rb")).write_text(text, errors="surrogatepass")
        check(lint_folder(root))


LITERALS = st.sampled_from(
    [
        "nil",
        "true",
        "false",
        "0",
        "-1",
        "99999999999999999999",
        "[]",
        "{}",
        "[1, 'a']",
        "{ 'a' => 1 }",
        ":sym",
        "%w(a b)",
        "'0.0.0.0/0'",
        "'tcp://[::1]:x'",
        "'10.10.1.233:'",
        "''",
        "1.5",
        "'a' * 3",
        "x.y(1)",
    ]
)
VALUE = re.compile(r"'[^'\n]*'|\b\d+\b|%w\([^)]*\)|\btrue\b|\bfalse\b")


def test_values_of_any_type_never_crash(rendered: Callable[[str, str], Rendered]) -> None:
    """Replace literals with literals of other types: every rule must cope with every value type."""
    clean = rendered("seed-15", "19.3.0")

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        changes=st.lists(
            st.tuples(st.sampled_from(NODES[:-1]), st.integers(0, 10_000), LITERALS), min_size=1, max_size=8
        ),
        with_topology=st.booleans(),
    )
    def run(changes: list[tuple[str, int, str]], with_topology: bool) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "out"
            shutil.copytree(clean.out, root)
            for node, pick, literal in changes:
                path = root / node / "gitlab.rb"
                data = path.read_text()
                spots = list(VALUE.finditer(data))
                spot = spots[pick % len(spots)]
                path.write_text(data[: spot.start()] + literal + data[spot.end() :])
            check(lint_folder(root, topology=clean.topology if with_topology else None))

    run()
