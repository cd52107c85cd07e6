"""`consul lock`: run a command while holding a Consul lock (a KV key acquired with a session).

The session has a TTL and is renewed in the background; the holder watches its key with blocking reads,
and if the lock is lost (session invalidated, key taken away) the child is terminated, as Consul does.
The lock is released and the session destroyed when the child exits.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

SESSION_TTL = "15s"
RENEW_EVERY = 5.0


class Lock:
    def __init__(self, base_url: str, key: str, name: str) -> None:
        self.base = base_url.rstrip("/")
        self.key = key
        self.name = name
        self.session = ""
        self._lost = threading.Event()
        self._done = threading.Event()

    def _call(self, method: str, path: str, body: bytes | None = None, timeout: float = 30) -> tuple[int, Any, int]:
        req = urllib.request.Request(self.base + path, data=body, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
                index = int(resp.headers.get("X-Consul-Index", "0"))
                return resp.status, json.loads(raw) if raw else None, index
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace"), int(exc.headers.get("X-Consul-Index", "0") or 0)

    def _path(self) -> str:
        return "/v1/kv/" + urllib.parse.quote(self.key)

    def acquire(self, limit: float | None) -> None:
        """Block until the lock is held; TimeoutError after `limit` seconds."""
        body = json.dumps({"Name": self.name, "TTL": SESSION_TTL, "Behavior": "release"}).encode()
        status, data, _ = self._call("PUT", "/v1/session/create", body)
        if status != 200:
            raise OSError(f"session/create: {status} {data}")
        self.session = data["ID"]
        threading.Thread(target=self._renew, daemon=True).start()
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            status, held, _ = self._call("PUT", f"{self._path()}?acquire={self.session}", b"")
            if status == 200 and held is True:
                return
            if status != 200:
                raise OSError(f"acquire: {status} {held}")
            # someone else holds it: wait for the key to change (or for the lock delay to pass)
            _, _, index = self._call("GET", self._path())
            wait = 5.0 if deadline is None else min(5.0, deadline - time.monotonic())
            if wait <= 0:
                raise TimeoutError(self.key)
            self._call("GET", f"{self._path()}?index={index}&wait={wait:.3f}s", timeout=wait + 10)

    def _renew(self) -> None:
        while not self._done.wait(RENEW_EVERY):
            status, _, _ = self._call("PUT", f"/v1/session/renew/{self.session}")
            if status == 404:
                self._lost.set()
                return

    def _watch(self) -> None:
        index = 0
        while not self._done.is_set():
            try:
                status, data, index = self._call("GET", f"{self._path()}?index={index}&wait=5s", timeout=20)
            except OSError:
                time.sleep(1)
                continue
            entry = data[0] if status == 200 and isinstance(data, list) and data else None
            if entry is None or entry.get("Session") != self.session:
                self._lost.set()
                return

    def run(self, argv: list[str], limit: float | None) -> int:
        try:
            self.acquire(limit)
            threading.Thread(target=self._watch, daemon=True).start()
            child = subprocess.Popen(argv)
            forwarded = {
                sig: signal.signal(sig, lambda s, _f: child.send_signal(s)) for sig in (signal.SIGINT, signal.SIGTERM)
            }
            try:
                while child.poll() is None:
                    if self._lost.wait(0.1):
                        child.terminate()
                        with contextlib.suppress(subprocess.TimeoutExpired):
                            child.wait(timeout=10)
                        if child.poll() is None:
                            child.kill()
                        child.wait()
                        return 1
                return child.returncode
            finally:
                for sig, handler in forwarded.items():
                    signal.signal(sig, handler)
        finally:
            self._done.set()
            if self.session:
                with contextlib.suppress(OSError):
                    self._call("PUT", f"{self._path()}?release={self.session}", b"")
                    self._call("PUT", f"/v1/session/destroy/{self.session}")
