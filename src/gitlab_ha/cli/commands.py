"""Registry of the verbs: each module listed here adds its commands or sub-apps to the root app."""

from __future__ import annotations

import importlib

import typer

# One module per verb under gitlab_ha.cli; each exposes `register(app: typer.Typer) -> None`.
VERB_MODULES: list[str] = [
    "topology_cmd",
    "render_cmd",
    "secrets_cmd",
    "consul_cmd",
    "lint_cmd",
    "explain_cmd",
    "lab_cmd",
    "status_cmd",
    "drill_cmd",
]


def register(app: typer.Typer) -> None:
    for module_name in VERB_MODULES:
        importlib.import_module(f"gitlab_ha.cli.{module_name}").register(app)
