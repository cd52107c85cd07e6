"""Render presets once per test session, through the real CLI, with a real secrets store."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml

from gitlab_ha.rubycfg import parse_file
from gitlab_ha.rubycfg.document import Document
from gitlab_ha.secrets.store import SecretStore
from tests.helpers import cli


@dataclass
class Rendered:
    preset: str
    version: str
    topology: Path
    store: Path
    out: Path
    outputs: list[str]  # stdout + stderr of every command that made it

    def docs(self) -> dict[str, Document]:
        """node name → parsed gitlab.rb."""
        return {p.parent.name: parse_file(p) for p in sorted(self.out.glob("*/gitlab.rb"))}

    def secret_values(self) -> list[str]:
        return SecretStore.load(self.store).values()


def role_names(doc: Document) -> list[str]:
    return [ref.name for ref in doc.roles()]


class Cluster:
    """A rendered cluster read as a user would: each node's parsed gitlab.rb, the topology, the secrets."""

    def __init__(self, r: Rendered) -> None:
        self.r = r
        self.docs = r.docs()
        data = yaml.safe_load(r.topology.read_text())
        self.nodes: list[dict[str, Any]] = data["nodes"]
        self.redis_primary: str | None = data.get("redis_primary")
        self.secrets = SecretStore.load(r.store)

    def ips(self, role: str) -> list[str]:
        return [n["address"] for n in self.nodes if role in n["roles"]]

    def names(self, role: str) -> list[str]:
        return [n["name"] for n in self.nodes if role in n["roles"]]

    def value(self, node: str, key: str) -> Any:
        found = self.docs[node].get(key)
        return None if found is None else found.to_python()

    def storages(self, node: str) -> dict[str, Any]:
        doc: Document = self.docs[node]
        value = self.value(node, "gitlab_rails['repositories_storages']")
        if value is None:
            call = next(c for c in doc.calls if c.name == "git_data_dirs")
            value = call.args[0].to_python()
        assert isinstance(value, dict)
        return value


def make_topology(tmp: Path, preset: str, version: str, tls: str = "off") -> Path:
    path = tmp / "cluster.yml"
    result = cli("init", "--preset", preset, "-o", path)
    assert result.returncode == 0, result.stderr
    data = yaml.safe_load(path.read_text())
    data["gitlab"]["version"] = version
    if tls != "off":
        data.setdefault("consul", {})["tls"] = tls
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def render_preset(tmp: Path, preset: str, version: str, tls: str = "off") -> Rendered:
    topo = make_topology(tmp, preset, version, tls)
    store = tmp / "secrets.json"
    outputs: list[str] = []
    result = cli("secrets", "init", "--store", store)
    assert result.returncode == 0, result.stderr
    outputs.append(result.stdout + result.stderr)
    if tls != "off":
        result = cli("secrets", "tls", "--store", store, "--topology", topo)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
    out = tmp / "out"
    result = cli("render", topo, "--secrets", store, "-o", out)
    assert result.returncode == 0, result.stderr
    outputs.append(result.stdout + result.stderr)
    return Rendered(preset, version, topo, store, out, outputs)


# The presets and releases most render tests read: the seed, a 3k and a 10k (Redis cache) cluster,
# at the seed's release and the newest.
CASES = [(p, v) for p in ("seed-15", "ref-3k", "ref-10k") for v in ("16.6.0", "19.3.0")]


@pytest.fixture(params=CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def cluster(request: pytest.FixtureRequest, rendered: Callable[[str, str], Rendered]) -> Cluster:
    preset, version = request.param
    return Cluster(rendered(preset, version))


def copy_render(r: Rendered, tmp: Path) -> Path:
    """A copy of a render to edit (the session's render stays as it is)."""
    out = tmp / "out"
    shutil.copytree(r.out, out)
    return out


class Render(Protocol):
    def __call__(self, preset: str, version: str, tls: str = "off") -> Rendered: ...


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Render:
    cache: dict[tuple[str, str, str], Rendered] = {}

    def get(preset: str, version: str, tls: str = "off") -> Rendered:
        """The render of `preset` at `version`, with topology `consul.tls: tls` (its files then from `secrets tls`)."""
        key = (preset, version, tls)
        if key not in cache:
            cache[key] = render_preset(tmp_path_factory.mktemp(f"{preset}-{version}-{tls}"), preset, version, tls)
        return cache[key]

    return get


@dataclass
class RunbookStep:
    number: int
    title: str
    nodes: list[str]  # node names from the step's "On:" line
    text: str  # the step's prose
    commands: list[str]  # lines of its first code block
    check: list[str]  # lines of its "Check:" code block


def runbook_steps(text: str) -> list[RunbookStep]:
    """RUNBOOK.md's numbered steps, read back: title, nodes, prose, commands and check."""
    steps: list[RunbookStep] = []
    for chunk in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        heading, _, body = chunk.partition("\n")
        number = re.match(r"(\d+)\. (.*)", heading)
        if number is None:
            continue
        on = re.search(r"^On: (.*)$", body, flags=re.MULTILINE)
        blocks = re.findall(r"```sh\n(.*?)```", body, flags=re.DOTALL)
        prose = re.sub(r"```sh\n.*?```", "", body, flags=re.DOTALL)
        check = re.search(r"Check:\s*```sh\n(.*?)```", body, flags=re.DOTALL)
        steps.append(
            RunbookStep(
                int(number.group(1)),
                number.group(2),
                re.findall(r"`([^`]+)` \(", on.group(1)) if on else [],
                prose,
                blocks[0].splitlines() if blocks else [],
                check.group(1).splitlines() if check else [],
            )
        )
    return steps


def runbook_sections(text: str) -> dict[str, str]:
    """Every `## ` section of RUNBOOK.md by its heading (numbered steps included), with its body."""
    out: dict[str, str] = {}
    for chunk in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        heading, _, body = chunk.partition("\n")
        out[heading.strip()] = body
    return out
