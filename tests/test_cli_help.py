"""Every command has --help with an example; bad usage exits 2."""

from __future__ import annotations

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
