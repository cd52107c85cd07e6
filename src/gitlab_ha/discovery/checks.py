"""Health checks run concurrently on asyncio: script, http, tcp and ttl, with Consul's rules.

Each check of this agent's node has one task. A result goes through the thresholds
(`success_before_passing`, `failures_before_warning`, `failures_before_critical`) and, when the status
or output changes, becomes an `UpdateCheck` command: the catalog, the HTTP API and DNS all read the
same state, so they see it at once. A TTL check turns critical when no pass/warn/fail arrives in time.
Services whose check stays critical for `deregister_critical_service_after` are deregistered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import aiohttp

from gitlab_ha.discovery.state import JSON, State
from gitlab_ha.discovery.values import parse_duration
from gitlab_ha.discovery.waits import cancel_and_wait, within
from gitlab_ha.proc import aio

log = logging.getLogger("gitlab_ha.discovery.checks")

DEFAULT_TIMEOUT = 10.0
OUTPUT_MAX = 4096  # Consul's check_output_max_size default


def output_limit(definition: JSON, agent_max: int) -> int:
    """The bytes of output kept for a check: the agent's check_output_max_size, or the check's own
    OutputMaxSize when that is smaller (a check may lower the agent's limit, never raise it)."""
    own = int(definition.get("OutputMaxSize") or 0)
    return own if 0 < own < agent_max else agent_max


def clip_ttl_output(output: str, limit: int) -> str:
    """A TTL update's note as Consul keeps it: the first `limit` bytes, and how much was cut."""
    raw = output.encode()
    if len(raw) <= limit:
        return output
    head = raw[:limit].decode(errors="ignore")
    return f"{head} ... (captured {limit} of {len(raw)} bytes)"


Result = tuple[str, str]


def http_status(code: int) -> str:
    if 200 <= code < 300:
        return "passing"
    if code == 429:
        return "warning"
    return "critical"


def exit_status(code: int) -> str:
    return {0: "passing", 1: "warning"}.get(code, "critical")


class Thresholds:
    """Consul's counters: a result is reported only after enough of the same kind in a row."""

    def __init__(self, definition: JSON) -> None:
        self.success_before_passing = int(definition.get("SuccessBeforePassing", 0))
        self.failures_before_critical = int(definition.get("FailuresBeforeCritical", 0))
        self.failures_before_warning = int(definition.get("FailuresBeforeWarning", self.failures_before_critical))
        self.successes = 0
        self.failures = 0

    def feed(self, status: str) -> str | None:
        """The status to report for this result, or None to keep the current one."""
        if status in ("passing", "warning"):
            self.successes += 1
            self.failures = 0
            return status if self.successes >= self.success_before_passing else None
        self.failures += 1
        self.successes = 0
        if self.failures >= self.failures_before_critical:
            return "critical"
        if self.failures >= self.failures_before_warning:
            return "warning"
        return None


async def run_script(args: list[str], timeout: float, limit: int = OUTPUT_MAX) -> Result:
    """Consul's script check: the exit code's status and the output's last `limit` bytes, said so when cut."""
    try:
        outcome = await aio.run(args, timeout=timeout, keep=limit)
    except OSError as exc:
        return "critical", f"failed to start {args[0]}: {exc.strerror or exc}"
    if outcome.returncode is None:
        return "critical", f"Timed out ({timeout:g}s) running check"
    text = outcome.output.decode(errors="replace")
    if outcome.written > len(outcome.output):
        text = f"Captured {len(outcome.output)} of {outcome.written} bytes\n...\n{text}"
    return exit_status(outcome.returncode), text


async def run_http(session: aiohttp.ClientSession, definition: JSON, timeout: float, limit: int = OUTPUT_MAX) -> Result:
    url = definition["HTTP"]
    method = definition.get("Method") or "GET"
    headers = {k: ", ".join(v) for k, v in (definition.get("Header") or {}).items()}
    headers.setdefault("User-Agent", "Consul Health Check")
    headers.setdefault("Accept", "text/plain, text/*, */*")
    try:
        async with session.request(
            method,
            url,
            headers=headers,
            data=definition.get("Body") or None,
            timeout=aiohttp.ClientTimeout(total=timeout),
            ssl=not definition.get("TLSSkipVerify"),
            server_hostname=definition.get("TLSServerName") or None,
            allow_redirects=True,
        ) as resp:
            kept, _ = await aio.read_tail(resp.content, limit)  # the body's last bytes, as Consul keeps them
            body = kept.decode(errors="replace")
            return http_status(resp.status), f"HTTP {method} {url}: {resp.status} {resp.reason} Output: {body}"
    except TimeoutError:
        return (
            "critical",
            f'{method} "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
        )
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return "critical", f'{method} "{url}": {exc}'


async def run_tcp(target: str, timeout: float) -> Result:
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    try:
        _, writer = await within(asyncio.open_connection(host, int(port)), timeout)
    except TimeoutError:
        return "critical", f"dial tcp {target}: i/o timeout"
    except (OSError, ValueError) as exc:
        return "critical", f"dial tcp {target}: {getattr(exc, 'strerror', None) or exc}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return "passing", f"TCP connect {target}: Success"


class CheckManager:
    """One asyncio task per check of the agent's node, kept in step with the agent's local state.

    A result becomes `report(check_id, status, output)`; a service whose check stayed critical too long
    becomes `deregister(service_id)`. The agent applies both to its local state and syncs the catalog.
    """

    def __init__(
        self,
        node: str,
        state: State,
        report: Callable[[str, str, str], None],
        deregister: Callable[[str], None],
        *,
        update_interval: float = 300.0,
        output_max: int = OUTPUT_MAX,
    ) -> None:
        self.node = node
        self.update_interval = update_interval
        self.output_max = output_max
        self._output_synced: dict[str, float] = {}
        self.state = state
        self.report = report
        self.deregister = deregister
        self._tasks: dict[str, tuple[JSON, asyncio.Task[None]]] = {}
        self._ttl_deadline: dict[str, float] = {}
        self._critical_since: dict[str, float] = {}
        self._http: aiohttp.ClientSession | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._started = False

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True, limit=0))
        self._reaper = asyncio.create_task(self._reap())
        self._started = True
        self.sync()

    async def close(self) -> None:
        self._started = False
        tasks = [t for _, t in self._tasks.values()]
        if self._reaper is not None:
            tasks.append(self._reaper)
        # Exception too: a check runner that died of an error must not keep the HTTP session from closing
        await cancel_and_wait(tasks, also=(Exception,))
        self._tasks.clear()
        if self._http is not None:
            await self._http.close()

    def sync(self) -> None:
        """Start, restart or stop tasks so that they match the checks registered now."""
        if not self._started:
            return  # start() syncs once the HTTP client exists (checks restored from the data dir wait for it)
        checks = self.state.checks.get(self.node, {})
        for check_id in list(self._tasks):
            current = checks.get(check_id)
            definition, task = self._tasks[check_id]
            if current is None or current["Definition"] != definition:
                task.cancel()
                del self._tasks[check_id]
                self._ttl_deadline.pop(check_id, None)
        for check_id, check in checks.items():
            if check_id in self._tasks or not check["Type"]:
                continue
            definition = dict(check["Definition"])
            self._tasks[check_id] = (definition, asyncio.create_task(self._run(check_id, check["Type"], definition)))

    def clip(self, check_id: str, output: str) -> str:
        """A TTL check's new note, cut to the check's output limit."""
        definition = self.state.checks.get(self.node, {}).get(check_id, {}).get("Definition", {})
        return clip_ttl_output(output, output_limit(definition, self.output_max))

    def ttl_update(self, check_id: str) -> None:
        """A pass/warn/fail arrived for a TTL check: its timer starts again."""
        definition = self.state.checks.get(self.node, {}).get(check_id, {}).get("Definition", {})
        if "TTL" in definition:
            self._ttl_deadline[check_id] = time.monotonic() + parse_duration(definition["TTL"], "TTL")

    def _report(self, check_id: str, status: str, output: str) -> None:
        check = self.state.checks.get(self.node, {}).get(check_id)
        if check is None or (check["Status"] == status and check["Output"] == output):
            return
        now = time.monotonic()
        # Like Consul's check_update_interval: a new output alone (Patroni's /primary body changes with
        # every WAL write) is synced at most that often, so it does not churn indexes and watches.
        if check["Status"] == status and now - self._output_synced.get(check_id, -1e18) < self.update_interval:
            return
        self._output_synced[check_id] = now
        self.report(check_id, status, output)

    async def _run(self, check_id: str, kind: str, definition: JSON) -> None:
        if kind == "ttl":
            await self._run_ttl(check_id, definition)
            return
        interval = parse_duration(definition["Interval"], "interval")
        timeout = parse_duration(definition["Timeout"], "timeout") if definition.get("Timeout") else DEFAULT_TIMEOUT
        thresholds = Thresholds(definition)
        limit = output_limit(definition, self.output_max)
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                if kind == "script":
                    status, output = await run_script(definition["Args"], timeout, limit)
                elif kind == "http":
                    assert self._http is not None
                    status, output = await run_http(self._http, definition, timeout, limit)
                else:
                    status, output = await run_tcp(definition["TCP"], timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a probe must never kill its task
                status, output = "critical", f"check failed: {exc}"
            reported = thresholds.feed(status)
            if reported is not None:
                self._report(check_id, reported, output)
            await asyncio.sleep(max(0.0, interval - (loop.time() - started)))

    async def _run_ttl(self, check_id: str, definition: JSON) -> None:
        ttl = parse_duration(definition["TTL"], "TTL")
        self._ttl_deadline.setdefault(check_id, time.monotonic() + ttl)
        while True:
            left = self._ttl_deadline.get(check_id, 0.0) - time.monotonic()
            if left <= 0:
                self._report(check_id, "critical", "TTL expired")
                self._ttl_deadline[check_id] = time.monotonic() + ttl
                left = ttl
            await asyncio.sleep(min(left, 0.5))

    async def _reap(self) -> None:
        """Deregister services whose check stayed critical longer than its limit."""
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            seen: set[str] = set()
            for check_id, check in list(self.state.checks.get(self.node, {}).items()):
                limit = check["Definition"].get("DeregisterCriticalServiceAfter")
                if not limit or not check["ServiceID"] or check["Status"] != "critical":
                    continue
                seen.add(check_id)
                since = self._critical_since.setdefault(check_id, now)
                if now - since >= parse_duration(limit, "deregister_critical_service_after"):
                    log.info("deregistering %s: check %s critical for %s", check["ServiceID"], check_id, limit)
                    self.deregister(check["ServiceID"])
            for check_id in set(self._critical_since) - seen:
                del self._critical_since[check_id]
