"""Every command has --help with an example; bad usage exits 2."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import typer

from gitlab_ha.cli import commands
from gitlab_ha.cli.main import app
from tests.helpers import cli


def _leaf_commands() -> list[list[str]]:
    commands.register(app)
    root = typer.main.get_command(app)
    out: list[list[str]] = []

    # typer vendors its own click, so test for a group by its `commands` mapping
    def walk(cmd: Any, path: list[str]) -> None:
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
        else:
            out.append(path)

    walk(root, [])
    return out


def test_every_command_has_an_example() -> None:
    leaves = _leaf_commands()
    assert ["render"] in leaves and ["init"] in leaves and ["secrets", "init"] in leaves
    missing = []
    for path in leaves:
        result = cli(*path, "--help")
        assert result.returncode == 0, (path, result.stderr)
        if "Example" not in result.stdout:
            missing.append(" ".join(path))
    assert not missing, f"no example in --help of: {', '.join(missing)}"


def test_unknown_command_exits_2() -> None:
    result = cli("frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_the_verb_registry_names_every_command() -> None:
    fresh = typer.Typer()
    commands.register(fresh)
    root = typer.main.get_command(fresh)
    assert set(root.commands) == set(commands.VERBS)  # type: ignore[attr-defined]


def test_a_named_verb_imports_its_own_module_only() -> None:
    """`gitlab-ha consul …` (fifteen agents at each lab up) loads neither the topology models, the other
    verbs, nor the drills' matplotlib; no verb, or a mistyped one, loads them all."""
    probe = (
        "import sys\n"
        "from gitlab_ha.cli.main import run\n"
        "sys.argv = ['gitlab-ha', *sys.argv[1:]]\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('gitlab_ha.cli.', 'matplotlib', 'psycopg', "
        "'gitlab_ha.topology.model')))), file=sys.stderr)\n"
    )

    def loaded(*argv: str) -> set[str]:
        done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=False)
        return set(done.stderr.split())

    agent = loaded("consul", "agent", "--help")
    assert "gitlab_ha.cli.consul_cmd" in agent
    assert not agent & {"gitlab_ha.cli.render_cmd", "gitlab_ha.cli.drill_cmd", "gitlab_ha.topology.model", "matplotlib"}
    everything = loaded("--help") | loaded("frobnicate")
    assert {f"gitlab_ha.cli.{m}" for m in commands.VERBS.values()} <= everything
    assert "matplotlib" not in everything and "psycopg" not in everything  # loaded by the verbs that draw or probe
