"""The primary sampler's rule for a member's state: no PostgreSQL, the values its query reads."""

from __future__ import annotations

import pytest

from gitlab_ha.drills.sampler import state_of

NAMES = '"postgres-2"'  # what Patroni writes into synchronous_standby_names for one synchronous standby


@pytest.mark.parametrize("commit", ["on", "remote_write", "remote_apply"])
def test_a_primary_waiting_for_a_standby_that_does_not_stream_is_held(commit: str) -> None:
    assert state_of(False, NAMES, commit, 0) == "held"
    assert state_of(False, "ANY 1 (postgres-2, postgres-3)", commit, 0) == "held"


@pytest.mark.parametrize("commit", ["on", "remote_write", "remote_apply"])
def test_a_primary_with_a_streaming_synchronous_standby_acknowledges(commit: str) -> None:
    assert state_of(False, NAMES, commit, 1) == "primary"


@pytest.mark.parametrize("commit", ["local", "off"])
def test_a_primary_that_does_not_wait_for_a_standby_acknowledges(commit: str) -> None:
    assert state_of(False, NAMES, commit, 0) == "primary"


def test_an_asynchronous_primary_acknowledges_and_a_replica_is_a_replica() -> None:
    assert state_of(False, "", "on", 0) == "primary"
    assert state_of(True, "", "on", 0) == "replica"
    assert state_of(True, NAMES, "on", 0) == "replica"  # a standby keeps the names it was configured with
