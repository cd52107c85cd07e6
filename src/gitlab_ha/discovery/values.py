"""How Consul spells what it reads: keys in any case and with or without underscores, Go durations."""

from __future__ import annotations

import re
from typing import Any

from gitlab_ha.errors import InputError

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def norm(key: str) -> str:
    """The spelling-insensitive form of a key: `Deregister_Critical…` and `deregistercritical…` match."""
    return key.replace("_", "").replace("-", "").lower()


def parse_duration(value: Any, where: str) -> float:
    """A Go duration (`10s`, `1m30s`, `15.0s`, `500ms`) or a number of nanoseconds, as seconds."""
    if isinstance(value, bool):
        raise InputError(f'expected a duration like "10s", got {value!r}', where)
    if isinstance(value, int | float):
        return float(value) / 1e9
    if not isinstance(value, str):
        raise InputError(f'expected a duration like "10s", got {type(value).__name__}', where)
    text = value.strip()
    if text in ("0", ""):
        return 0.0
    sign = 1.0
    if text[0] in "+-":
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS_NS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise InputError(f"time: invalid duration {value!r}", where)
    return sign * total / 1e9


def format_duration(seconds: float) -> str:
    """Seconds in Go's `time.Duration.String()` style for the common cases (`10s`, `1m30s`, `500ms`)."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        ms = seconds * 1000
        return f"{ms:g}ms" if ms >= 1 else f"{seconds * 1e6:g}µs"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{int(hours)}h"
    if hours or minutes:
        out += f"{int(minutes)}m"
    return out + f"{secs:g}s"
