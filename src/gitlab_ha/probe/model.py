"""What a collector reports: a component, its verdict, and one row per thing it looked at."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"
    NOT_RUNNABLE = "not runnable here"

    @property
    def healthy(self) -> bool:
        return self in (Verdict.OK, Verdict.NOT_RUNNABLE)


@dataclass
class Row:
    node: str
    what: str
    state: str
    detail: str = ""
    ok: bool = True


@dataclass
class Component:
    name: str
    verdict: Verdict
    summary: str
    rows: list[Row] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "component": self.name,
            "verdict": self.verdict.value,
            "summary": self.summary,
            "rows": [row.__dict__ for row in self.rows],
        }


def worst(rows: list[Row], down_if_none: bool = True) -> Verdict:
    if not rows or not any(r.ok for r in rows):
        return Verdict.DOWN if down_if_none else Verdict.DEGRADED
    return Verdict.OK if all(r.ok for r in rows) else Verdict.DEGRADED
