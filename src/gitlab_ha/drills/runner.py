"""One drill run: healthy lab → workload and observers → fault → heal → recovery → read back → check.

    result = run_drill(lab, SCENARIOS["leader-partitioned"], RunConfig("fast", "on"), duration=15)

Whatever happens after the fault is injected — the drill fails, Ctrl-C, SIGTERM — the fault is healed
(with interrupts held back until it is), the workload and the sampler are stopped by their pids, and
the lab is checked for leftovers. A run then says whether the lab is healthy again, or why not.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType

import psycopg
import redis

from gitlab_ha.drills import cleanup, observers
from gitlab_ha.drills.checker import Metrics, check, problems, remarks
from gitlab_ha.drills.cluster import DrillLab
from gitlab_ha.drills.history import Event, History, Readback, Store
from gitlab_ha.drills.primaries import PrimarySampler
from gitlab_ha.drills.scenarios import Leaders, Scenario
from gitlab_ha.drills.writers import TABLE, Endpoints, RedisWriter, SqlWriter, Writer, key
from gitlab_ha.lab.lab import Lab
from gitlab_ha.probe.redis import discover_master, redis_client
from gitlab_ha.probe.status import collect, healthy
from gitlab_ha.proc import NotReady, wait_for
from gitlab_ha.topology.facts import PORTS

Phase = Callable[[str], None]
WARMUP_ACKS = 20  # writes each writer has acknowledged before the fault
SETTLE_ACKS = 10  # and after the lab is healthy again
HEALTHY_BEFORE = 180.0
RECOVERY = 240.0  # the lab healthy again and both stores writable, after the heal
SYNC_LABELS = {"off": "async", "on": "sync", "strict": "sync strict"}  # how a configuration is named


def _quiet(_: str) -> None:
    return None


def config_label(profile: str, sync: str) -> str:
    """A configuration as the progress bar and the report name it: `fast, async`, `omnibus, sync strict`."""
    return f"{profile}, {SYNC_LABELS.get(sync, sync)}"


@dataclass(frozen=True)
class RunConfig:
    profile: str  # fast | omnibus
    sync: str  # off | on | strict

    @property
    def label(self) -> str:
        return config_label(self.profile, self.sync)


@dataclass
class RunResult:
    scenario: str
    config: RunConfig
    index: int
    history: History
    metrics: Metrics | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    healthy_after: bool = False
    interrupted: bool = False
    seconds: float = 0.0
    held: float | None = None  # seconds a held fault lasted; None for an instant one or none injected

    @property
    def passed(self) -> bool:
        return not self.problems and not self.interrupted and self.metrics is not None


class DrillError(Exception):
    """The drill could not run (the lab was not healthy first, no write succeeded before the fault)."""


class Shield:
    """Hold Ctrl-C and SIGTERM back while a fault is healed; raise KeyboardInterrupt after, if one came."""

    def __init__(self) -> None:
        self.pending = False
        self.previous: dict[int, object] = {}

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.pending = True

    def __enter__(self) -> Shield:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        if self.pending and exc[0] is None:
            raise KeyboardInterrupt


def wait_healthy(drill: DrillLab, deadline: float) -> str:
    """'' once every component is healthy; else what was still wrong at the deadline."""
    target = drill.lab.target()
    last: list[str] = []

    def probe() -> bool:
        components = collect(target)
        last[:] = [f"{c.name} {c.verdict.value}: {c.summary}" for c in components if not c.verdict.healthy]
        return healthy(components)

    try:
        wait_for(probe, "the lab to be healthy", deadline=deadline, step=0.5)
    except NotReady:
        return "; ".join(last) or "not healthy"
    return ""


def create_table(endpoints: Endpoints, deadline: float = 60.0) -> None:
    def attempt() -> bool:
        try:
            with endpoints.sql_connect() as conn:
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} (run text NOT NULL, n integer NOT NULL, "
                    "at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run, n))"
                )
        except psycopg.Error as err:
            raise OSError(str(err).strip()) from None
        return True

    wait_for(attempt, f"the {TABLE} table through the internal load balancer", deadline=deadline, step=0.5)


def read_back(endpoints: Endpoints, run_id: str, redis_count: int, deadline: float = 60.0) -> Readback:
    """Every row and key of this run, from the primary and the master as they are now."""

    # each probe answers a 1-tuple: an empty set is an answer too (wait_for wants something truthy)
    def rows() -> tuple[frozenset[int]] | None:
        try:
            with endpoints.sql_connect() as conn:
                found = conn.execute(f"SELECT n FROM {TABLE} WHERE run = %s", (run_id,)).fetchall()
        except psycopg.Error as err:
            raise OSError(str(err).strip()) from None
        return (frozenset(int(str(r[0])) for r in found),)

    def keys() -> tuple[frozenset[int]] | None:
        where = discover_master(list(endpoints.sentinels), endpoints.master_name)
        if where is None:
            return None
        client = redis_client(where[0], where[1], timeout=5, password=endpoints.redis_password)
        try:
            if client.info("replication").get("role") != "master":
                return None
            present: set[int] = set()
            numbers = list(range(1, redis_count + 1))
            for start in range(0, len(numbers), 1000):
                chunk = numbers[start : start + 1000]
                values = client.mget([key(run_id, n) for n in chunk])
                present.update(n for n, v in zip(chunk, values, strict=True) if v is not None)
            return (frozenset(present),)
        except redis.RedisError as err:
            raise OSError(str(err)) from None
        finally:
            client.close()

    (found_rows,) = wait_for(rows, "the rows read back through the internal load balancer", deadline, step=0.5)
    (found_keys,) = wait_for(keys, "the keys read back from the Redis master", deadline, step=0.5)
    return Readback(found_rows, found_keys)


class Workload:
    """The writers, the primary sampler and the observers of one run, started and stopped together."""

    def __init__(self, drill: DrillLab, history: History, run_id: str) -> None:
        self.stop_event = threading.Event()
        self.endpoints = drill.endpoints()
        self.writers: list[Writer] = [
            SqlWriter(history, self.stop_event, self.endpoints, run_id),
            RedisWriter(history, self.stop_event, self.endpoints, run_id),
        ]
        self.sampler = PrimarySampler(drill.socket_dirs(), history, drill.lab.dir / "logs" / "drill-sampler.log")
        password = drill.lab.secrets().get("pgbouncer_password")
        database = drill.plan.lab_topo.database.name
        self.bouncers = [observers.PgBouncerTarget(n.address, password, database) for n in drill.running("pgbouncer")]
        sentinels = list(drill.sentinels)
        master_name = drill.plan.lab_topo.redis.master_name
        probes: list[tuple[str, Callable[[], str]]] = [
            ("patroni.leader", observers.patroni_leader([n.address for n in drill.running("patroni")])),
            ("redis.master", observers.redis_master(sentinels, master_name)),
            ("redis.health", observers.redis_health(sentinels, master_name)),
            ("consul.leader", observers.consul_leader([n.address for n in drill.consul_servers])),
        ]
        probes += [
            (f"pgbouncer.{n.name}", bouncer)
            for n, bouncer in zip(drill.running("pgbouncer"), self.bouncers, strict=True)
        ]
        self.pollers = [observers.Poller(source, probe, history, self.stop_event) for source, probe in probes]

    def start(self) -> None:
        self.sampler.start()
        for thread in [*self.pollers, *self.writers]:
            thread.start()

    def acked_after(self, moment: float, count: int) -> bool:
        return all(w.acked_after(moment) >= count for w in self.writers)

    def steady(self, since: float) -> bool:
        """Each writer's last SETTLE_ACKS writes were acknowledged, all after `since`."""
        return all(w.steady(since, SETTLE_ACKS) for w in self.writers)

    def sampling(self) -> bool:
        """The sampler has answered for every member."""
        return set(self.sampler.states()) >= set(self.sampler.members)

    def stop(self) -> None:
        self.stop_event.set()
        for thread in [*self.writers, *self.pollers]:
            if thread.is_alive():
                thread.join(timeout=10)
        self.sampler.stop()
        for bouncer in self.bouncers:
            bouncer.close()


@contextlib.contextmanager
def _running(workload: Workload) -> Iterator[Workload]:
    try:
        workload.start()
        yield workload
    finally:
        with Shield():  # a Ctrl-C here would leave the sampler running as `postgres`, its pid forgotten
            workload.stop()


def _recover(
    drill: DrillLab, workload: Workload, history: History, since: float, phase: Phase
) -> tuple[list[str], bool]:
    """Wait until every program runs, both stores take writes and the lab is healthy: what did not, and
    whether the lab was seen healthy."""
    end = time.monotonic() + RECOVERY

    def left() -> float:
        return max(1.0, end - time.monotonic())

    phase("waiting for every program to run again")
    try:
        wait_for(
            lambda: all(i["statename"] == "RUNNING" for i in drill.lab.supervisor.info().values()),
            "every program running",
            deadline=left(),
            step=0.2,
        )
    except NotReady:
        down = [n for n, i in drill.lab.supervisor.info().items() if i["statename"] != "RUNNING"]
        return [f"programs not running {RECOVERY:.0f} s after the heal: {', '.join(sorted(down))}"], False
    phase("waiting for writes to succeed again")
    try:
        wait_for(lambda: workload.steady(since), "steady writes again", deadline=left(), step=0.1)
    except NotReady:
        return [f"writes did not succeed steadily again within {RECOVERY:.0f} s of the heal"], not wait_healthy(
            drill, 5
        )
    phase("waiting for the lab to be healthy")
    why = wait_healthy(drill, left())
    if why:
        return [f"the lab is not healthy {RECOVERY:.0f} s after the heal: {why}"], False
    recovered = time.monotonic()
    history.events.append(Event(recovered, "healthy"))
    try:
        wait_for(lambda: workload.steady(recovered), "steady writes", deadline=left(), step=0.1)
    except NotReady:
        return ["writes did not settle once the lab was healthy"], True
    return [], True


def leaders(drill: DrillLab) -> tuple[Leaders, dict[str, str]]:
    """Who leads before the fault, and the baseline the checker compares the observers' values with
    (`redis_master` as the redis.master observer records it: ADDRESS:PORT)."""
    primary = drill.primary()
    master_address, master_port = drill.redis_master()
    consul = drill.consul_leader()
    baseline = {
        "primary": primary.name,
        "redis_master": f"{master_address}:{master_port}",
        "consul_leader": f"{consul.address}:{PORTS['consul_rpc']}",
    }
    return Leaders(primary, drill.by_address(master_address), consul), baseline


def run_drill(
    lab: Lab,
    scenario: Scenario,
    config: RunConfig,
    *,
    index: int = 1,
    duration: float | None = None,
    phase: Phase = _quiet,
) -> RunResult:
    started = time.monotonic()
    drill = DrillLab.of(lab)
    notes = [f"before the drill: {line}" for line in cleanup.sweep(drill)]
    phase("waiting for a healthy lab")
    why = wait_healthy(drill, HEALTHY_BEFORE)
    if why:
        raise DrillError(f"the lab is not healthy before the drill: {why}")
    leads, baseline = leaders(drill)
    history = History(scenario.name, scenario.kind, config.profile, config.sync, drill.plan.addresses, baseline)
    result = RunResult(scenario.name, config, index, history, notes=notes)
    run_id = uuid.uuid4().hex[:12]
    workload = Workload(drill, history, run_id)
    create_table(workload.endpoints)
    fault = scenario.fault(drill, leads)
    history.target = fault.target
    hold = scenario.hold(config.profile, drill.plan.lab_topo.ha.patroni.effective_ttl) if duration is None else duration
    try:
        with _running(workload):
            phase("warming up")
            begin = time.monotonic()
            try:
                wait_for(workload.sampling, "the primary sampler's first answers", deadline=60)
                wait_for(lambda: workload.acked_after(begin, WARMUP_ACKS), "writes before the fault", deadline=60)
            except NotReady as err:
                raise DrillError(f"nothing to measure: {err}") from None
            try:
                history.events.append(Event(time.monotonic(), "fault", fault.describe()))
                phase(f"fault: {fault.describe()}")
                fault.inject()
                if scenario.held:
                    phase(f"fault held {hold:g} s: {fault.describe()}")
                    time.sleep(hold)  # the drill's fault duration (--duration), nothing to wait on
            finally:
                with Shield():
                    fault.heal()
                    swept = cleanup.sweep(drill)
                    if scenario.held:
                        healed = time.monotonic()
                        history.events.append(Event(healed, "heal"))
                        # as held, not as asked: a Ctrl-C ends the hold early
                        result.held = round(healed - (history.event("fault") or healed), 1)
                result.notes += [f"after the heal: {line}" for line in swept]
            since = history.event("heal") or history.event("fault") or begin
            recovery, result.healthy_after = _recover(drill, workload, history, since, phase)
            result.problems += recovery
    except KeyboardInterrupt:
        result.interrupted = True
    try:
        phase("reading back")
        with Shield():  # the sweep is not cut short
            left = cleanup.leftovers(drill)
            if left:
                result.problems.append("left behind after the drill: " + "; ".join(left))
                result.notes += [f"swept: {line}" for line in cleanup.sweep(drill)]
        if not result.interrupted:
            _check(result, workload.endpoints, run_id)
    except KeyboardInterrupt:  # during the read-back: the fault was healed, the run is kept as interrupted
        result.interrupted = True
    if result.interrupted:
        try:
            why = wait_healthy(drill, 60)
        except KeyboardInterrupt:  # interrupted again: say so rather than lose the run
            why = "not waited for (interrupted again)"
        result.healthy_after = not why
        if why:
            result.notes.append(f"interrupted; the lab is not healthy yet: {why}")
        result.seconds = time.monotonic() - started
        raise Interrupted(result)
    result.seconds = time.monotonic() - started
    return result


def _check(result: RunResult, endpoints: Endpoints, run_id: str) -> None:
    """Read this run's rows and keys back and check the history against them."""
    history = result.history
    redis_count = max((op.n for op in history.ops if op.store is Store.REDIS), default=0)
    try:
        readback = read_back(endpoints, run_id, redis_count)
    except NotReady as err:
        result.problems.append(f"could not read the writes back: {err}")
    else:
        result.metrics = check(history, readback)
        result.problems += problems(history, result.metrics)
        result.notes += remarks(result.metrics)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a run: the fault was healed; `result` says how the lab is."""

    def __init__(self, result: RunResult) -> None:
        super().__init__("interrupted")
        self.result = result
