"""The one-of-each rule, kept by reading the code (ast): only `proc/` starts processes, and only `proc/`
(its HTTP readiness probe) speaks HTTP with the standard library; Consul is reached through
`discovery/client.py` (py-consul). A new way in would need a named exception here, with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "gitlab_ha"

# module -> what only it may use. Keep each exception named, with why.
FORBIDDEN = {
    "subprocess.Popen": "start processes through gitlab_ha.proc (Process.spawn)",
    "subprocess.run": "start processes through gitlab_ha.proc (Process.spawn / aio.run)",
    "subprocess.call": "start processes through gitlab_ha.proc",
    "subprocess.check_call": "start processes through gitlab_ha.proc",
    "subprocess.check_output": "start processes through gitlab_ha.proc",
    "asyncio.create_subprocess_exec": "start processes through gitlab_ha.proc (AsyncProcess.spawn / aio.run)",
    "asyncio.create_subprocess_shell": "start processes through gitlab_ha.proc",
    "os.system": "start processes through gitlab_ha.proc",
    "os.fork": "start processes through gitlab_ha.proc",
    "urllib.request": "reach Consul through gitlab_ha.discovery.client; probe HTTP with gitlab_ha.proc.wait_http",
    "http.client": "reach Consul through gitlab_ha.discovery.client; probe HTTP with gitlab_ha.proc.wait_http",
    # not a layering rule but a hazard kept out the same way: on Python 3.11 wait_for returns the result
    # of an awaitable that completes as its task is cancelled and drops the cancellation; a task stopped
    # that way runs on, and whoever waits for it (an agent's shutdown) waits until SIGKILL
    "asyncio.wait_for": "wait with `async with asyncio.timeout(…)` (discovery.waits.within)",
}
ALLOWED: dict[str, set[str]] = {
    # the toolkit itself: its launch core and its HTTP readiness probe
    "proc": set(FORBIDDEN) - {"asyncio.wait_for"},
    # Consul runs `patroni check-leader` as a new process every check interval: the standard library's
    # HTTP client keeps its start-up short (no client library import), as Omnibus' own check does.
    "lab/ctl.py": {"http.client"},
}


def _uses(tree: ast.AST) -> set[tuple[str, int]]:
    """Dotted names a module imports or reaches (`subprocess.Popen`, `from http import client`)."""
    found: set[tuple[str, int]] = set()
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add((alias.name, node.lineno))
                aliases[(alias.asname or alias.name).split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                found.add((f"{node.module}.{alias.name}", node.lineno))
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            parts = [node.attr]
            base: ast.expr = node.value
            while isinstance(base, ast.Attribute):
                parts.insert(0, base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id in aliases:
                found.add((".".join([aliases[base.id], *parts]), node.lineno))
    return found


def _violations() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        allowed = ALLOWED.get(rel.parts[0], set()) if len(rel.parts) > 1 else set()
        allowed |= ALLOWED.get(rel.as_posix(), set())
        for name, line in sorted(_uses(ast.parse(path.read_text(), str(path)))):
            for banned, why in FORBIDDEN.items():
                if (name == banned or name.startswith(banned + ".")) and banned not in allowed:
                    out.append(f"{rel}:{line}: {name}: {why}")
    return out


def test_processes_and_http_go_through_one_toolkit_and_one_client() -> None:
    assert _violations() == []


def test_the_scan_sees_each_spelling(tmp_path: Path) -> None:
    code = (
        "import subprocess, asyncio\nimport urllib.request as u\nfrom http import client\n"
        "from subprocess import Popen\nsubprocess.Popen(['x'])\nasyncio.create_subprocess_exec('x')\n"
    )
    names = {name for name, _ in _uses(ast.parse(code))}
    assert {"subprocess.Popen", "asyncio.create_subprocess_exec", "urllib.request", "http.client"} <= names
    assert "asyncio.wait_for" in {name for name, _ in _uses(ast.parse("import asyncio\nasyncio.wait_for(x, 1)\n"))}
