"""Watch definitions and the kv export document: pydantic models with errors naming the file and field."""

from __future__ import annotations

import base64
import json

import pytest

from gitlab_ha.discovery.definitions import parse_watch, parse_watch_spec
from gitlab_ha.discovery.kv_export import parse_export
from gitlab_ha.errors import InputError


def test_watch_keys_in_any_spelling_and_booleans_as_words() -> None:
    watch = parse_watch(
        {"Type": "service", "Service": "pg", "Passing_Only": "false", "Tag": "primary", "args": ["h"]}, "w"
    )
    assert (watch.kind, watch.service, watch.passing_only, watch.tags, watch.argv) == (
        "service",
        "pg",
        False,
        ("primary",),
        ["h"],
    )
    assert parse_watch_spec({"type": "service", "service": "pg", "passingonly": "TRUE"}, "w").passing_only is True
    legacy = parse_watch({"type": "nodes", "handler": "echo hi"}, "w")
    assert legacy.argv == ["/bin/sh", "-c", "echo hi"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"type": "key", "key": ["a", "b"], "args": ["h"]}, "f: watches[0].key: expected a string, got array"),
        (
            {"type": "service", "service": "pg", "passingonly": 1, "args": ["h"]},
            "watches[0].passingonly: expected a boolean, got number",
        ),
        (
            {"type": "service", "service": "pg", "tag": [1], "args": ["h"]},
            "watches[0].tag[0]: expected a string, got number",
        ),
        ({"type": "key", "key": "k", "args": ["h", 2]}, "watches[0].args[1]: expected a string, got number"),
        ({"type": "keys"}, "watch type must be one of"),
        ({"type": "keyprefix", "args": ["h"]}, "a keyprefix watch needs prefix"),
        ({"type": "checks", "service": "a", "state": "any", "args": ["h"]}, "service or state, not both"),
        ({"type": "nodes"}, "a watch needs args (or handler)"),
        ({"type": "nodes", "args": ["h"], "handler_type": "http"}, "not supported (use script)"),
        ("nodes", "f: watches[0]: expected an object, got string"),
    ],
)
def test_bad_watches_are_located(params: object, message: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_watch(params, "f: watches[0]")
    assert message in str(exc.value)


def test_kv_export_document() -> None:
    value = base64.b64encode(b"v").decode()
    entries = parse_export(json.dumps([{"key": "a", "flags": 3, "value": value}, {"key": "b"}]), "@x.json")
    assert [(e.key, e.flags, e.value) for e in entries] == [("a", 3, b"v"), ("b", 0, b"")]
    for doc, message in [
        ("{", "@x.json: invalid JSON"),
        ("{}", "expected a list"),
        ('[{"key": 1}]', "@x.json[0]: key: each entry needs a string key"),
        ('[{"key": "a", "value": "%%"}]', "@x.json[0]: value: value is not valid base64"),
        ('[{"key": "a", "flags": -1}]', "flags must be a non-negative integer"),
        ('[{"key": "a", "flags": true}]', "flags must be a non-negative integer"),
    ]:
        with pytest.raises(InputError) as exc:
            parse_export(doc, "@x.json")
        assert message in str(exc.value)
