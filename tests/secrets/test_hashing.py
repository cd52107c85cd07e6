"""MD5 hashes exactly as `gitlab-ctl pg-password-md5 <user>` prints them (vectors from the seed blog)."""

from __future__ import annotations

import pytest

from gitlab_ha.secrets.catalog import BY_NAME
from gitlab_ha.secrets.hashing import pg_md5

SEED_VECTORS = [
    ("test1", "gitlab", "8ea51d17cfa0fe1bb503ada4f7f1c68f"),
    ("test2", "pgbouncer", "a46d71dedc6fd700d42bb91318d1cfc6"),
    ("test3", "gitlab_replicator", "ee3a10e38c1e16210c39f63c26988cd5"),
    ("test4", "gitlab-consul", "2deabc6a0997166c753c1537890f27c1"),
    ("testtest", "praefect", "fab517b76c0579c2da57406331819f4c"),
]


@pytest.mark.parametrize(("password", "user", "expected"), SEED_VECTORS)
def test_seed_vectors(password: str, user: str, expected: str) -> None:
    assert pg_md5(password, user) == expected


@pytest.mark.parametrize(
    ("name", "user"),
    [
        ("gitlab_db_password", "gitlab"),
        ("pgbouncer_password", "pgbouncer"),
        ("replication_password", "gitlab_replicator"),
        ("consul_db_password", "gitlab-consul"),
        ("praefect_db_password", "praefect"),
    ],
)
def test_catalog_users_match_the_seed(name: str, user: str) -> None:
    assert BY_NAME[name].pg_user == user


def test_hash_is_bare_hex() -> None:
    digest = pg_md5("x", "y")
    assert len(digest) == 32
    assert set(digest) <= set("0123456789abcdef")
