"""Watch definitions: what a watch reads (`WatchSpec`) and, in the agent's config, how it is handled.

Validated by pydantic (`gitlab_ha.validation`) with Consul's rules: keys in any case and with or
without underscores (`passingonly`, `PassingOnly`, `passing_only`), errors named by file and field.
Keys Consul does not define for watches are ignored. Reading a definition builds nothing: the agent's
config is checked without starting a watch.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from gitlab_ha.discovery.values import norm
from gitlab_ha.validation import Bool, Str, StrList, fail, str_list, type_name, validate

WatchType = Literal["key", "keyprefix", "services", "nodes", "service", "checks"]
TYPES = ("key", "keyprefix", "services", "nodes", "service", "checks")


def _tags(value: Any) -> tuple[str, ...]:
    """`tag` is one string or a list of them."""
    return (value,) if isinstance(value, str) else tuple(str_list(value))


def _in_consul_spelling(data: Any, keys: frozenset[str]) -> dict[str, Any]:
    """Input keys in any spelling -> Consul's (`PassingOnly` -> `passingonly`); other keys are left out."""
    if not isinstance(data, dict):
        raise fail(f"expected an object, got {type_name(data)}")
    spelled = {norm(str(key)): value for key, value in data.items()}
    return {key: value for key, value in spelled.items() if key in keys}


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
