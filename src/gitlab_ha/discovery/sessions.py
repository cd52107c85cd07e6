"""Sessions: parsing `session/create` bodies like Consul, and read views."""

from __future__ import annotations

import uuid
from typing import Any

from gitlab_ha.discovery.state import JSON, SERF_CHECK, CommandError, SessionCreate, State
from gitlab_ha.discovery.values import norm, parse_duration

TTL_MAX = 86400.0
DEFAULT_LOCK_DELAY = 15.0
LOCK_DELAY_MAX = 60.0  # Consul's maximum lock delay


def parse_create(body: Any, default_node: str, ttl_min: float, at: float) -> SessionCreate:
    """The body of `PUT /v1/session/create` as a command; CommandError (400/500) like Consul."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise CommandError("Request decode failed: expected a JSON object")
    fields = {norm(k): v for k, v in body.items()}
    allowed = {
        "name",
        "node",
        "checks",
        "nodechecks",
        "servicechecks",
        "lockdelay",
        "behavior",
        "ttl",
        "id",
        "namespace",
        "partition",
    }
    unknown = sorted(k for k in body if norm(k) not in allowed)
    if unknown:
        raise CommandError(f"Request decode failed: unknown field {unknown[0]!r}")

    def text(key: str, default: str) -> str:
        value = fields.get(key, default)
        if value is None:
            return default
        if not isinstance(value, str):
            raise CommandError(f"Request decode failed: {key} must be a string")
        return value

    def str_list(key: str) -> list[str] | None:
        value = fields.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise CommandError(f"Request decode failed: {key} must be a list of strings")
        return list(value)

    behavior = text("behavior", "release") or "release"
    if behavior not in ("release", "delete"):
        raise CommandError(f"Invalid Behavior setting '{behavior}'", 500)
    lock_delay = DEFAULT_LOCK_DELAY
    if "lockdelay" in fields:
        raw = fields["lockdelay"]
        try:
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                # Consul: a number below 1000 is seconds, otherwise nanoseconds
                lock_delay = float(raw) if raw < 1000 else float(raw) / 1e9
            else:
                lock_delay = parse_duration(raw, "LockDelay")
        except Exception as exc:
            raise CommandError(f"Request decode failed: LockDelay: {exc}") from None
        if not 0 <= lock_delay <= LOCK_DELAY_MAX:  # also refuses NaN
            raise CommandError(f"Invalid LockDelay {raw!r}: must be between 0s and {LOCK_DELAY_MAX:g}s")
    ttl = 0.0
    ttl_raw = fields.get("ttl")
    if ttl_raw not in (None, ""):
        try:
            ttl = parse_duration(ttl_raw, "TTL")
        except Exception as exc:
            raise CommandError(f"Request decode failed: TTL: {exc}") from None
        if ttl != 0 and not ttl_min <= ttl <= TTL_MAX:
            raise CommandError(f"Invalid Session TTL '{ttl_raw}', must be between [{ttl_min:g}s={TTL_MAX:g}s]", 500)
    checks = str_list("checks")
    node_checks = str_list("nodechecks")
    service_checks = str_list("servicechecks")
    if node_checks is None:
        node_checks = checks if checks is not None else ([SERF_CHECK] if service_checks is None else [])
    elif checks:
        node_checks = [*node_checks, *checks]
    return SessionCreate(
        session_id=str(uuid.uuid4()),
        name=text("name", ""),
        node=text("node", default_node) or default_node,
        node_checks=tuple(dict.fromkeys(node_checks)),
        service_checks=tuple(service_checks or ()),
        lock_delay=lock_delay,
        behavior=behavior,
        ttl=ttl,
        at=at,
    )


def session_json(session: JSON) -> JSON:
    return dict(session)


def info(state: State, session_id: str) -> tuple[int, list[JSON]]:
    session = state.sessions.get(session_id)
    return max(1, state.tables["sessions"]), [session_json(session)] if session else []


def list_all(state: State, node: str | None = None) -> tuple[int, list[JSON]]:
    rows = [session_json(s) for s in state.sessions.values() if node is None or s["Node"] == node]
    rows.sort(key=lambda s: s["CreateIndex"])
    return max(1, state.tables["sessions"]), rows
