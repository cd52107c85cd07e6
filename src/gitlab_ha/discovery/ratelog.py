"""A log line per kind of trouble per interval, not per event: a flood of bad packets or of failed
`accept()` calls must not become a flood of log lines (a probe once wrote 30 MB of tracebacks in 20 s).
"""

from __future__ import annotations

import logging
import time

INTERVAL = 10.0


class RateLimitedLog:
    """`log.warning` at most once per `interval` seconds per key, with how many were held back."""

    def __init__(self, log: logging.Logger, interval: float = INTERVAL) -> None:
        self.log = log
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return
        held = self._held.pop(key, 0)
        self._last[key] = now
        if held:
            message += f" ({held} more like it in the last {self.interval:g}s)"
        self.log.warning(message, *args)
