"""Agent configuration, read from JSON or HCL like Consul does, and what service and check definitions mean.

Consul accepts request and file keys in any case and with or without underscores. Every key is
therefore normalised to lower case without underscores before it is looked up, and a field we do not
know is refused with its name, like Consul's "invalid config key" / "has invalid keys". The shapes of
service, check and watch definitions are pydantic models (`discovery/definitions.py`), with a service's
plain defaults; here are the defaults and rules across fields (one check kind, an interval for a script
check, IDs).

The parsed definitions are plain dicts in Consul's canonical spelling (`ID`, `Name`, `Tags` …) so that
they can travel inside state-machine commands and be persisted as JSON unchanged.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitlab_ha.discovery.definitions import (
    CheckDefinition,
    ServiceDefinition,
    WatchDefinition,
    definition_fields,
    parse_watch,
)
from gitlab_ha.discovery.gossip import CONSUL_LAN, DEV, Profile
from gitlab_ha.discovery.state import CommandError
from gitlab_ha.discovery.tls import TLSConfig
from gitlab_ha.discovery.values import norm, parse_duration
from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import read_user_text
from gitlab_ha.validation import as_input_error, str_list, str_map, strict_bool, strict_int, strict_str, type_name

JSON = dict[str, Any]
log = logging.getLogger("gitlab_ha.discovery.config")

# --- the agent's settings: normalised key -> (attribute, converter) ----------------------------------------------

Converter = Callable[[Any, str], Any]

# The scalar rules are the project's one set (gitlab_ha.validation), as converters here.
_str = as_input_error(strict_str)
_int = as_input_error(strict_int)
_bool = as_input_error(strict_bool)
_str_list = as_input_error(str_list)
_str_map = as_input_error(str_map)


def _positive_int(value: Any, where: str) -> int:
    number: int = _int(value, where)
    if number < 1:
        raise InputError(f"must be a positive number of bytes, got {number}", where)
    return number


# --- checks ------------------------------------------------------------------------------------------------------

STATUSES = ("passing", "warning", "critical")
MIN_INTERVAL = 1.0


def check_type(check: Mapping[str, Any]) -> str:
    for key, kind in (("Args", "script"), ("HTTP", "http"), ("TCP", "tcp"), ("TTL", "ttl")):
        if check.get(key):
            return kind
    return ""


def parse_check(
    raw: Any,
    where: str,
    *,
    service: JSON | None = None,
    index: int = 0,
    total: int = 1,
    from_file: bool = False,
) -> JSON:
    """A check definition, validated; `service` is the owning service for checks nested in one.

    An initial `status` other than passing, warning or critical is refused over the HTTP API (Consul:
    400 "Bad check status"). In a config file it starts the check critical, with a warning: Consul
    copies such a status verbatim into the catalog (Omnibus writes `"status": "failing"` for its
    postgresql check), where DNS, which only leaves out `critical`, would serve the instance until the
    first run. Here a check whose status is unknown is critical until it has run.
    """
    check = definition_fields(CheckDefinition, raw, where)
    kind = check_type(check)
    kinds = [k for k in ("Args", "HTTP", "TCP", "TTL") if check.get(k)]
    if len(kinds) > 1:
        raise InputError(
            f"a check has one of args, http, tcp or ttl, not {' and '.join(k.lower() for k in kinds)}", where
        )
    if not kind:
        raise InputError("invalid check: one of args, http, tcp or ttl is required", where)
    if kind in ("script", "http", "tcp"):
        if "Interval" not in check:
            raise InputError(f"invalid check: interval is required for a {kind} check", where)
        if parse_duration(check["Interval"], where) < MIN_INTERVAL:
            raise InputError("invalid check: interval must be at least 1s", f"{where}.interval")
    if "Status" in check and check["Status"] not in STATUSES:
        if not from_file:
            raise InputError(
                f"invalid check status {check['Status']!r}: use passing, warning or critical", f"{where}.status"
            )
        log.warning(
            "%s.status: initial status %r is not passing, warning or critical: the check starts critical "
            "(Consul would store %r verbatim until the first run)",
            where,
            check["Status"],
            check["Status"],
        )
        check["Status"] = "critical"
    for key in ("SuccessBeforePassing", "FailuresBeforeCritical", "FailuresBeforeWarning", "OutputMaxSize"):
        if check.get(key, 0) < 0:
            raise InputError("must not be negative", f"{where}.{key}")
    if kind == "tcp" and ":" not in check["TCP"]:
        raise InputError("invalid check: tcp must be host:port", f"{where}.tcp")
    if kind == "http" and not re.match(r"^https?://", check["HTTP"]):
        raise InputError("invalid check: http must be an http:// or https:// URL", f"{where}.http")
    for key in ("CheckID", "Name"):
        if check.get(key) == "":
            del check[key]  # as in Consul, an empty ID or name is no ID or name: defaults apply
    if service is not None:
        check["ServiceID"] = service["ID"]
        if "CheckID" not in check:
            check["CheckID"] = f"service:{service['ID']}" + (f":{index + 1}" if total > 1 else "")
        check.setdefault("Name", f"Service '{service['Service']}' check")
    else:
        if "Name" not in check and "CheckID" not in check:
            raise InputError("invalid check: missing name", where)
        check.setdefault("CheckID", check.get("Name", ""))
        check.setdefault("Name", check["CheckID"])
    check["Type"] = kind
    return check


# --- services ----------------------------------------------------------------------------------------------------


def parse_service(raw: Any, where: str, *, from_file: bool = False) -> tuple[JSON, list[JSON]]:
    """A service definition -> (service record, its checks)."""
    svc = definition_fields(ServiceDefinition, raw, where, complete=True)  # the model's defaults for the rest
    if not svc["Service"]:
        raise InputError("missing service name", f"{where}.name" if where else "name")
    kind = svc.pop("Kind")
    if kind:
        raise InputError(f"service kind {kind!r} is not supported (Connect is not implemented)", f"{where}.kind")
    svc.pop("SocketPath")
    if not svc["ID"]:
        svc["ID"] = svc["Service"]
    if not 0 <= svc["Port"] <= 65535:
        raise InputError(f"invalid port {svc['Port']}", f"{where}.port")
    weights = svc.get("Weights") or {}
    if not isinstance(weights, dict):
        raise InputError("expected an object", f"{where}.weights")
    w = {norm(k): v for k, v in weights.items()}
    svc["Weights"] = {
        "Passing": _int(w.get("passing", 1), f"{where}.weights.passing"),
        "Warning": _int(w.get("warning", 1), f"{where}.weights.warning"),
    }
    tagged = svc.pop("TaggedAddresses", None)
    if tagged is not None and not isinstance(tagged, dict):
        raise InputError("expected an object", f"{where}.tagged_addresses")
    if tagged:
        svc["TaggedAddresses"] = tagged
    raw_checks: list[Any] = []
    single = svc.pop("Check", None)
    many = svc.pop("Checks", None)
    if single is not None:
        raw_checks.append(single)
    if many is not None:
        if not isinstance(many, list):
            raise InputError(f"expected a list of checks, got {type_name(many)}", f"{where}.checks")
        raw_checks.extend(many)
    checks = [
        parse_check(
            c,
            f"{where}.checks[{i}]" if many is not None else f"{where}.check",
            service=svc,
            index=i,
            total=len(raw_checks),
            from_file=from_file,
        )
        for i, c in enumerate(raw_checks)
        if c  # an empty object means no check, as Consul treats it
    ]
    return svc, checks


# --- files -------------------------------------------------------------------------------------------------------


def load_document(path: Path) -> JSON:
    """A JSON or HCL (v1) file as a dict; the error names the file."""
    text = read_user_text(path)  # a regular file of sane size: not /dev/zero, not a FIFO
    return parse_document(text, str(path), hcl_hint=path.suffix == ".hcl")


def parse_document(text: str, where: str, *, hcl_hint: bool = False) -> JSON:
    stripped = text.lstrip()
    if not hcl_hint or stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if hcl_hint or stripped.startswith(("{", "[")):
                raise InputError(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", where) from None
            data = _parse_hcl(text, where)
    else:
        data = _parse_hcl(text, where)
    if not isinstance(data, dict):
        raise InputError(f"expected an object at the top level, got {type_name(data)}", where)
    return data


def _parse_hcl(text: str, where: str) -> Any:
    """HCL v1 via pyhcl, one top-level statement at a time.

    pyhcl mangles repeated blocks (a second `service { … }` loses all but its first key to the first
    block), and Consul files repeat `service` and `check` blocks. So the text is cut into its top-level
    statements, each is parsed alone, and repeated keys are merged: blocks Consul lists become a list,
    other repeated blocks (`ports { … }` twice) merge key by key.
    """
    import hcl

    def fail(exc: Exception) -> InputError:
        message = " ".join(str(exc).split()) or type(exc).__name__
        return InputError(f"invalid HCL: {message}", where)

    statements = _top_level_statements(text)
    if statements is None:
        try:
            return hcl.loads(text)
        except Exception as exc:  # pyhcl raises ValueError and its own lexer/parser errors
            raise fail(exc) from None
    merged: JSON = {}
    for statement in statements:
        try:
            part = hcl.loads(statement)
        except Exception:
            try:  # the scanner cut a statement pyhcl reads whole, or a real error: ask pyhcl about the file
                return hcl.loads(text)
            except Exception as exc:
                raise fail(exc) from None
        if not isinstance(part, dict):
            raise InputError("invalid HCL: expected key = value or a block at the top level", where)
        for key, value in part.items():
            if key not in merged:
                merged[key] = value
            elif norm(key) in _LISTED_BLOCKS:
                have = merged[key] if isinstance(merged[key], list) else [merged[key]]
                merged[key] = have + (value if isinstance(value, list) else [value])
            elif isinstance(merged[key], dict) and isinstance(value, dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    return merged


_LISTED_BLOCKS = frozenset({"service", "services", "check", "checks", "watches"})


def _top_level_statements(text: str) -> list[str] | None:
    """The top-level statements of an HCL text, or None when the text is beyond this simple scanner."""
    if "<<" in text:
        return None  # heredocs: leave them to pyhcl
    statements: list[str] = []
    depth = 0
    start = 0
    has_code = False  # the current statement has more than comments and blanks
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if not c.isspace() and c != "#" and not text.startswith(("//", "/*"), i):
            has_code = True
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "#" or text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                return None
            i = end + 2
            continue
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth < 0:
                return None
        elif c == "\n" and depth == 0:
            if has_code:
                statements.append(text[start:i])
            start = i + 1
            has_code = False
        i += 1
    if depth != 0:
        return None
    if has_code:
        statements.append(text[start:])
    # a statement is `key = value` or `key { … }`; a bare continuation line means the scanner got lost
    return statements


def services_in_document(doc: JSON, where: str) -> list[tuple[JSON, list[JSON]]]:
    """The `service` / `services` blocks of a definition file (HCL gives a dict or a list of dicts)."""
    found: list[tuple[JSON, list[JSON]]] = []
    for key, value in doc.items():
        nk = norm(key)
        if nk == "service":
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items):
                found.append(
                    parse_service(item, f"{where}: service" + (f"[{i}]" if len(items) > 1 else ""), from_file=True)
                )
        elif nk == "services":
            if not isinstance(value, list):
                raise InputError(f"expected a list, got {type_name(value)}", f"{where}: services")
            for i, item in enumerate(value):
                found.append(parse_service(item, f"{where}: services[{i}]", from_file=True))
    return found


# --- agent configuration -----------------------------------------------------------------------------------------


@dataclass
class DNSConfig:
    workers: int = 0  # DNS worker processes; 0: one per core (our extension, flag -dns-workers)
    service_ttl: float = 0.0
    node_ttl: float = 0.0
    only_passing: bool = False
    udp_answer_limit: int = 0  # 0: as many as fit in the UDP payload (then TC is set)
    enable_truncate: bool = True


@dataclass
class AgentConfig:
    node_name: str = "gitlab-ha-consul"
    datacenter: str = "dc1"
    domain: str = "consul"
    data_dir: Path | None = None
    bind_addr: str = "127.0.0.1"
    client_addr: str = "127.0.0.1"
    advertise_addr: str = ""
    http_port: int = 8500
    dns_port: int = 8600
    serf_lan_port: int = 8301
    server_port: int = 8300
    server: bool = True
    server_explicit: bool = False
    bootstrap_expect: int = 0
    retry_join: list[str] = field(default_factory=list)
    retry_interval: float = 1.0
    retry_max: int = 0
    dev: bool = False
    enable_script_checks: bool = False  # script checks from anyone who reaches the HTTP API, and from files
    enable_local_script_checks: bool = False  # script checks from config files only
    encrypt: str = ""
    encrypt_verify_incoming: bool = True
    encrypt_verify_outgoing: bool = True
    raft_multiplier: int = 1
    # gossip_lan {…}; unset: Consul's LAN timing, or its dev-mode timing under -dev (gossip_profile)
    gossip: Profile | None = None
    leave_on_terminate: bool | None = None
    skip_leave_on_interrupt: bool | None = None
    session_ttl_min: float = 10.0
    check_update_interval: float = 300.0
    check_output_max_size: int = 4096  # bytes of a check's output kept (Consul's default)
    dns: DNSConfig = field(default_factory=DNSConfig)
    services: list[tuple[JSON, list[JSON]]] = field(default_factory=list)
    checks: list[JSON] = field(default_factory=list)
    watches: list[WatchDefinition] = field(default_factory=list)
    node_meta: dict[str, str] = field(default_factory=dict)
    ports_set: set[str] = field(default_factory=set)
    tls: TLSConfig = field(default_factory=TLSConfig)
    script_checks_at: list[str] = field(default_factory=list)  # where the config files define script checks

    @property
    def address(self) -> str:
        return self.advertise_addr or (self.bind_addr if self.bind_addr not in ("0.0.0.0", "::") else "127.0.0.1")

    def gossip_profile(self) -> Profile:
        """The gossip timing this agent runs: `gossip_lan` as given, else Consul's (dev-mode under -dev)."""
        return self.gossip or (DEV if self.dev else CONSUL_LAN)


# Keys Consul knows that this agent reads but has no use for; accepted so real configs validate. None of
# them weakens or claims security: those (ACLs, TLS) are refused below until they are implemented.
_ACCEPTED_AGENT_KEYS = frozenset(
    norm(k)
    for k in (
        "ui", "ui_config", "log_level", "log_file", "log_json", "enable_syslog", "telemetry", "rejoin_after_leave",
        "primary_datacenter", "disable_update_check", "disable_remote_exec", "addresses", "recursors", "raft_protocol",
        "node_id", "autopilot", "limits", "disable_host_node_id", "http_config", "reconnect_timeout",
        "translate_wan_addrs", "pid_file", "enable_debug", "license_path", "advertise_addr_wan", "log_rotate_bytes",
        "log_rotate_duration", "log_rotate_max_files", "syslog_facility", "segment", "segments", "serf_lan", "serf_wan",
        "serf_lan_allowed_cidrs", "retry_join_wan", "start_join_wan", "retry_interval_wan", "enable_central_service_config",
        "raft_snapshot_threshold", "raft_snapshot_interval", "raft_trailing_logs", "server_rejoin_age_max",
        "discovery_max_stale", "rpc", "audit", "cloud", "config_entries", "default_query_time", "max_query_time",
        "disable_keyring_file", "disable_anonymous_signature", "discard_check_output", "advertise_reconnect_timeout",
        "alt_domain", "non_voting_server", "read_replica", "unix_sockets", "use_streaming_backend",
        "rpc_max_conns_per_client", "http_max_conns_per_client", "locality", "connect", "server_name",
    )
)  # fmt: skip

# Security settings this agent does not implement yet: refused when they would switch something on,
# never accepted and ignored (an operator would believe the agent closed when it is open).
_SECURITY_KEYS = frozenset(
    norm(k)
    for k in (
        "acl", "acl_datacenter", "acl_default_policy", "acl_down_policy", "acl_master_token", "acl_token",
        "acl_agent_token", "acl_enforce_version_8", "ca_path", "auto_encrypt", "auto_config", "tls_cipher_suites",
        "tls_prefer_server_cipher_suites",
    )
)  # fmt: skip
# TLS settings, top level (Consul before 1.12) and in `tls { defaults | internal_rpc | https | grpc { … } }`
_TLS_TOP = {
    "cafile": "ca_file", "certfile": "cert_file", "keyfile": "key_file", "verifyincoming": "verify_incoming",
    "verifyincomingrpc": "verify_incoming_rpc", "verifyincominghttps": "verify_incoming_https",
    "verifyoutgoing": "verify_outgoing", "verifyserverhostname": "verify_server_hostname",
    "tlsminversion": "tls_min_version",
}  # fmt: skip


def _switches_on(value: Any) -> bool:
    """Whether a security setting's value asks for something (false, "", empty blocks ask for nothing)."""
    if isinstance(value, dict):
        return any(_switches_on(v) for k, v in value.items() if norm(str(k)) not in ("enabled",)) or bool(
            value.get("enabled", False)
        )
    if isinstance(value, list):
        return any(_switches_on(v) for v in value)
    return bool(value) and value not in ("false", "0")


def _join_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    return _str_list(value, where)


# Agent keys that are one setting each: normalised key -> (AgentConfig attribute, converter)
_PLAIN_KEYS: dict[str, tuple[str, Converter]] = {
    "nodename": ("node_name", _str),
    "bindaddr": ("bind_addr", _str),
    "clientaddr": ("client_addr", _str),
    "advertiseaddr": ("advertise_addr", _str),
    "retrymax": ("retry_max", _int),
    "enablescriptchecks": ("enable_script_checks", _bool),
    "enablelocalscriptchecks": ("enable_local_script_checks", _bool),
    "encryptverifyincoming": ("encrypt_verify_incoming", _bool),
    "encryptverifyoutgoing": ("encrypt_verify_outgoing", _bool),
    "leaveonterminate": ("leave_on_terminate", _bool),
    "skipleaveoninterrupt": ("skip_leave_on_interrupt", _bool),
    "sessionttlmin": ("session_ttl_min", parse_duration),
    "checkupdateinterval": ("check_update_interval", parse_duration),
    "checkoutputmaxsize": ("check_output_max_size", _positive_int),
}


def parse_agent_config(docs: list[tuple[JSON, str]], base: AgentConfig) -> AgentConfig:
    """Merge config documents (in file-name order, later wins) into `base`."""
    cfg = base
    for doc, where in docs:
        for key, value in doc.items():
            nk = norm(key)
            at = f"{where}: {key}"
            if nk in ("service", "services"):
                found = services_in_document({key: value}, where)
                cfg.services.extend(found)
                if any(c["Type"] == "script" for _svc, checks in found for c in checks):
                    cfg.script_checks_at.append(at)
            elif nk in ("check", "checks"):
                items = value if isinstance(value, list) else [value]
                for i, item in enumerate(items):
                    cfg.checks.append(parse_check(item, f"{at}[{i}]", from_file=True))
                    if cfg.checks[-1]["Type"] == "script":
                        cfg.script_checks_at.append(f"{at}[{i}]")
            elif nk in _PLAIN_KEYS:
                attr, conv = _PLAIN_KEYS[nk]
                setattr(cfg, attr, conv(value, at))
            elif nk == "datacenter":
                cfg.datacenter = _str(value, at).lower()
            elif nk == "domain":
                cfg.domain = _str(value, at).strip(".").lower()
            elif nk == "datadir":
                cfg.data_dir = Path(_str(value, at))
            elif nk == "server":
                cfg.server = _bool(value, at)
                cfg.server_explicit = True
            elif nk == "bootstrapexpect":
                cfg.bootstrap_expect = _int(value, at)
                if cfg.bootstrap_expect < 0:
                    raise InputError("must not be negative", at)
            elif nk == "bootstrap":
                if _bool(value, at):
                    cfg.bootstrap_expect = 1
            elif nk in ("retryjoin", "startjoin", "join"):
                cfg.retry_join.extend(_join_list(value, at))
            elif nk == "retryinterval":
                cfg.retry_interval = max(0.1, parse_duration(value, at))
            elif nk == "encrypt":
                cfg.encrypt = _str(value, at)
                _check_key(cfg.encrypt, at)
            elif nk == "performance":
                _performance(cfg, value, at)
            elif nk == "gossiplan":
                _gossip_lan(cfg, value, at)
            elif nk == "nodemeta":
                cfg.node_meta.update(_str_map(value, at))
            elif nk == "ports":
                _ports(cfg, value, at)
            elif nk == "dnsconfig":
                _dns(cfg.dns, value, at)
            elif nk == "watches":
                if not isinstance(value, list):
                    raise InputError(f"expected a list, got {type_name(value)}", at)
                cfg.watches.extend(parse_watch(item, f"{at}[{i}]") for i, item in enumerate(value))
            elif nk in _TLS_TOP:
                _tls_setting(cfg, _TLS_TOP[nk], value, "", at)
            elif nk == "tls":
                _tls_block(cfg, value, at)
            elif nk in _SECURITY_KEYS:
                if _switches_on(value):
                    raise InputError(
                        f"{key} is not implemented by this agent: refusing to start rather than run without it",
                        where,
                    )
            elif nk in _ACCEPTED_AGENT_KEYS:
                if nk == "ui" and value:
                    log.info("%s: ui is accepted and ignored: this agent has no web UI", where)
                continue
            else:
                raise InputError(f"invalid config key {key}", where)
    return cfg


def _tls_setting(cfg: AgentConfig, name: str, value: Any, section: str, at: str) -> None:
    """One TLS setting; `section` is "" (top level / defaults), "internal_rpc", "https" or "grpc"."""
    tls = cfg.tls
    if section == "grpc":
        return  # there is no gRPC listener
    if name in ("ca_file", "cert_file", "key_file"):
        path = _str(value, at)
        have = getattr(tls, name)
        if have and path and have != path and section:
            raise InputError(f"a {section} {name} other than the default one is not implemented", at)
        if path:
            setattr(tls, name, path)
            tls.where[name] = at
    elif name == "tls_min_version":
        version = _str(value, at).lower().replace("v", "").replace(".", "").replace("_", "")
        if version not in ("tls12", "tls13"):
            raise InputError("use TLSv1_2 or TLSv1_3 (older versions are refused)", at)
        tls.min_version = version
    elif name in ("verify_incoming", "verify_incoming_rpc", "verify_incoming_https"):
        on = _bool(value, at)
        if name in ("verify_incoming", "verify_incoming_rpc") and section in ("", "internal_rpc"):
            tls.verify_incoming_rpc = on or tls.verify_incoming_rpc
            tls.where["verify_incoming_rpc"] = at
        if name in ("verify_incoming", "verify_incoming_https") and section in ("", "https"):
            tls.verify_incoming_https = on or tls.verify_incoming_https
            tls.where["verify_incoming_https"] = at
    elif name == "verify_outgoing":
        if section in ("", "internal_rpc"):
            tls.verify_outgoing = _bool(value, at) or tls.verify_outgoing
            tls.where["verify_outgoing"] = at
    elif name == "verify_server_hostname":
        tls.verify_server_hostname = _bool(value, at) or tls.verify_server_hostname
        tls.where["verify_server_hostname"] = at
    else:
        raise InputError(f"invalid config key {name}", at)


_TLS_SECTION_KEYS = {
    "cafile": "ca_file", "certfile": "cert_file", "keyfile": "key_file", "verifyincoming": "verify_incoming",
    "verifyoutgoing": "verify_outgoing", "verifyserverhostname": "verify_server_hostname",
    "tlsminversion": "tls_min_version",
}  # fmt: skip


def _tls_block(cfg: AgentConfig, value: Any, where: str) -> None:
    for section, body in _block(value, where).items():
        ns = norm(section)
        if ns not in ("defaults", "internalrpc", "https", "grpc"):
            raise InputError(f"invalid config key tls.{section}", where)
        for key, item in _block(body, f"{where}.{section}").items():
            nk = norm(key)
            at = f"{where}.{section}.{key}"
            if nk in ("capath", "tlsciphersuites"):
                if _switches_on(item):
                    raise InputError(f"tls.{section}.{key} is not implemented by this agent: refusing to start", at)
                continue
            if nk == "usebuiltinncertificates":
                continue
            if nk not in _TLS_SECTION_KEYS:
                raise InputError(f"invalid config key tls.{section}.{key}", where)
            _tls_setting(
                cfg, _TLS_SECTION_KEYS[nk], item, {"defaults": "", "internalrpc": "internal_rpc"}.get(ns, ns), at
            )


def _check_key(key: str, where: str) -> None:
    try:
        raw = base64.b64decode(key, validate=True)
    except ValueError:
        raise InputError("encrypt: not valid base64", where) from None
    if len(raw) not in (16, 24, 32):
        raise InputError("encrypt: the key must be 16, 24 or 32 bytes", where)


def _block(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        value = value[0]  # HCL gives a one-element list for a block written once
    if not isinstance(value, dict):
        raise InputError(f"expected an object, got {type_name(value)}", where)
    return value


def _performance(cfg: AgentConfig, value: Any, where: str) -> None:
    for key, item in _block(value, where).items():
        nk = norm(key)
        if nk == "raftmultiplier":
            multiplier = _int(item, f"{where}.{key}")
            if not 1 <= multiplier <= 10:
                raise InputError("must be between 1 and 10", f"{where}.{key}")
            cfg.raft_multiplier = multiplier
        elif nk in ("leavedraintime", "rpcholdtimeout"):
            continue
        else:
            raise InputError(f"invalid config key performance.{key}", where)


def _gossip_lan(cfg: AgentConfig, value: Any, where: str) -> None:
    changes: dict[str, Any] = {}
    for key, item in _block(value, where).items():
        nk = norm(key)
        at = f"{where}.{key}"
        if nk == "probeinterval":
            changes["probe_interval"] = parse_duration(item, at)
        elif nk == "probetimeout":
            changes["probe_timeout"] = parse_duration(item, at)
        elif nk == "suspicionmult":
            changes["suspicion_mult"] = float(_int(item, at))
        elif nk == "retransmitmult":
            changes["retransmit_mult"] = _int(item, at)
        elif nk == "gossipnodes":
            changes["gossip_nodes"] = _int(item, at)
        elif nk == "gossipinterval":
            changes["gossip_interval"] = parse_duration(item, at)
        else:
            raise InputError(f"invalid config key gossip_lan.{key}", where)
    for name in ("probe_interval", "probe_timeout"):
        if name in changes and not 0.05 <= changes[name] <= 60:
            raise InputError("must be between 50ms and 60s", f"{where}.{name}")
    cfg.gossip = dataclasses.replace(cfg.gossip_profile(), **changes)


def _ports(cfg: AgentConfig, value: Any, where: str) -> None:
    for key, port in _block(value, where).items():
        nk = norm(key)
        p = _int(port, f"{where}.{key}")
        if nk in ("http", "dns", "serflan", "server") and not -1 <= p <= 65535:
            raise InputError(f"invalid port {p}", f"{where}.{key}")
        if nk == "http":
            cfg.http_port = p
        elif nk == "dns":
            cfg.dns_port = p
        elif nk == "serflan":
            cfg.serf_lan_port = p
        elif nk == "server":
            cfg.server_port = p
        elif nk == "https":
            cfg.tls.https_port = p
            cfg.tls.where["https_port"] = f"{where}.{key}"
        elif nk in ("grpc", "grpctls", "serfwan", "sidecarminport", "sidecarmaxport", "exposeminport", "exposemaxport"):
            continue
        else:
            raise InputError(f"invalid config key ports.{key}", where)
        cfg.ports_set.add(nk)


def _dns(dns: DNSConfig, value: Any, where: str) -> None:
    for key, item in _block(value, where).items():
        nk = norm(key)
        at = f"{where}.{key}"
        if nk == "nodettl":
            dns.node_ttl = parse_duration(item, at)
        elif nk == "servicettl":
            if isinstance(item, dict):
                dns.service_ttl = parse_duration(item.get("*", "0s"), at)
            else:
                dns.service_ttl = parse_duration(item, at)
        elif nk == "onlypassing":
            dns.only_passing = _bool(item, at)
        elif nk == "udpanswerlimit":
            dns.udp_answer_limit = _int(item, at)
        elif nk == "enabletruncate":
            dns.enable_truncate = _bool(item, at)
        elif nk in (
            "allowstale",
            "maxstale",
            "recursortimeout",
            "disablecompression",
            "a_record_limit",
            "arecordlimit",
            "enableadditionalnodemetatxt",
            "softwareapplicable",
            "usecache",
            "cachemaxage",
        ):
            continue
        else:
            raise InputError(f"invalid config key dns_config.{key}", where)


def config_files(directory: Path) -> list[Path]:
    """The `.json` and `.hcl` files of a config dir, in lexical order as Consul reads them."""
    if not directory.is_dir():
        raise InputError("not a directory", str(directory))
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".json", ".hcl"))


def load_config_dir(directories: list[Path], base: AgentConfig) -> AgentConfig:
    docs: list[tuple[JSON, str]] = []
    for directory in directories:
        for path in config_files(directory):
            docs.append((load_document(path), str(path)))
    return parse_agent_config(docs, base)


SCRIPTS_DISABLED = (
    "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or "
    "'enable_local_script_checks' to true"
)
SCRIPTS_DISABLED_REMOTE = (
    "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true"
)


def script_checks_allowed(enabled: bool, checks: list[JSON], *, local: bool = False) -> None:
    """Script checks run only where allowed (CommandError 400, in Consul's words). `enabled`: for checks
    from config files (`local`), `enable_local_script_checks` or `enable_script_checks`; for checks
    registered over the HTTP API, `enable_script_checks` only."""
    if enabled or not any(c.get("Type") == "script" for c in checks):
        return
    raise CommandError(SCRIPTS_DISABLED if local else SCRIPTS_DISABLED_REMOTE, 400)


def check_script_rule(cfg: AgentConfig) -> None:
    """The config files' script checks need `enable_script_checks` or `enable_local_script_checks`
    (InputError naming the first file and field that defines one)."""
    if cfg.script_checks_at and not (cfg.enable_script_checks or cfg.enable_local_script_checks):
        raise InputError(SCRIPTS_DISABLED, cfg.script_checks_at[0])


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def script_checks_warning(cfg: AgentConfig) -> str | None:
    """The warning for remote script checks on an HTTP API that other hosts can reach (None if loopback)."""
    exposed = [h for h in (cfg.client_addr.split() or ["127.0.0.1"]) if not _loopback(h)]
    if not cfg.enable_script_checks or not exposed:
        return None
    return (
        f"enable_script_checks is on and the HTTP API listens on {', '.join(exposed)}: anyone who can reach it "
        "can run any command as this agent's user (PUT /v1/agent/check/register with args). There are no ACLs "
        "here: use enable_local_script_checks (config-file checks only) or listen on loopback"
    )


# --- the agent's flags -------------------------------------------------------------------------------------------


@dataclass
class AgentFlags:
    """`consul agent` flags; None (or False / empty) means not given. Flags win over files, as in Consul."""

    node: str | None = None
    bind: str | None = None
    advertise: str | None = None
    client: str | None = None
    http_port: int | None = None
    dns_port: int | None = None
    serf_lan_port: int | None = None
    server_port: int | None = None
    data_dir: Path | None = None
    datacenter: str | None = None
    domain: str | None = None
    enable_script_checks: bool = False
    enable_local_script_checks: bool = False
    server: bool = False
    bootstrap: bool = False
    bootstrap_expect: int | None = None
    retry_join: list[str] = field(default_factory=list)
    retry_interval: float | None = None
    encrypt: str | None = None
    dns_workers: int | None = None


@dataclass(frozen=True)
class ConfigSource:
    """Where an agent's config comes from: read at start and read again, the same way, on reload (as Consul,
    which re-reads both the -config-dir dirs and the -config-file files, then applies the flags again)."""

    config_dirs: list[Path] = field(default_factory=list)
    config_files: list[Path] = field(default_factory=list)
    flags: AgentFlags = field(default_factory=AgentFlags)
    node_name: str = ""
    dev: bool = False

    def load(self) -> AgentConfig:
        return agent_config(self.config_dirs, self.config_files, self.flags, node_name=self.node_name, dev=self.dev)


def agent_config(
    config_dirs: list[Path], config_files: list[Path], flags: AgentFlags, *, node_name: str, dev: bool
) -> AgentConfig:
    """The agent's config: the config dirs, then the config files, then the flags; `node_name` by default."""
    cfg = load_config_dir(config_dirs, AgentConfig(node_name=node_name, dev=dev))
    if config_files:
        cfg = parse_agent_config([(load_document(p), str(p)) for p in config_files], cfg)
    if flags.node:
        cfg.node_name = flags.node
    if flags.bind:
        cfg.bind_addr = flags.bind
    if flags.advertise:
        cfg.advertise_addr = flags.advertise
    if flags.client:
        cfg.client_addr = flags.client
    for name in ("http_port", "dns_port", "serf_lan_port", "server_port"):
        value = getattr(flags, name)
        if value is not None:
            setattr(cfg, name, value)
            cfg.ports_set.add(name.replace("_port", "").replace("_", ""))
    if flags.data_dir is not None:
        if dev:
            raise InputError("-dev keeps the state in memory: drop -data-dir or -dev", "-data-dir")
        cfg.data_dir = flags.data_dir
    if flags.datacenter:
        cfg.datacenter = flags.datacenter.lower()
    if flags.domain:
        cfg.domain = flags.domain.strip(".").lower()
    if flags.enable_script_checks:
        cfg.enable_script_checks = True
    if flags.enable_local_script_checks:
        cfg.enable_local_script_checks = True
    if flags.dns_workers is not None:
        if flags.dns_workers < 0:
            raise InputError("must be 0 (one per core) or more", "-dns-workers")
        cfg.dns.workers = flags.dns_workers
    if flags.server:
        cfg.server, cfg.server_explicit = True, True
    if flags.bootstrap:
        cfg.bootstrap_expect = 1
    if flags.bootstrap_expect is not None:
        cfg.bootstrap_expect = flags.bootstrap_expect
    cfg.retry_join.extend(flags.retry_join)
    if flags.retry_interval is not None:
        cfg.retry_interval = flags.retry_interval
    if flags.encrypt:
        _check_key(flags.encrypt, "-encrypt")
        cfg.encrypt = flags.encrypt
    check_script_rule(cfg)
    if not dev and cfg.data_dir is None:
        raise InputError("data_dir is required (give -data-dir, data_dir in a config file, or -dev)", "-data-dir")
    finish_config(cfg)
    return cfg


def finish_config(cfg: AgentConfig) -> None:
    """Defaults that depend on other settings, and the combinations Consul refuses."""
    if cfg.dev:
        cfg.server, cfg.bootstrap_expect = True, cfg.bootstrap_expect or 1
        if cfg.data_dir is not None:  # from a config file (the -data-dir flag with -dev is refused)
            log.warning("-dev keeps the state in memory: data_dir %s is not used", cfg.data_dir)
        cfg.data_dir = None
        # a -dev agent is alone: its gossip and RPC ports need not be the well-known ones
        if "serflan" not in cfg.ports_set:
            cfg.serf_lan_port = 0
        if "server" not in cfg.ports_set:
            cfg.server_port = 0
    elif not cfg.server_explicit:
        # Not in Consul (which starts a client): an agent told neither `server` nor whom to join is the
        # standalone single server of this project's first release.
        cfg.server = not cfg.retry_join
        if cfg.server and not cfg.bootstrap_expect:
            cfg.bootstrap_expect = 1
    if cfg.bootstrap_expect and not cfg.server:
        raise InputError("'bootstrap_expect > 0' requires 'server = true'", "bootstrap_expect")
    if cfg.server and not cfg.bootstrap_expect and not cfg.retry_join:
        cfg.bootstrap_expect = 1  # a lone server elects itself (Consul would wait for `-bootstrap`)
    if cfg.server and not cfg.bootstrap_expect:
        log.warning(
            "server without bootstrap_expect: it becomes a voter only of a cluster that already lists it; "
            "set bootstrap_expect to the number of servers"
        )
    cfg.tls.check()
    if cfg.leave_on_terminate is None:
        cfg.leave_on_terminate = not cfg.server
    if cfg.skip_leave_on_interrupt is None:
        cfg.skip_leave_on_interrupt = cfg.server


def validate_paths(paths: list[Path]) -> AgentConfig:
    """Read config dirs and files as the agent would (`consul validate`); InputError naming file and field."""
    docs = []
    for path in paths:
        files = config_files(path) if path.is_dir() else [path]
        if not path.exists():
            raise InputError("no such file or directory", str(path))
        docs += [(load_document(p), str(p)) for p in files]
    cfg = parse_agent_config(docs, AgentConfig())
    check_script_rule(cfg)
    finish_config(cfg)
    return cfg


# --- service definition files for `consul services register|deregister` -----------------------------------------


def definition_files(files: list[Path]) -> list[tuple[JSON, list[JSON]]]:
    """The services (and their checks) of definition files; each file must define one."""
    found = []
    for path in files:
        defs = services_in_document(load_document(path), str(path))
        if not defs:
            raise InputError("no service or services block", str(path))
        found.extend(defs)
    return found


def register_request(svc: JSON, checks: list[JSON]) -> JSON:
    """The body of `PUT /v1/agent/service/register` for a parsed definition."""
    body = {k: v for k, v in svc.items() if not k.startswith("_")}
    body["Name"] = body.pop("Service")
    if checks:
        body["Checks"] = [{k: v for k, v in c.items() if k not in ("Type", "ServiceID")} for c in checks]
    return body
