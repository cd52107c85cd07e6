"""Generated values: strong, free of characters that need quoting, and in the shape each consumer wants."""

from __future__ import annotations

import base64
import re

import pytest

from gitlab_ha.secrets.catalog import PEM_KINDS, SECRETS, Kind
from gitlab_ha.secrets.generate import new_gossip_key, new_password, new_token, new_username
from gitlab_ha.secrets.store import UNSAFE_CHARS

URL_SAFE = re.compile(r"^[A-Za-z0-9_~.-]+$")


def test_passwords_are_long_url_safe_and_unique() -> None:
    values = [new_password() for _ in range(200)]
    assert len(set(values)) == len(values)
    for value in values:
        assert len(value) >= 32
        assert URL_SAFE.match(value)
        assert not set(value) & UNSAFE_CHARS


def test_tokens_are_long_and_url_safe() -> None:
    for value in (new_token() for _ in range(50)):
        assert len(value) >= 32
        assert URL_SAFE.match(value)


def test_short_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        new_password(16)
    with pytest.raises(ValueError):
        new_token(31)


def test_gossip_key_is_32_bytes_of_standard_base64() -> None:
    for key in (new_gossip_key() for _ in range(50)):
        assert len(base64.b64decode(key, validate=True)) == 32
        assert len(key) == 44


def test_patroni_user_name_is_readable() -> None:
    assert re.fullmatch(r"patroni-[0-9a-f]{8}", new_username("patroni"))


def test_catalog_generates_each_kind() -> None:
    for spec in SECRETS:
        if spec.kind in PEM_KINDS:  # issued together by `secrets tls` (test_consul_tls.py)
            continue
        value = spec.generate()
        if spec.kind is Kind.GOSSIP_KEY:
            assert len(base64.b64decode(value, validate=True)) == 32
        elif spec.kind is Kind.USERNAME:
            assert value.startswith("patroni-")
        else:
            assert len(value) >= 32
