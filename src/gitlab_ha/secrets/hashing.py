"""PostgreSQL MD5 password hashes, exactly as `gitlab-ctl pg-password-md5 <user>` prints them."""

from __future__ import annotations

import hashlib


def pg_md5(password: str, username: str) -> str:
    """Hex `md5(password + username)`: what Omnibus wants in `sql_user_password` and friends.

    PostgreSQL stores it prefixed with `md5` (`CREATE ROLE ... PASSWORD 'md5<hex>'`); Omnibus adds
    that prefix itself, so this returns the bare 32 hex digits.
    """
    return hashlib.md5((password + username).encode("utf-8"), usedforsecurity=False).hexdigest()
