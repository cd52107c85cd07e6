"""Registry of the verbs: which module adds each top-level command or sub-app to the root app.

Each module under gitlab_ha.cli exposes `register(app: typer.Typer) -> None`. A run that names a verb
imports that verb's module only (click's "lazily loading subcommands" pattern): the lab starts fifteen
`gitlab-ha consul agent` processes at once, and importing every verb (topology models, render, lint, the
drills) cost each of them ~0.8 s of CPU before it served a request. Help, a mistyped verb or no verb at
all import every module, so click lists and suggests them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import typer

# top-level command name -> the module under gitlab_ha.cli that registers it
VERBS: dict[str, str] = {
    "init": "topology_cmd",
    "validate": "topology_cmd",
    "show": "topology_cmd",
    "roles": "topology_cmd",
    "render": "render_cmd",
    "secrets": "secrets_cmd",
    "consul": "consul_cmd",
    "lint": "lint_cmd",
    "explain": "explain_cmd",
    "lab": "lab_cmd",
    "status": "status_cmd",
    "drill": "drill_cmd",
}


def _named_verb(argv: Sequence[str]) -> str | None:
    """The verb a command line names: its first word that is not an option (the root has flags only)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in VERBS else None
    return None


def register(app: typer.Typer, argv: Sequence[str] | None = None) -> None:
    """Add the verbs `argv` (the words after the program name) needs: the one it names, else every verb."""
    verb = _named_verb(argv) if argv is not None else None
    modules = [VERBS[verb]] if verb is not None else list(dict.fromkeys(VERBS.values()))
    for module_name in modules:
        importlib.import_module(f"gitlab_ha.cli.{module_name}").register(app)
