"""The document of `consul kv export` / `kv import`: `[{"key", "flags", "value" (base64)}]`, as Consul's.

`parse_export` validates the whole document (pydantic, errors naming the entry) before anything is
written, so a bad entry imports nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from gitlab_ha.errors import InputError
from gitlab_ha.validation import fail, validate

ENTRY_SHAPE = "each entry needs a string key and a base64 value"


def _key(value: Any) -> str:
    if not isinstance(value, str):
        raise fail(ENTRY_SHAPE)
    return value


def _value(value: Any) -> bytes:
    if not isinstance(value, str):
        raise fail(ENTRY_SHAPE)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise fail("value is not valid base64") from None


def _flags(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise fail("flags must be a non-negative integer")
    return value


class ExportEntry(BaseModel):
    """One key of the document; `value` is held decoded."""

    model_config = ConfigDict(frozen=True)

    key: Annotated[str, BeforeValidator(_key)]
    flags: Annotated[int, BeforeValidator(_flags)] = 0
    value: Annotated[bytes, BeforeValidator(_value)] = b""


def parse_export(text: str, where: str) -> list[ExportEntry]:
    """The entries of a `kv export` document; InputError at `where` (and `[i]`) if it is not one."""
    try:
        rows = json.loads(text)
    except ValueError as exc:
        raise InputError(f"invalid JSON: {exc}", where) from None
    if not isinstance(rows, list):
        raise InputError("expected a list of {key, flags, value}", where)
    entries = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError(ENTRY_SHAPE, f"{where}[{i}]")
        entries.append(validate(ExportEntry, row, f"{where}[{i}]", sep=": "))
    return entries


def export_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The document for the entries of a recursive KV read (their `Value` is base64 already, or null)."""
    return [{"key": e["Key"], "flags": e["Flags"], "value": e["Value"] or ""} for e in entries]
