"""What a lint rule reports: one `Finding` per problem, with its place and a fix hint."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


def natural(text: str) -> tuple[tuple[int, str], ...]:
    """A sort key that orders the digit runs of `text` as numbers."""
    return tuple((int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"(\d+)", text) if part)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "note": 2}[self.value]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem. `file` is relative to the linted folder (`10.10.1.242/gitlab.rb`); empty for
    cluster-wide findings. Lines and columns are 1-based; 0 when the finding has no place in a file."""

    rule: str
    severity: Severity
    message: str
    hint: str
    node: str = ""
    file: str = ""
    line: int = 0
    column: int = 0

    def sort_key(self) -> tuple[tuple[tuple[int, str], ...], str, int, int, str]:
        """Cluster-wide findings first, then by node in natural order (10.10.1.21 before 10.10.1.120)."""
        return (natural(self.node), self.file, self.line, self.column, self.rule)

    def where(self) -> str:
        if not self.file:
            return self.node or "cluster"
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data
