"""Figures of the Consul-compatible agent (PRODUCT.md §6): DNS and HTTP throughput, blocking-query wake-up,
and how fast a failing check takes an instance out of DNS.

Starts a real `gitlab-ha consul agent -dev` pinned to one CPU, registers 100 services, then measures from a
client process. Prints figures; asserts nothing.  Run: .venv/bin/python bench/discovery.py
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from dnslib import DNSRecord

from gitlab_ha.discovery.client import ConsulClient
from gitlab_ha.proc import ExitedEarly, NotReady, Process, wait_log

SERVICES = 100
HOST = "127.0.0.1"


def launch_agent(workdir: Path, *mode: str) -> tuple[Process, int, int]:
    """A real agent (-dev unless `mode` says otherwise) on free ports: its process, HTTP and DNS ports."""
    argv = [sys.executable, "-m", "gitlab_ha", "consul", "agent", *(mode or ("-dev",)), "-node", "bench", "-client", HOST,
            "-http-port", "0", "-dns-port", "0", "-log-level", "warn"]  # fmt: skip
    out = workdir / f"agent-{time.monotonic_ns()}.out"
    proc = Process.spawn(argv, stdout=out, stderr=workdir / "agent.log")
    try:
        line = wait_log(out, r"==> gitlab-ha consul agent running: (?P<words>.*)", 30, process=proc)
    except (NotReady, ExitedEarly) as exc:
        proc.kill()
        raise SystemExit(f"agent did not start ({exc}): " + (workdir / "agent.log").read_text()[-2000:]) from None
    words = dict(w.split("=", 1) for w in line["words"].split() if "=" in w)
    return proc, int(words["http"].rsplit(":", 1)[1]), int(words["dns"].rsplit(":", 1)[1])


def start_agent(workdir: Path, *mode: str) -> tuple[Process, int, int]:
    """`launch_agent`, then the agent and its DNS workers pinned to one core, this client to the others."""
    proc, http_port, dns_port = launch_agent(workdir, *mode)
    with_cpu = sorted(os.sched_getaffinity(0))
    for pid in [proc.pid, *(child.pid for child in psutil.Process(proc.pid).children(recursive=True))]:
        os.sched_setaffinity(pid, {with_cpu[0]})  # the agent gets one core
    if len(with_cpu) > 1:
        os.sched_setaffinity(0, set(with_cpu[1:]))  # the client stays off it
    return proc, http_port, dns_port


_CLIENTS: dict[int, ConsulClient] = {}


def http(port: int, method: str, path: str, body: Any = None) -> Any:
    """A call through the project's one Consul client; the decoded body of its 200 reply."""
    client = _CLIENTS.setdefault(port, ConsulClient(f"{HOST}:{port}", timeout=60))
    data = json.dumps(body) if body is not None and not isinstance(body, bytes) else body
    return client.ok(method, path, f"{method} {path}", body=data)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def dns_latency(port: int, count: int) -> list[float]:
    queries = [DNSRecord.question(f"web{i % SERVICES}.service.consul", "SRV").pack() for i in range(count)]
    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        for q in queries:
            t0 = time.perf_counter()
            sock.sendto(q, (HOST, port))
            sock.recv(4096)
            out.append(time.perf_counter() - t0)
    return out


def dns_throughput(port: int, count: int, window: int = 32) -> float:
    queries = [bytearray(DNSRecord.question(f"web{i % SERVICES}.service.consul", "SRV").pack()) for i in range(window)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sent = received = 0
        t0 = time.perf_counter()
        for q in queries:
            sock.sendto(q, (HOST, port))
            sent += 1
        while received < count:
            try:
                sock.recv(4096)
            except TimeoutError:
                sent -= 1  # a dropped datagram: send another
            received += 1
            if sent < count:
                sock.sendto(queries[sent % window], (HOST, port))
                sent += 1
        return count / (time.perf_counter() - t0)


async def http_throughput(port: int, seconds: float, concurrency: int = 16) -> float:
    """Catalog reads per second from `concurrency` connections kept open at once. A load generator, not a
    Consul client: ConsulClient (py-consul over requests) is synchronous, one request at a time per
    thread, and would measure the client's threads rather than the agent; aiohttp keeps 16 requests in
    flight from one process, as the Rails and Patroni fleet do."""
    done = 0
    stop = time.perf_counter() + seconds
    async with aiohttp.ClientSession() as session:

        async def worker(n: int) -> None:
            nonlocal done
            i = n
            while time.perf_counter() < stop:
                async with session.get(f"http://{HOST}:{port}/v1/catalog/service/web{i % SERVICES}") as resp:
                    await resp.read()
                done += 1
                i += concurrency

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        return done / (time.perf_counter() - t0)


def blocking_wakeup(port: int, rounds: int) -> list[float]:
    out = []
    http(port, "PUT", "/v1/kv/bench/wake", b"0")
    reader = ConsulClient(f"{HOST}:{port}", timeout=60).api  # py-consul, in the blocking thread
    for i in range(rounds):
        index, _ = reader.kv.get("bench/wake")
        woke: dict[str, float] = {}
        started = threading.Event()

        def block(index: str = index, woke: dict[str, float] = woke, started: threading.Event = started) -> None:
            started.set()
            reader.kv.get("bench/wake", index=index, wait="30s")
            woke["at"] = time.perf_counter()

        thread = threading.Thread(target=block)
        thread.start()
        started.wait()
        time.sleep(0.05)  # let the blocking request reach the agent before the write
        t0 = time.perf_counter()
        http(port, "PUT", "/v1/kv/bench/wake", str(i + 1).encode())
        thread.join()
        out.append(woke["at"] - t0)
    return out


def in_dns(port: int, name: str, wanted_port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(DNSRecord.question(name, "SRV").pack(), (HOST, port))
        reply = DNSRecord.parse(sock.recv(4096))
    return any(getattr(rr.rdata, "port", None) == wanted_port for rr in reply.rr)


def wait_gone(port: int, name: str, wanted_port: int, since: float) -> float:
    while in_dns(port, name, wanted_port):
        if time.perf_counter() - since > 60:
            return float("inf")
    return time.perf_counter() - since


def ttl_fail_to_dns(http_port: int, dns_port: int, rounds: int) -> list[float]:
    http(
        http_port,
        "PUT",
        "/v1/agent/service/register",
        {"Name": "ttlsvc", "Port": 7001, "Check": {"TTL": "60s", "Status": "passing"}},
    )
    out = []
    for _ in range(rounds):
        http(http_port, "PUT", "/v1/agent/check/pass/service:ttlsvc")
        assert in_dns(dns_port, "ttlsvc.service.consul", 7001)
        t0 = time.perf_counter()
        http(http_port, "PUT", "/v1/agent/check/fail/service:ttlsvc")  # the check result
        out.append(wait_gone(dns_port, "ttlsvc.service.consul", 7001, t0))
    return out


class _Quiet(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def http_probe_to_dns(http_port: int, dns_port: int) -> tuple[float, float]:
    """(server stopped -> check critical in the API, check critical -> gone from DNS) for a 1 s HTTP check."""
    server = ThreadingHTTPServer((HOST, 0), _Quiet)
    web_port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    check = {"HTTP": f"http://{HOST}:{web_port}/", "Interval": "1s", "Timeout": "1s"}
    http(http_port, "PUT", "/v1/agent/service/register", {"Name": "httpsvc", "Port": 7002, "Check": check})
    while not in_dns(dns_port, "httpsvc.service.consul", 7002):
        time.sleep(0.01)
    server.shutdown()
    server.server_close()
    t0 = time.perf_counter()
    while True:
        checks = http(http_port, "GET", "/v1/health/checks/httpsvc")
        if checks[0]["Status"] == "critical":
            t1 = time.perf_counter()
            break
        time.sleep(0.002)
    gone = wait_gone(dns_port, "httpsvc.service.consul", 7002, t1)
    return t1 - t0, gone


def durable_writes(workdir: Path, count: int) -> list[float]:
    """KV PUT round trips against an agent with a data dir: each answer waits for its fsync."""
    proc, http_port, _ = start_agent(workdir, "-data-dir", str(workdir / "data"))
    try:
        out = []
        for i in range(count):
            t0 = time.perf_counter()
            http(http_port, "PUT", f"/v1/kv/bench/durable/{i % 10}", b"x" * 100)
            out.append(time.perf_counter() - t0)
        return out
    finally:
        proc.stop(grace=15)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="gitlab-ha-bench-") as tmp:
        proc, http_port, dns_port = start_agent(Path(tmp))
        try:
            for i in range(SERVICES):
                http(
                    http_port,
                    "PUT",
                    "/v1/agent/service/register",
                    {"Name": f"web{i}", "ID": f"web{i}", "Port": 8000 + i, "Tags": ["v1"]},
                )
            report: list[tuple[str, str]] = []
            dns_latency(dns_port, 300)  # warm-up
            lat = dns_latency(dns_port, 3000)
            qps = dns_throughput(dns_port, 20000)
            report.append(("DNS SRV queries/s (UDP, 1 core, 100 services, 32 in flight)", f"{qps:,.0f}"))
            report.append(
                (
                    "DNS latency p50 / p99 (one at a time)",
                    f"{pct(lat, 0.5) * 1e3:.3f} ms / {pct(lat, 0.99) * 1e3:.3f} ms",
                )
            )
            rps = asyncio.run(http_throughput(http_port, 3.0))
            report.append(("HTTP /v1/catalog/service/<name> reads/s (16 clients)", f"{rps:,.0f}"))
            wake = blocking_wakeup(http_port, 40)
            report.append(
                (
                    "blocking query wake-up after a KV write, p50 / p99",
                    f"{pct(wake, 0.5) * 1e3:.2f} ms / {pct(wake, 0.99) * 1e3:.2f} ms",
                )
            )
            gone = ttl_fail_to_dns(http_port, dns_port, 20)
            report.append(
                (
                    "check result (TTL fail) -> instance gone from DNS, p50 / max",
                    f"{pct(gone, 0.5) * 1e3:.2f} ms / {max(gone) * 1e3:.2f} ms (target <= 1000 ms)",
                )
            )
            detect, gone_http = http_probe_to_dns(http_port, dns_port)
            report.append(("HTTP check (interval 1s): server stopped -> critical", f"{detect * 1e3:.0f} ms"))
            report.append(("HTTP check: critical -> gone from DNS", f"{gone_http * 1e3:.2f} ms (target <= 1000 ms)"))
            writes = durable_writes(Path(tmp), 300)
            report.append(
                (
                    "KV PUT with fsync (data dir), p50 / p99",
                    f"{pct(writes, 0.5) * 1e3:.2f} ms / {pct(writes, 0.99) * 1e3:.2f} ms",
                )
            )
            width = max(len(k) for k, _ in report)
            print("gitlab-ha consul agent (bench/discovery.py)")
            for key, value in report:
                print(f"  {key.ljust(width)}  {value}")
        finally:
            proc.stop(grace=15)


if __name__ == "__main__":
    main()
