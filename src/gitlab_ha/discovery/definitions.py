"""Service, check and watch definitions: their shapes, validated by pydantic (`gitlab_ha.validation`).

Consul's rules: keys in any case and with or without underscores (`passingonly`, `PassingOnly`,
`passing_only`; Patroni sends `enabletagoverride`, py-consul `DeregisterCriticalServiceAfter`, files
`deregister_critical_service_after`), errors named by file and field as the user spelled it.

Services and checks refuse a key they do not define ("invalid key", as Consul's "has invalid keys")
and come out as plain dicts in Consul's canonical spelling (`ID`, `Name`, `Tags` …) so that they can
travel inside state-machine commands and be persisted as JSON unchanged; a service record has every
field, at the model's default when not given. What a definition means across its fields (which check
kind, which IDs) is `discovery/config.py`'s. Watches refuse a parameter they do not take, as Consul's
"Invalid parameters". Reading a definition builds nothing: the agent's config is checked without starting
a watch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from gitlab_ha.discovery.values import format_duration, norm, parse_duration
from gitlab_ha.errors import InputError
from gitlab_ha.validation import Bool, Int, Str, StrList, StrMap, fail, located_error, str_list, type_name, validate

WatchType = Literal["key", "keyprefix", "services", "nodes", "service", "checks"]
TYPES = ("key", "keyprefix", "services", "nodes", "service", "checks")


def _tags(value: Any) -> tuple[str, ...]:
    """`tag` is one string or a list of them."""
    return (value,) if isinstance(value, str) else tuple(str_list(value))


def _in_consul_spelling(data: Any, keys: frozenset[str]) -> dict[str, Any]:
    """Input keys in any spelling -> Consul's (`PassingOnly` -> `passingonly`). A key this watch does not
    know is refused, as Consul refuses it ("Invalid parameters"): `stale`, `filter`, a checks watch's
    `node` or an HTTP handler would otherwise be dropped while the operator believes them in force."""
    if not isinstance(data, dict):
        raise fail(f"expected an object, got {type_name(data)}")
    unknown = [str(key) for key in data if norm(str(key)) not in keys]
    if unknown:
        raise fail(f"invalid watch parameter {unknown[0]!r} (this agent's watches take {', '.join(sorted(keys))})")
    return {norm(str(key)): value for key, value in data.items()}


class WatchSpec(BaseModel):
    """What a watch reads: its type and that type's parameters."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    kind: WatchType = Field(alias="type")
    key: Str = ""
    prefix: Str | None = None  # a keyprefix watch needs it given; "" (the whole store) is fine
    service: Str = ""
    tags: Annotated[tuple[str, ...], BeforeValidator(_tags)] = Field(default=(), alias="tag")
    passing_only: Bool = Field(default=False, alias="passingonly")
    state: Str = ""
    datacenter: Str = ""

    @model_validator(mode="before")
    @classmethod
    def _spelling(cls, data: Any) -> Any:
        out = _in_consul_spelling(data, cls._consul_keys())
        if out.get("type") not in TYPES:
            raise fail(f"watch type must be one of {', '.join(TYPES)}, got {out.get('type', '')!r}")
        return out

    @classmethod
    def _consul_keys(cls) -> frozenset[str]:
        return frozenset(field.alias or name for name, field in cls.model_fields.items())

    @model_validator(mode="after")
    def _needs(self) -> WatchSpec:
        if self.kind == "key" and not self.key:
            raise fail("a key watch needs key")
        if self.kind == "keyprefix" and self.prefix is None:
            raise fail("a keyprefix watch needs prefix")
        if self.kind == "service" and not self.service:
            raise fail("a service watch needs service")
        if self.kind == "checks" and self.service and self.state:
            raise fail("a checks watch takes service or state, not both")
        return self

    def request(self) -> tuple[str, list[tuple[str, str]]]:
        """Path (unquoted: the client quotes it) and query of the blocking read for this watch."""
        params: list[tuple[str, str]] = []
        if self.datacenter:
            params.append(("dc", self.datacenter))
        if self.kind == "key":
            return f"/v1/kv/{self.key}", params
        if self.kind == "keyprefix":
            return f"/v1/kv/{self.prefix or ''}", [*params, ("recurse", "1")]
        if self.kind == "services":
            return "/v1/catalog/services", params
        if self.kind == "nodes":
            return "/v1/catalog/nodes", params
        if self.kind == "service":
            params.extend(("tag", t) for t in self.tags)
            if self.passing_only:
                params.append(("passing", "1"))
            return f"/v1/health/service/{self.service}", params
        if self.service:
            return f"/v1/health/checks/{self.service}", params
        return f"/v1/health/state/{self.state or 'any'}", params

    def shape(self, status: int, body: Any) -> Any:
        """The JSON a handler receives, as Consul's watch gives it."""
        if status == 404:
            return None
        if self.kind == "key":
            return body[0] if isinstance(body, list) and body else None
        return body


class WatchDefinition(WatchSpec):
    """A watch of the agent's `watches` config: the spec, a handler (`args`, or the legacy `handler`), a token."""

    handler_type: Str = Field(default="script", alias="handlertype")
    args: StrList | None = None
    handler: Str | None = None
    token: Str = ""

    @model_validator(mode="after")
    def _handled(self) -> WatchDefinition:
        if self.handler_type != "script":
            raise fail(f"watch handler_type {self.handler_type!r} is not supported (use script)")
        if self.args is None and self.handler is None:
            raise fail("a watch needs args (or handler)")
        return self

    @property
    def argv(self) -> list[str]:
        """The handler's command line: `args` as given, or the legacy `handler` through /bin/sh -c."""
        return self.args if self.args is not None else ["/bin/sh", "-c", self.handler or ""]


def parse_watch(params: Any, where: str) -> WatchDefinition:
    """A watch of the agent's config, validated; InputError naming `where` and the field."""
    return validate(WatchDefinition, params, where)


def parse_watch_spec(params: Any, where: str) -> WatchSpec:
    """What `consul watch` reads, from its flags; InputError naming `where` and the field."""
    return validate(WatchSpec, params, where)


# --- services and checks -------------------------------------------------------------------------------------------

JSON = dict[str, Any]


def _header(value: Any) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(f"expected an object of string lists, got {type_name(value)}")
    out: dict[str, list[str]] = {}
    for key, item in value.items():
        try:
            out[str(key)] = str_list(item)
        except PydanticCustomError as exc:
            raise fail(exc.message(), f".{key}{(exc.context or {}).get('at', '')}") from None
    return out


def _duration_text(value: Any) -> str:
    """A duration as Consul prints one (`10s`, `1m30s`), never negative."""
    try:
        seconds = parse_duration(value, "")
    except InputError as exc:
        raise fail(exc.message) from None
    if seconds < 0:
        raise fail("must not be negative")
    return format_duration(seconds)


HeaderMap = Annotated[dict[str, list[str]], BeforeValidator(_header)]
Duration = Annotated[str, BeforeValidator(_duration_text)]

# Keys Consul accepts on a definition that this agent drops: the ACL token (ACLs are not implemented, and
# the agent refuses to start with them switched on, so nobody believes a token protects anything), and an
# Enterprise namespace or partition that is the default one. Another namespace or partition is an
# isolation boundary this agent does not have: refused, never accepted and ignored.
IGNORED = frozenset({"namespace", "partition", "token"})
_TENANCY = frozenset({"namespace", "partition"})


class _Spelled(NamedTuple):
    values: JSON  # under canonical names, first given first
    position: dict[str, int]  # canonical name -> index of its key in the input
    given: dict[str, str]  # canonical name -> the key as the input spelled it
    problems: list[tuple[int, str]]  # (index in the input, what is wrong with that key)


def _spelled(data: dict[Any, Any], keys: Mapping[str, str]) -> _Spelled:
    """`data`'s keys in canonical spelling; an unknown or doubled key is a problem at its place."""
    out = _Spelled({}, {}, {}, [])
    for index, (key, value) in enumerate(data.items()):
        if not isinstance(key, str):
            out.problems.append((index, f"invalid key {key!r}"))
            continue
        spelled = norm(key)
        if spelled in _TENANCY and value not in (None, "", "default"):
            out.problems.append((index, f"{key} {value!r} is not implemented by this agent (Consul Enterprise)"))
            continue
        if spelled in IGNORED:
            continue
        if spelled not in keys:
            out.problems.append((index, f"invalid key {key!r}"))
            continue
        canonical = keys[spelled]
        if canonical in out.values:
            out.problems.append((index, f"key {key!r} given twice"))
            continue
        out.values[canonical] = value
        out.position[canonical] = index
        out.given[canonical] = key
    return out


class _Definition(BaseModel):
    """A definition whose fields are named in Consul's canonical spelling; KEYS maps every spelling to them."""

    model_config = ConfigDict(extra="forbid")
    SYNONYMS: ClassVar[dict[str, str]] = {}  # other names of a field (normalised)
    KEYS: ClassVar[dict[str, str]] = {}  # every normalised key (`norm`) -> its field: the field's own name, a synonym

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.KEYS = {**{norm(name): name for name in cls.model_fields}, **cls.SYNONYMS}

    @model_validator(mode="before")
    @classmethod
    def _spelling(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise fail(f"expected an object, got {type_name(data)}")
        spelled = _spelled(data, cls.KEYS)
        if spelled.problems:
            raise fail(spelled.problems[0][1])
        return spelled.values


class CheckDefinition(_Definition):
    SYNONYMS: ClassVar[dict[str, str]] = {"id": "CheckID", "scriptargs": "Args"}
    CheckID: Str = ""
    Name: Str = ""
    Notes: Str = ""
    ServiceID: Str = ""
    Args: StrList = Field(default_factory=list)
    HTTP: Str = ""
    Method: Str = ""
    Header: HeaderMap = Field(default_factory=dict)
    Body: Str = ""
    TLSSkipVerify: Bool = False
    TLSServerName: Str = ""
    TCP: Str = ""
    TTL: Duration = ""
    Interval: Duration = ""
    Timeout: Duration = ""
    Status: Str = ""
    Output: Str = ""
    DeregisterCriticalServiceAfter: Duration = ""
    SuccessBeforePassing: Int = 0
    FailuresBeforeCritical: Int = 0
    FailuresBeforeWarning: Int = 0
    OutputMaxSize: Int = 0


class ServiceDefinition(_Definition):
    SYNONYMS: ClassVar[dict[str, str]] = {"name": "Service"}
    ID: Str = ""
    Service: Str = ""
    Tags: StrList = Field(default_factory=list)
    Address: Str = ""
    Port: Int = 0
    Meta: StrMap = Field(default_factory=dict)
    EnableTagOverride: Bool = False
    Weights: Any = None  # checked with the service's meaning (config.parse_service)
    TaggedAddresses: Any = None
    Kind: Str = ""
    Check: Any = None  # parsed as checks of the service
    Checks: Any = None
    SocketPath: Str = ""


def definition_fields(model: type[_Definition], raw: Any, where: str, *, complete: bool = False) -> JSON:
    """The keys `raw` gives, validated by `model`, in Consul's spelling and the input's order; `complete`:
    then every other field of `model` at its default (a service record has them all; a check's meaning
    depends on which keys were given).

    An error names `where` and the key as the input spelled it (`web.json: service.Port`). Of several
    faults, the one whose key comes first in the input is reported, an unknown key as a bad value."""
    if not isinstance(raw, dict):
        raise InputError(f"expected an object, got {type_name(raw)}", where)
    spelled = _spelled(raw, model.KEYS)
    faults = [(index, InputError(message, where)) for index, message in spelled.problems]
    try:
        parsed = model.model_validate(spelled.values)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            canonical = str(error["loc"][0])
            error["loc"] = (spelled.given[canonical], *error["loc"][1:])
            faults.append((spelled.position[canonical], located_error(error, where)))
    if faults:
        raise min(faults, key=lambda fault: fault[0])[1]
    names = [*spelled.values, *(name for name in model.model_fields if name not in spelled.values)]
    return {name: getattr(parsed, name) for name in (names if complete else spelled.values)}
