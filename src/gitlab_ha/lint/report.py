"""Reporters: text grouped by node (colour on a terminal), JSON, and SARIF 2.1.0."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from gitlab_ha.lint.engine import all_rules
from gitlab_ha.lint.findings import Finding, Severity

_COLOURS = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.NOTE: "cyan"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://example.invalid/gitlab-ha/docs/lint.md"


def summary(findings: Sequence[Finding]) -> dict[str, int]:
    counts = Counter(f.severity.value for f in findings)
    return {s.value: counts.get(s.value, 0) for s in Severity}


def print_text(findings: Sequence[Finding], console: Console) -> None:
    for node, group in groupby(findings, key=lambda f: f.node):
        console.print(f"[bold]{escape(node or 'cluster')}[/bold]")
        last_hint = ""
        for f in group:
            colour = _COLOURS[f.severity]
            console.print(
                f"  {escape(f.where())}: [{colour}]{f.severity.value}[/{colour}] [dim]{f.rule}[/dim] {escape(f.message)}"
            )
            if f.hint != last_hint:  # the same advice once per run of findings
                console.print(f"    [dim]fix:[/dim] {escape(f.hint)}")
            last_hint = f.hint
    counts = summary(findings)
    console.print(f"{counts['error']} errors, {counts['warning']} warnings, {counts['note']} notes")


def to_json(findings: Sequence[Finding]) -> str:
    return json.dumps({"findings": [f.to_dict() for f in findings], "summary": summary(findings)}, indent=2)


def to_sarif(findings: Sequence[Finding], version: str, root: Path | None = None) -> dict[str, Any]:
    """SARIF 2.1.0. Every result has a file and a region (code-scanning views require both: a finding
    about a whole node points at line 1 of its gitlab.rb); notes about the run itself, with no node,
    are tool execution notifications. `root` is the linted folder, the base of every result's URI."""
    rules = list(all_rules())
    index = {r.id: i for i, r in enumerate(rules)}
    results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    for f in findings:
        if not f.file and not f.node:
            notifications.append(
                {"descriptor": {"id": f.rule}, "level": f.severity.value, "message": {"text": f.message}}
            )
            continue
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": f.severity.value,
            "message": {"text": f"{f.message}. Fix: {f.hint}"},
        }
        physical: dict[str, Any] = {
            "artifactLocation": {"uri": f.file or f"{f.node}/gitlab.rb", "uriBaseId": "LINTROOT"},
            "region": {"startLine": max(f.line, 1), "startColumn": max(f.column, 1)},
        }
        result["locations"] = [{"physicalLocation": physical}]
        if f.node:
            result["properties"] = {"node": f.node}
        results.append(result)
    run_extra: dict[str, Any] = {}
    if root is not None:
        run_extra["originalUriBaseIds"] = {"LINTROOT": {"uri": root.resolve().as_uri() + "/"}}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "gitlab-ha lint",
                        "version": version,
                        "informationUri": INFO_URI,
                        "rules": [
                            {
                                "id": r.id,
                                "name": r.check.__name__,
                                "shortDescription": {"text": r.title},
                                "help": {"text": r.hint},
                                "defaultConfiguration": {"level": r.severity.value},
                            }
                            for r in rules
                        ],
                    }
                },
                "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notifications}],
                "results": results,
                **run_extra,
            }
        ],
    }
