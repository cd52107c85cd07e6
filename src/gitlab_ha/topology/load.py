"""Load a topology file: YAML → `Topology`, with every error pointing at its file and line.

PyYAML's composer keeps the line of every node; we walk that tree with the path pydantic or the
cross-node validator reports, so a message reads `cluster.yml:42: nodes[3] (gitaly-1).roles[1]: …`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import ValidationError

from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import read_user_text
from gitlab_ha.topology.model import Topology
from gitlab_ha.topology.roles import Role
from gitlab_ha.topology.validate import Path, Problem, validate


class TopologyInvalid(InputError):
    """One or more errors in a topology file; each is a complete one-line message."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(lines[0])
        self.lines = lines

    def __str__(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Loaded:
    topology: Topology
    warnings: list[str] = field(default_factory=list)


def load_topology(path: FsPath) -> Loaded:
    """Read, parse and validate `path`. Raises `InputError` naming the file, line and field."""
    return load_text(read_user_text(path), str(path))


def load_text(text: str, filename: str) -> Loaded:
    try:
        root = _compose(text, filename)
        data = _construct(text, filename) if root is not None else None
    except RecursionError:
        raise InputError("YAML nested too deeply", filename) from None
    if not isinstance(data, dict):
        raise InputError("a topology file is a YAML mapping with 'name', 'gitlab' and 'nodes'", f"{filename}:1")
    locator = _Locator(root, data, filename)
    try:
        topo = Topology.model_validate(data)
    except ValidationError as exc:
        raise TopologyInvalid([locator.pydantic_line(err) for err in exc.errors()]) from None
    problems = validate(topo)
    errors = [locator.problem_line(p) for p in problems if p.severity == "error"]
    if errors:
        raise TopologyInvalid(errors)
    return Loaded(topo, [locator.problem_line(p) for p in problems if p.severity == "warning"])


def _compose(text: str, filename: str) -> yaml.Node | None:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, filename, "YAML syntax") from None
    if root is not None:
        _no_duplicate_keys(root, filename)
    return root


def _construct(text: str, filename: str) -> Any:
    """Plain data only: tags such as `!!python/object` are refused (self-referencing aliases already were)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, filename, "YAML") from None


def _yaml_error(exc: yaml.YAMLError, filename: str, what: str) -> InputError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        return InputError(f"{what}: {exc.problem or exc.context}", where)
    return InputError(f"{what}: {exc}", filename)


MAX_NODES = 100_000  # values after aliases are expanded; the 50k reference architecture has under 2,000


def _no_duplicate_keys(root: yaml.Node, filename: str) -> None:
    """Refuse a key given twice in one mapping, an alias to a node that contains it, and a document
    whose aliases expand it past MAX_NODES values (a few hundred bytes of `&a [*b, *b, …]` can stand for
    billions: every later step would walk them). Each node is checked once, whatever refers to it."""
    sizes: dict[int, int] = {}  # node -> its size once expanded

    def walk(node: yaml.Node, inside: frozenset[int]) -> int:
        if id(node) in inside:
            raise InputError(
                "an alias refers to a node that contains it (a recursive anchor); write the value out",
                f"{filename}:{node.start_mark.line + 1}",
            )
        if id(node) in sizes:
            return sizes[id(node)]
        inside = inside | {id(node)}
        size = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                name = str(key.value)
                if name in seen:
                    raise InputError(
                        f"key {name!r} appears twice (first at line {seen[name]})",
                        f"{filename}:{key.start_mark.line + 1}",
                    )
                seen[name] = key.start_mark.line + 1
                size += 1 + walk(value, inside)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                size += walk(item, inside)
        if size > MAX_NODES:
            raise InputError(
                f"the document expands to more than {MAX_NODES:,} values (YAML aliases); write it out",
                f"{filename}:{node.start_mark.line + 1}",
            )
        sizes[id(node)] = size
        return size

    walk(root, frozenset())


class _Locator:
    def __init__(self, root: yaml.Node | None, data: dict[str, Any], filename: str) -> None:
        self.root = root
        self.data = data
        self.filename = filename

    def line(self, path: Path) -> int:
        node = self.root
        line = 1
        for part in path:
            if node is None:
                break
            line = node.start_mark.line + 1
            node = _child(node, part)
        if node is not None:
            line = node.start_mark.line + 1
        return line

    def label(self, path: Path) -> str:
        out = ""
        for i, part in enumerate(path):
            if isinstance(part, int):
                out += f"[{part}]"
                if path[:i] == ("nodes",):
                    name = _node_name(self.data, part)
                    if name:
                        out += f" ({name})"
            else:
                out += f".{part}" if out else part
        return out or "(top level)"

    def pydantic_line(self, err: Any) -> str:
        path: Path = tuple(p for p in err["loc"] if isinstance(p, (str, int)))
        message = _pydantic_message(err)
        return f"{self.filename}:{self.line(path)}: {self.label(path)}: {message}"

    def problem_line(self, problem: Problem) -> str:
        return f"{self.filename}:{self.line(problem.path)}: {self.label(problem.path)}: {problem.message}"


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if key.value == part:
                child: yaml.Node = value
                return child
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item: yaml.Node = node.value[part]
        return item
    return None


def _node_name(data: dict[str, Any], index: int) -> str | None:
    nodes = data.get("nodes")
    if isinstance(nodes, list) and 0 <= index < len(nodes) and isinstance(nodes[index], dict):
        name = nodes[index].get("name")
        return str(name) if name is not None else None
    return None


def _pydantic_message(err: Any) -> str:
    kind = err.get("type", "")
    value = err.get("input")
    if kind == "enum" and "roles" in err["loc"]:
        known = ", ".join(r.value for r in Role)
        return f"unknown role {value!r}; known roles: {known}"
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in {"ip_any_address", "ip_v4_address", "ip_v6_address"}:
        return f"{value!r} is not a valid IP address"
    message = str(err.get("msg", "invalid"))
    return message.removeprefix("Value error, ")
