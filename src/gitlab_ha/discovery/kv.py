"""Read views of the key/value store in Consul's shapes (`Value` base64, `Session` only when locked)."""

from __future__ import annotations

import base64
from typing import Any

from gitlab_ha.discovery.state import JSON, State

View = tuple[int, Any]


def entry_json(entry: JSON) -> JSON:
    out: JSON = {
        "LockIndex": entry["LockIndex"],
        "Key": entry["Key"],
        "Flags": entry["Flags"],
        "Value": base64.b64encode(entry["Value"]).decode() if entry["Value"] else None,
        "CreateIndex": entry["CreateIndex"],
        "ModifyIndex": entry["ModifyIndex"],
    }
    if entry.get("Session"):
        out["Session"] = entry["Session"]
    return out


def get(state: State, key: str) -> tuple[int, JSON | None]:
    """One key: its ModifyIndex as index when it exists, the table's otherwise (as Consul)."""
    entry = state.kv.get(key)
    if entry is None:
        return max(1, state.tables["kvs"]), None
    return entry["ModifyIndex"], entry


def prefix_index(state: State, prefix: str, entries: list[JSON]) -> int:
    idx = max((e["ModifyIndex"] for e in entries), default=0)
    idx = max([idx, state.kv_tombstone_floor, *(i for k, i in state.kv_tombstones.items() if k.startswith(prefix))])
    return max(1, idx or state.tables["kvs"])


def list_prefix(state: State, prefix: str) -> tuple[int, list[JSON]]:
    entries = [state.kv[k] for k in sorted(state.kv) if k.startswith(prefix)]
    return prefix_index(state, prefix, entries), entries


def keys(state: State, prefix: str, separator: str) -> tuple[int, list[str]]:
    entries = [state.kv[k] for k in sorted(state.kv) if k.startswith(prefix)]
    out: list[str] = []
    for entry in entries:
        key = entry["Key"]
        if separator:
            cut = key.find(separator, len(prefix))
            if cut >= 0:
                key = key[: cut + len(separator)]
        if not out or out[-1] != key:
            out.append(key)
    return prefix_index(state, prefix, entries), out
