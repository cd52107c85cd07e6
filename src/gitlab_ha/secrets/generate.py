"""Random values from the stdlib `secrets` module (the OS CSPRNG).

Passwords and tokens use letters and digits only: that is URL-safe and needs no quoting in Ruby,
YAML, TOML, a `.pgpass` line, a Redis URL or a shell. 40 such characters carry about 238 bits.
"""

from __future__ import annotations

import base64
import secrets
import string

ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 40
TOKEN_LENGTH = 48
GOSSIP_KEY_BYTES = 32


def _random_text(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def new_password(length: int = PASSWORD_LENGTH) -> str:
    """A password of `length` (≥ 32) letters and digits."""
    if length < 32:
        raise ValueError("passwords are at least 32 characters")
    return _random_text(length)


def new_token(length: int = TOKEN_LENGTH) -> str:
    """An auth token (Praefect, Gitaly) of `length` (≥ 32) letters and digits."""
    if length < 32:
        raise ValueError("tokens are at least 32 characters")
    return _random_text(length)


def new_gossip_key() -> str:
    """32 random bytes in standard base64, exactly the shape `consul keygen` prints."""
    return base64.b64encode(secrets.token_bytes(GOSSIP_KEY_BYTES)).decode("ascii")


def new_username(prefix: str) -> str:
    """A readable, unguessable-enough user name such as `patroni-1f2e3d4c`."""
    return f"{prefix}-{secrets.token_hex(4)}"
