"""Object storage credentials, resolved at render time from the reference in the topology."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import read_user_text
from gitlab_ha.topology.model import ObjectStorage

# provider -> (gitlab.rb connection key, suffix of the env var / key in the file)
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "AWS": (("aws_access_key_id", "ACCESS_KEY_ID"), ("aws_secret_access_key", "SECRET_ACCESS_KEY")),
    "AzureRM": (
        ("azure_storage_account_name", "STORAGE_ACCOUNT_NAME"),
        ("azure_storage_access_key", "STORAGE_ACCESS_KEY"),
    ),
}


def resolve(store: ObjectStorage | None, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The connection keys that carry credentials, read from env vars or a KEY=VALUE file."""
    if store is None or store.credentials.use_iam_profile:
        return {}
    fields = FIELDS.get(store.provider)
    if fields is None:  # Google: the JSON key file stays a path on the node
        return {}
    env = os.environ if env is None else env
    creds = store.credentials
    if creds.env is not None:
        out: dict[str, str] = {}
        for key, suffix in fields:
            var = f"{creds.env}_{suffix}"
            if not env.get(var):
                raise InputError(f"environment variable {var} is not set", "object_storage.credentials.env")
            out[key] = env[var]
        return out
    assert creds.file is not None
    return _from_file(Path(creds.file), fields)


def _from_file(path: Path, fields: tuple[tuple[str, str], ...]) -> dict[str, str]:
    where = "object_storage.credentials.file"
    text = read_user_text(path, f"{where} {path}")
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    out: dict[str, str] = {}
    for key, suffix in fields:
        if not values.get(suffix):
            raise InputError(f"{path} has no {suffix}=", where)
        out[key] = values[suffix]
    return out
