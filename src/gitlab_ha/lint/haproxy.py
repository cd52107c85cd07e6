"""Just enough of haproxy.cfg for lint: frontends (bind ports, backends) and backends (servers), with lines."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Server:
    name: str
    host: str
    port: int | None
    check_port: int | None
    line: int
    column: int


@dataclass
class Section:
    kind: str  # frontend | backend | listen | global | defaults | ...
    name: str
    line: int
    binds: list[tuple[str, int | None, int]] = field(default_factory=list)  # (host, port, line)
    backends: list[str] = field(default_factory=list)  # default_backend / use_backend targets
    servers: list[Server] = field(default_factory=list)
    timeouts: dict[str, tuple[int | None, int]] = field(default_factory=dict)  # name → (milliseconds, line)


@dataclass
class HaproxyConfig:
    file: str
    sections: list[Section]

    def frontends(self) -> list[Section]:
        return [s for s in self.sections if s.kind in ("frontend", "listen")]

    def backend(self, name: str) -> Section | None:
        for section in self.sections:
            if section.kind in ("backend", "listen") and section.name == name:
                return section
        return None

    def frontend_for_port(self, port: int) -> Section | None:
        for section in self.frontends():
            if any(bind_port == port for _, bind_port, _ in section.binds):
                return section
        return None

    def servers_for_port(self, port: int) -> tuple[Section | None, list[Server]]:
        """The frontend bound to `port` and the servers of the backends it sends to."""
        front = self.frontend_for_port(port)
        if front is None:
            return None, []
        servers = list(front.servers) if front.kind == "listen" else []
        for name in front.backends:
            backend = self.backend(name)
            if backend is not None:
                servers.extend(backend.servers)
        return front, servers

    def defaults(self) -> Section | None:
        found = None
        for section in self.sections:
            if section.kind == "defaults":
                found = section
        return found

    def timeout(self, section: Section, name: str) -> tuple[int | None, int, Section] | None:
        """The `timeout NAME` in force in `section`: its own, else the last `defaults` section's."""
        for where in (section, self.defaults()):
            if where is not None and name in where.timeouts:
                value, line = where.timeouts[name]
                return value, line, where
        return None

    def bind_hosts(self) -> list[str]:
        return [host for s in self.frontends() for host, _, _ in s.binds]


def split_hostport(text: str) -> tuple[str, int | None]:
    """`10.0.0.1:6432` → ('10.0.0.1', 6432); `*:80` → ('*', 80); `[::1]:80` → ('::1', 80)."""
    text = text.split(",", maxsplit=1)[0]
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.lstrip(":")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            return text, None
    try:
        return host, int(port_text)
    except ValueError:
        return host, None


_UNITS = {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_time(text: str) -> int | None:
    """HAProxy time (`10s`, `30m`, `500` = ms) in milliseconds, or None if unreadable."""
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit) and text[: -len(unit)].isdigit():
            return int(int(text[: -len(unit)]) * _UNITS[unit])
    return int(text) if text.isdigit() else None


_SECTION_KINDS = ("global", "defaults", "frontend", "backend", "listen", "resolvers", "peers", "userlist", "program")


def parse_haproxy(text: str, file: str) -> HaproxyConfig:
    sections: list[Section] = []
    current: Section | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].rstrip()
        words = line.split()
        if not words:
            continue
        if words[0] in _SECTION_KINDS and not raw[:1].isspace():
            current = Section(words[0], words[1] if len(words) > 1 else "", number)
            sections.append(current)
            continue
        if current is None:
            continue
        keyword = words[0]
        if keyword == "bind" and len(words) > 1:
            host, port = split_hostport(words[1])
            current.binds.append((host, port, number))
        elif keyword in ("default_backend", "use_backend") and len(words) > 1:
            current.backends.append(words[1])
        elif keyword == "timeout" and len(words) > 2:
            current.timeouts[words[1]] = (parse_time(words[2]), number)
        elif keyword == "server" and len(words) > 2:
            host, port = split_hostport(words[2])
            check_port: int | None = None
            if "port" in words[3:]:
                index = words.index("port", 3)
                if index + 1 < len(words) and words[index + 1].isdigit():
                    check_port = int(words[index + 1])
            column = raw.index(words[2]) + 1
            current.servers.append(Server(words[1], host, port, check_port, number, column))
    return HaproxyConfig(file, sections)
