"""`consul lock`: run a command while holding a Consul lock (a KV key acquired with a session).

The session has a TTL and is renewed in the background; the holder watches its key with blocking reads,
and if the lock is lost (session invalidated, key taken away) the child is stopped, as Consul does.
The lock is released and the session destroyed when the child exits.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time

import consul

from gitlab_ha.discovery.client import ConsulClient
from gitlab_ha.proc import Process

SESSION_TTL = 15  # seconds
RENEW_EVERY = 5.0
CHILD_GRACE = 10.0  # once the lock is lost: SIGTERM, then this long before the child's tree gets SIGKILL


class Lock:
    def __init__(self, client: ConsulClient, key: str, name: str) -> None:
        self.api = client.api  # py-consul
        self.key = key
        self.name = name
        self.session = ""
        self._lost = threading.Event()
        self._done = threading.Event()

    def acquire(self, limit: float | None) -> None:
        """Block until the lock is held; TimeoutError after `limit` seconds, OSError if the agent refuses."""
        try:
            self.session = self.api.session.create(name=self.name, ttl=SESSION_TTL, behavior="release")
        except consul.ConsulException as exc:
            raise OSError(f"session/create: {exc}") from None
        threading.Thread(target=self._renew, daemon=True).start()
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            try:
                if self.api.kv.put(self.key, "", acquire=self.session) is True:
                    return
            except consul.ConsulException as exc:
                raise OSError(f"acquire: {exc}") from None
            # someone else holds it: wait for the key to change (or for the lock delay to pass)
            index, _ = self.api.kv.get(self.key)
            wait = 5.0 if deadline is None else min(5.0, deadline - time.monotonic())
            if wait <= 0:
                raise TimeoutError(self.key)
            self.api.kv.get(self.key, index=index, wait=f"{wait:.3f}s")

    def _renew(self) -> None:
        while not self._done.wait(RENEW_EVERY):
            try:
                self.api.session.renew(self.session)
            except consul.NotFound:
                self._lost.set()
                return
            except (OSError, consul.ConsulException):
                continue  # the agent is away for now: the session lives up to twice its TTL

    def _watch(self) -> None:
        index = None
        while not self._done.is_set():
            try:
                index, entry = self.api.kv.get(self.key, index=index, wait="5s")
            except (OSError, consul.ConsulException):
                self._done.wait(1.0)
                continue
            if entry is None or entry.get("Session") != self.session:
                self._lost.set()
                return

    def run(self, argv: list[str], limit: float | None) -> int:
        try:
            self.acquire(limit)
            threading.Thread(target=self._watch, daemon=True).start()
            child = Process.spawn(argv, stdin=None)
            forwarded = {
                sig: signal.signal(sig, lambda s, _f: child.send_signal(s)) for sig in (signal.SIGINT, signal.SIGTERM)
            }
            try:
                while child.running:
                    if self._lost.wait(0.1):
                        child.stop(CHILD_GRACE)
                        return 1
                return child.wait()
            finally:
                for sig, handler in forwarded.items():
                    signal.signal(sig, handler)
        finally:
            self._done.set()
            if self.session:
                with contextlib.suppress(OSError, consul.ConsulException):
                    self.api.kv.put(self.key, "", release=self.session)
                    self.api.session.destroy(self.session)
