"""Clean renders to lint: the render tests' session fixture, shared here."""

from __future__ import annotations

from tests.render.conftest import Rendered, rendered

__all__ = ["Rendered", "rendered"]
