"""The secrets store: one JSON file, mode 0600, written atomically; env vars override its values.

Format (version 1), entries in catalog order:

    {
      "version": 1,
      "created": "2025-01-01T00:00:00+00:00",
      "secrets": {
        "gitlab_db_password": {"value": "...", "generated_at": "2025-01-01T00:00:00+00:00"},
        ...
      }
    }

`GITLAB_HA_SECRET_<NAME>` (e.g. `GITLAB_HA_SECRET_REDIS_PASSWORD`) overrides the file's value. A
secret missing from the file is fine only while its env var is set. `init` records nothing for a
secret whose env var is set at that moment: the file never holds a value that is not the one in
use, so forgetting the env var later fails loudly instead of silently rendering another password.

No message raised here ever contains a value: only the file, the secret's name or the env var.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import SECRET_MODE, write_atomic
from gitlab_ha.secrets.catalog import (
    BY_ENV,
    BY_NAME,
    ENV_PREFIX,
    PEM_KINDS,
    SECRETS,
    Kind,
    SecretSpec,
    get_spec,
)
from gitlab_ha.secrets.hashing import pg_md5
from gitlab_ha.validation import fail, validate

STORE_VERSION = 1
STORE_ENV = "GITLAB_HA_SECRETS"  # the store file when --store / --secrets is not given (the CLI reads it)
# Characters that need quoting or escaping in Ruby, YAML, .pgpass lines or URLs.
UNSAFE_CHARS = frozenset("'\"\\:@#%/")
GOSSIP_KEY_SIZES = (16, 24, 32)  # AES-128/192/256; `consul keygen` gives 32
PEM_LABELS = {
    Kind.CERTIFICATE: ("CERTIFICATE",),
    Kind.PRIVATE_KEY: ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"),
}
TLS_HINT = "make the Consul TLS certificates with `gitlab-ha secrets tls --store STORE --topology FILE`"
SOURCE_FILE = "file"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class _Entry:
    value: str
    generated_at: str | None

    def __repr__(self) -> str:  # never show the value
        return f"_Entry(value=<hidden>, generated_at={self.generated_at!r})"


def check_value(spec: SecretSpec, value: str, where: str) -> None:
    """Refuse a value that would break a config file; the message never includes the value."""
    if not value:
        raise InputError(f"{spec.name} is empty", where)
    if spec.kind in PEM_KINDS:
        _check_pem(spec, value, where)
        return
    if any(c.isspace() or not c.isprintable() for c in value):
        raise InputError(f"{spec.name} contains whitespace or control characters", where)
    if spec.kind is Kind.GOSSIP_KEY:
        try:
            size = len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise InputError(f"{spec.name} is not standard base64 (make one with `consul keygen`)", where) from None
        if size not in GOSSIP_KEY_SIZES:
            raise InputError(f"{spec.name} decodes to {size} bytes, Consul wants 16, 24 or 32", where)
        return
    if any(c in UNSAFE_CHARS for c in value):
        raise InputError(
            f"{spec.name} contains one of ' \" \\ : @ # % / which need quoting in gitlab.rb, YAML, "
            ".pgpass or URLs; choose a value of letters, digits, '-', '_', '.' or '~'",
            where,
        )


def _check_pem(spec: SecretSpec, value: str, where: str) -> None:
    """One PEM block of the right type (parsed in full by `secrets tls` and `render`)."""
    text = value.strip()
    labels = PEM_LABELS[spec.kind]
    if not any(
        text.startswith(f"-----BEGIN {label}-----") and text.endswith(f"-----END {label}-----") for label in labels
    ):
        raise InputError(f"{spec.name} is not one PEM block of type {' or '.join(labels)}", where)
    if text.count("-----BEGIN ") != 1:
        raise InputError(f"{spec.name} holds more than one PEM block", where)


def _env_values(env: Mapping[str, str]) -> dict[str, str]:
    """Secrets given in the environment, by name; a misspelt GITLAB_HA_SECRET_* var is an error."""
    out: dict[str, str] = {}
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX):
            continue
        spec = BY_ENV.get(var)
        if spec is None:
            known = ", ".join(BY_ENV)
            raise InputError(f"unknown secret environment variable; known: {known}", var)
        check_value(spec, env[var], var)
        out[spec.name] = env[var]
    return out


def _shape(message: str, kind: type) -> Any:
    """A validator that refuses anything but `kind`, in the store's own words."""

    def check(value: Any) -> Any:
        if not isinstance(value, kind):
            raise fail(message)
        return value

    return BeforeValidator(check)


class _StoredSecret(BaseModel):
    """One entry of the file's `secrets` (its value is checked against its catalog entry afterwards)."""

    model_config = ConfigDict(extra="forbid")

    value: Annotated[str, _shape("must be an object with a string 'value'", str)]
    generated_at: Annotated[str | None, _shape("'generated_at' must be a timestamp string", str | None)] = None

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise fail("must be an object with a string 'value'")
        return data


def _version(value: Any) -> int:
    if value != STORE_VERSION or isinstance(value, bool):
        raise fail(f"is not a secrets store of version {STORE_VERSION}")
    return STORE_VERSION


def _known_names(value: Any) -> Any:
    if not isinstance(value, dict):
        raise fail("is not a secrets store: field 'secrets' must be an object")
    unknown = sorted(name for name in value if name not in BY_NAME)
    if unknown:
        raise fail(f"unknown secret(s): {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    return value


class _StoreFile(BaseModel):
    """The store file (version 1), as the module docstring shows it."""

    model_config = ConfigDict(extra="forbid")

    version: Annotated[int, BeforeValidator(_version)]
    created: Annotated[str, _shape("is not a secrets store: field 'created' must be a timestamp string", str)]
    secrets: Annotated[dict[str, _StoredSecret], BeforeValidator(_known_names)]


def _read(path: Path) -> tuple[str, dict[str, _Entry]]:
    """The store file's creation time and entries, after checking its mode and shape."""
    where = str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"no secrets store; create one with `gitlab-ha secrets init --store {path}`", where) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where) from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError("is not a regular file", where)
    if st.st_mode & 0o077:
        mode = stat.S_IMODE(st.st_mode)
        raise InputError(f"is accessible by group or others (mode {mode:04o}); run `chmod 600 {path}`", where)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where) from None
    except UnicodeDecodeError:
        raise InputError("is not a secrets store: not UTF-8 text", where) from None
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"is not a secrets store: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})", where
        ) from None
    if not isinstance(data, dict):
        raise InputError("is not a secrets store: expected a JSON object", where)
    doc = validate(_StoreFile, data, where, sep=": ")
    entries: dict[str, _Entry] = {}
    for spec in SECRETS:
        item = doc.secrets.get(spec.name)
        if item is not None:
            check_value(spec, item.value, f"{where}: secrets.{spec.name}")
            entries[spec.name] = _Entry(item.value, item.generated_at)
    return doc.created, entries


def _write(path: Path, created: str, entries: Mapping[str, _Entry]) -> None:
    data = {
        "version": STORE_VERSION,
        "created": created,
        "secrets": {
            spec.name: {"value": entries[spec.name].value, "generated_at": entries[spec.name].generated_at}
            for spec in SECRETS
            if spec.name in entries
        },
    }
    write_atomic(path, json.dumps(data, indent=2) + "\n", mode=SECRET_MODE)


class SecretStore:
    """The cluster's secrets: the store file's values, overridden by `GITLAB_HA_SECRET_*` env vars."""

    def __init__(self, path: Path, created: str, file_entries: Mapping[str, _Entry], env: Mapping[str, str]) -> None:
        self.path = path
        self.created = created
        self._file = dict(file_entries)
        self._env = dict(env)
        missing = [
            spec for spec in SECRETS if not spec.optional and spec.name not in self._file and spec.name not in self._env
        ]
        if missing:
            names = ", ".join(f"{s.name} (or set {s.env_var})" for s in missing)
            raise InputError(f"missing secret(s): {names}; add with `gitlab-ha secrets rotate NAME`", str(path))

    def __repr__(self) -> str:  # never show a value
        return f"SecretStore(path={str(self.path)!r}, secrets={len(SECRETS)})"

    # -- reading ---------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | str, env: Mapping[str, str] | None = None) -> SecretStore:
        """Read the store at `path`; env vars (`os.environ` unless `env` is given) override it."""
        path = Path(path)
        env_values = _env_values(os.environ if env is None else env)
        created, entries = _read(path)
        return cls(path, created, entries, env_values)

    def has(self, name: str) -> bool:
        """Whether `name` has a value (an optional entry, Consul TLS, may be absent)."""
        spec = get_spec(name)
        return spec.name in self._env or spec.name in self._file

    def get(self, name: str) -> str:
        """The plaintext value of `name` (env var first, then the file)."""
        spec = get_spec(name)
        if spec.name in self._env:
            return self._env[spec.name]
        if spec.name not in self._file:
            hint = TLS_HINT if spec.kind in PEM_KINDS else f"add it with `gitlab-ha secrets rotate {spec.name}`"
            raise InputError(f"{spec.name} is not in the store; {hint}", str(self.path))
        return self._file[spec.name].value

    def md5(self, name: str) -> str:
        """`md5(password + username)` for `name`, as `gitlab-ctl pg-password-md5 <user>` prints it."""
        spec = get_spec(name)
        if spec.pg_user is None:
            hashed = ", ".join(s.name for s in SECRETS if s.pg_user)
            raise InputError(f"{name} has no PostgreSQL user, so no md5 hash; these do: {hashed}")
        return pg_md5(self.get(name), spec.pg_user)

    def source(self, name: str) -> str:
        """Where the value in use comes from: `file` or `env:GITLAB_HA_SECRET_<NAME>`."""
        spec = get_spec(name)
        return f"env:{spec.env_var}" if spec.name in self._env else SOURCE_FILE

    def generated_at(self, name: str) -> str | None:
        """When the file's value was generated (None for a value from the environment)."""
        spec = get_spec(name)
        if spec.name in self._env or spec.name not in self._file:
            return None
        return self._file[spec.name].generated_at

    def values(self) -> list[str]:
        """Every secret value known to the store (in use or overridden), for leak checks; certificates
        are public and left out."""
        out: list[str] = []
        for spec in SECRETS:
            if not spec.hidden:
                continue
            for value in (self._env.get(spec.name), self._file.get(spec.name, _Entry("", None)).value):
                if value and value not in out:
                    out.append(value)
        return out

    def describe(self) -> list[dict[str, str | None]]:
        """One row per secret without its value: name, kind, user, source, env var, generated_at (optional
        entries, the Consul TLS files, only once issued)."""
        return [
            {
                "name": spec.name,
                "kind": spec.kind.value,
                "user": spec.pg_user,
                "source": self.source(spec.name),
                "env_var": spec.env_var,
                "generated_at": self.generated_at(spec.name),
                "description": spec.description,
            }
            for spec in SECRETS
            if not spec.optional or self.has(spec.name)
        ]

    # -- writing ---------------------------------------------------------------------------------

    @classmethod
    def init(cls, path: Path | str, env: Mapping[str, str] | None = None) -> SecretStore:
        """Generate every secret not given in the environment and write a new 0600 store.

        Refuses if `path` exists (even as a dangling symlink): a store is never overwritten.
        """
        path = Path(path)
        env_values = _env_values(os.environ if env is None else env)
        if os.path.lexists(path):
            raise InputError(
                "exists; refusing to overwrite it (replace one secret with `gitlab-ha secrets rotate NAME`)",
                str(path),
            )
        now = _now()
        entries = {
            spec.name: _Entry(spec.generate(), now)
            for spec in SECRETS
            if spec.name not in env_values and not spec.optional
        }
        _write(path, now, entries)
        return cls(path, now, entries, env_values)

    @classmethod
    def rotate(cls, path: Path | str, name: str, env: Mapping[str, str] | None = None) -> None:
        """Replace the file's value of `name` with a fresh one; every other entry stays byte-identical.

        Refused while `GITLAB_HA_SECRET_<NAME>` is set: the file's value would not be the one in use.
        Also fills in an entry missing from the file (one that came from the environment at `init`).
        """
        path = Path(path)
        spec = get_spec(name)
        if spec.kind in PEM_KINDS:
            raise InputError(
                f"{spec.name} is issued with the other Consul TLS files: `gitlab-ha secrets tls --replace`"
            )
        env_values = _env_values(os.environ if env is None else env)
        if spec.name in env_values:
            raise InputError(
                f"{spec.name} comes from the environment; change it there, or unset it first", spec.env_var
            )
        created, entries = _read(path)
        old = entries.get(spec.name)
        value = spec.generate()
        while old is not None and value == old.value:  # pragma: no cover - astronomically unlikely
            value = spec.generate()
        entries[spec.name] = _Entry(value, _now())
        _write(path, created, entries)

    @classmethod
    def put_group(
        cls, path: Path | str, values: Mapping[str, str], group: tuple[str, ...], *, replace: bool = False
    ) -> None:
        """Write `values` as the file's entries of `group` (names of optional secrets made together, such
        as the Consul TLS files): refused when any is there already unless `replace`, which drops the whole
        group first (a group from the user's CA has no CA key). Every other entry stays byte-identical."""
        path = Path(path)
        created, entries = _read(path)
        present = [name for name in group if name in entries]
        if present and not replace:
            raise InputError(f"already holds {', '.join(present)}; pass --replace to issue them again", str(path))
        now = _now()
        for name in group:
            entries.pop(name, None)
        for name, value in values.items():
            spec = get_spec(name)
            if spec.name not in group:
                raise ValueError(f"{name} is not in the group")
            check_value(spec, value, name)
            entries[spec.name] = _Entry(value, now)
        _write(path, created, entries)
