"""Service, check and watch definitions and the kv export document: pydantic models with errors naming the
file and field."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import ValidationError

from gitlab_ha.discovery.config import parse_service
from gitlab_ha.discovery.definitions import CheckDefinition, ServiceDefinition, parse_watch, parse_watch_spec
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
        ({"type": "nodes", "args": ["h"], "stale": True}, "invalid watch parameter 'stale'"),
        ({"type": "checks", "node": "db-1", "args": ["h"]}, "invalid watch parameter 'node'"),
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


def test_service_and_check_keys_in_any_spelling_come_out_canonical() -> None:
    svc, checks = parse_service(
        {
            "Name": "web",
            "enable_tag_override": "false",
            "PORT": "8080",
            "meta": {"k": "v"},
            "Token": "ignored",
            "Namespace": "default",
            "check": {"script_args": ["/bin/true"], "Interval": "90s", "deregister_critical_service_after": "1m"},
        },
        "w",
    )
    assert svc == {
        "Service": "web",
        "EnableTagOverride": False,
        "Port": 8080,
        "Meta": {"k": "v"},
        "ID": "web",
        "Tags": [],
        "Address": "",
        "Weights": {"Passing": 1, "Warning": 1},
    }
    assert list(svc)[:4] == ["Service", "EnableTagOverride", "Port", "Meta"]  # the input's order, then defaults
    assert checks == [
        {
            "Args": ["/bin/true"],
            "Interval": "1m30s",
            "DeregisterCriticalServiceAfter": "1m0s",
            "ServiceID": "web",
            "CheckID": "service:web",
            "Name": "Service 'web' check",
            "Type": "script",
        }
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": "web", "ID": ["a", "b"]}, "f: service.ID: expected a string, got array"),
        ({"name": "web", "Port": True}, "f: service.Port: expected an integer, got bool"),
        (
            {"name": "web", "enable_tag_override": "no"},
            "f: service.enable_tag_override: expected a boolean, got string",
        ),
        ({"name": "web", "Meta": {"a": 1}}, "f: service.Meta.a: expected a string, got number"),
        ({"name": "web", "tags": ["a", 2]}, "f: service.tags[1]: expected a string, got number"),
        (
            {"name": "web", "check": {"http": "http://x/", "interval": "9s", "Header": {"X-A": ["ok", 3]}}},
            "f: service.check.Header.X-A[1]: expected a string, got number",
        ),
        ({"name": "web", "check": {"TTL": "-1s"}}, "f: service.check.TTL: must not be negative"),
        ({"name": "web", "Colour": "blue"}, "f: service: invalid key 'Colour'"),
        ({"name": "web", "id": "a", "ID": "b"}, "f: service: key 'ID' given twice"),
        ({"name": "web", "port": "x", "colour": 1}, "f: service.port: expected an integer, got string"),
        ({"name": "web", "colour": 1, "port": "x"}, "f: service: invalid key 'colour'"),
        (
            {"name": "web", "Namespace": "team-a"},
            "f: service: Namespace 'team-a' is not implemented by this agent (Consul Enterprise)",
        ),
        (
            {"name": "web", "check": {"ttl": "9s", "partition": "p"}},
            "f: service.check: partition 'p' is not implemented by this agent (Consul Enterprise)",
        ),
        (["web"], "f: service: expected an object, got array"),
    ],
)
def test_bad_services_are_located_as_spelled(raw: object, message: str) -> None:
    """The error names the key as the input spelled it; of several faults, the first key in the input."""
    with pytest.raises(InputError) as exc:
        parse_service(raw, "f: service")
    assert str(exc.value) == message


def test_the_models_state_the_shape_alone() -> None:
    with pytest.raises(ValidationError):
        ServiceDefinition.model_validate({"name": "web", "colour": 1})
    with pytest.raises(ValidationError):
        CheckDefinition.model_validate({"name": "c", "interval": "soon"})
    assert CheckDefinition.model_validate({"Check_ID": "c", "ttl": "90s"}).TTL == "1m30s"
