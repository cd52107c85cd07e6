"""The agent's DNS against unbound serving the same records, same machine, same minute (PRODUCT.md §6:
at least 0.5x unbound).

Starts `gitlab-ha consul agent -dev` with 100 services, reads every SRV answer back from it, gives unbound
(one thread per core, as the agent has one DNS worker per core) the same records as local data, then runs
dnsperf (Debian package `dnsperf`) against each in turn, ROUNDS times, and prints queries per second,
average latency and the ratio. Asserts nothing.  Run: .venv/bin/python bench/dns.py
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
from pathlib import Path

from dnslib import QTYPE, DNSRecord

from discovery import launch_agent  # bench/discovery.py (a script's own folder is on sys.path)
from gitlab_ha.discovery.client import ConsulClient
from gitlab_ha.proc import Process, call, wait_tcp

SERVICES = 100
HOST = "127.0.0.1"
SECONDS = 8
ROUNDS = 3
CLIENTS = 8  # dnsperf sockets: SO_REUSEPORT spreads clients by source port, as with real resolvers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def srv_records(port: int, name: str) -> list[str]:
    """The agent's SRV answer and its address records, as zone-file lines."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(DNSRecord.question(name, "SRV").pack(), (HOST, port))
        reply = DNSRecord.parse(sock.recv(4096))
    return [f"{rr.rname} {rr.ttl} IN {QTYPE[rr.rtype]} {rr.rdata}" for rr in [*reply.rr, *reply.ar]]


def start_unbound(workdir: Path, records: list[str]) -> tuple[Process, int]:
    port = free_port()
    threads = len(os.sched_getaffinity(0))
    lines = [
        "server:",
        f"  interface: {HOST}@{port}",
        f"  port: {port}",
        "  do-daemonize: no",
        '  username: ""',
        '  chroot: ""',
        f'  directory: "{workdir}"',
        '  pidfile: ""',
        "  use-syslog: no",
        "  verbosity: 0",
        f"  num-threads: {threads}",
        "  so-reuseport: yes",
        "  access-control: 127.0.0.0/8 allow",
        '  local-zone: "consul." static',
        '  local-data: "consul. 0 IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0"',
        *(f'  local-data: "{r}"' for r in dict.fromkeys(records)),
        "remote-control:",
        "  control-enable: no",
    ]
    conf = workdir / "unbound.conf"
    conf.write_text("\n".join(lines) + "\n")
    checked = call(["unbound-checkconf", str(conf)], timeout=30)
    if checked.returncode != 0:
        raise SystemExit(f"unbound-checkconf: {checked.stdout}{checked.stderr}")
    proc = Process.spawn(
        ["unbound", "-d", "-c", str(conf)], stdout=workdir / "unbound.log", stderr=workdir / "unbound.log"
    )
    wait_tcp(HOST, port, 30, process=proc)
    return proc, port


def dnsperf(port: int, queries: Path) -> tuple[float, float]:
    """Queries per second and average latency (ms) of one dnsperf run."""
    argv = [
        "dnsperf",
        "-s",
        HOST,
        "-p",
        str(port),
        "-d",
        str(queries),
        "-l",
        str(SECONDS),
        "-c",
        str(CLIENTS),
        "-q",
        "200",
    ]
    done = call(argv, timeout=SECONDS + 60)
    qps = re.search(r"Queries per second:\s+([\d.]+)", done.stdout)
    latency = re.search(r"Average Latency \(s\):\s+([\d.]+)", done.stdout)
    lost = re.search(r"Queries lost:\s+(\d+)", done.stdout)
    if qps is None or latency is None:
        raise SystemExit(f"dnsperf failed: {done.stdout}{done.stderr}")
    if lost is not None and int(lost.group(1)):
        print(f"  (dnsperf: {lost.group(1)} queries lost on port {port})")
    return float(qps.group(1)), float(latency.group(1)) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        agent, http_port, dns_port = launch_agent(workdir)
        unbound: Process | None = None
        client = ConsulClient(f"{HOST}:{http_port}", timeout=60)
        try:
            for i in range(SERVICES):
                body = {
                    "Name": f"web{i}",
                    "ID": f"web{i}",
                    "Address": f"127.0.{1 + i // 200}.{1 + i % 200}",
                    "Port": 8000 + i,
                }
                client.ok("PUT", "/v1/agent/service/register", "register", body=json.dumps(body))
            names = [f"web{i}.service.consul" for i in range(SERVICES)]
            records = [line for name in names for line in srv_records(dns_port, name)]
            unbound, unbound_port = start_unbound(workdir, records)
            queries = workdir / "queries.txt"
            queries.write_text("".join(f"{name} SRV\n{name} A\n" for name in names))
            cores = len(os.sched_getaffinity(0))
            print(
                f"DNS, {SERVICES} services, SRV and A queries, dnsperf -c {CLIENTS} -q 200, {SECONDS} s per run, {cores} cores"
            )
            ours: list[tuple[float, float]] = []
            theirs: list[tuple[float, float]] = []
            for _ in range(ROUNDS):  # interleaved, so both see the same machine in the same minute
                ours.append(dnsperf(dns_port, queries))
                theirs.append(dnsperf(unbound_port, queries))
            for label, runs in (("gitlab-ha agent", ours), ("unbound", theirs)):
                qps = sorted(r[0] for r in runs)
                lat = sorted(r[1] for r in runs)
                print(f"{label:16s} q/s median {qps[len(qps) // 2]:>9,.0f} (runs: {', '.join(f'{q:,.0f}' for q in qps)})"
                      f"   avg latency median {lat[len(lat) // 2]:.2f} ms")  # fmt: skip
            ratios = sorted(o[0] / t[0] for o, t in zip(ours, theirs, strict=True))
            print(
                f"agent / unbound  {ratios[len(ratios) // 2]:.2f}x median (per round: {', '.join(f'{r:.2f}' for r in ratios)}; target >= 0.5x)"
            )
        finally:
            client.close()
            if unbound is not None:
                unbound.stop(grace=5)
            agent.stop(grace=10)


if __name__ == "__main__":
    main()
