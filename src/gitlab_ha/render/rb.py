"""A builder for one node's gitlab.rb: sections of assignments, in a fixed order, with comments.

Two role renderers may set the same key (Redis and Sentinel both need `redis['master_ip']`);
the builder writes it once and refuses two different values, which would be a renderer bug.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitlab_ha.rubycfg.emit import assign, call, format_key


@dataclass
class _Section:
    title: str
    lines: list[str] = field(default_factory=list)


class RbBuilder:
    def __init__(self, header: list[str]) -> None:
        self._header = header
        self._sections: list[_Section] = []
        self._open = 0
        self._values: dict[tuple[str, ...], Any] = {}
        self.keys: list[str] = []

    def section(self, title: str) -> None:
        """Continue in section `title`: a title seen before reopens that section, so each appears once."""
        for index, section in enumerate(self._sections):
            if section.title == title and title:
                self._open = index
                return
        self._sections.append(_Section(title))
        self._open = len(self._sections) - 1

    def _current(self) -> _Section:
        if not self._sections:
            self.section("")
        return self._sections[self._open]

    def set(self, base: str, *keys: str, value: Any, comment: str | None = None) -> None:
        path = (base, *keys)
        if path in self._values:
            if self._values[path] != value:
                raise ValueError(f"renderer bug: {path} set to two different values")
            return
        self._values[path] = value
        self.keys.append(format_key(path))
        text = assign(base, tuple(keys), value)
        if comment:
            text = f"{text}  # {comment}" if "\n" not in text else f"# {comment}\n{text}"
        self._current().lines.append(text)

    def call(self, name: str, *args: Any, comment: str | None = None) -> None:
        text = call(name, *args)
        self._current().lines.append(f"{text}  # {comment}" if comment else text)

    def comment(self, text: str) -> None:
        self._current().lines.extend(f"# {line}".rstrip() for line in text.splitlines())

    def get(self, base: str, *keys: str) -> Any:
        return self._values.get((base, *keys))

    def text(self) -> str:
        out = [f"# {line}".rstrip() for line in self._header]
        for section in self._sections:
            if not section.lines:
                continue
            out.append("")
            if section.title:
                out.append(f"## {section.title}")
            out.extend(section.lines)
        return "\n".join(out) + "\n"
