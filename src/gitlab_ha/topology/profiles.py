"""Failover timing profiles: Omnibus' defaults, and the fast profile the lab rehearses with.

`omnibus` leaves every value unset, so the render writes nothing and Omnibus' defaults hold (Patroni
ttl 30 s, loop_wait 10 s, retry_timeout 10 s; Sentinel down-after 10 s, failover-timeout 60 s; the
leader check every 10 s; PgBouncer's server_login_retry 15 s). `fast` keeps within what Patroni
accepts (ttl ≥ 20 s, loop_wait + 2 × retry_timeout ≤ ttl) and instead of lowering the TTL ties the leader's session to its node's
`serfHealth`: a lost node frees the leader key as soon as gossip sees it dead (docs/topology.md).
"""

from __future__ import annotations

from gitlab_ha.topology.model import HA, ConsulHA, PatroniHA, PgBouncerHA, SentinelHA, Topology

PROFILES: dict[str, HA] = {
    "omnibus": HA(),
    "fast": HA(
        patroni=PatroniHA(
            ttl=20,
            loop_wait=1,
            # the leader demotes itself once its DCS has failed for retry_timeout: that must come before
            # the session check frees the key and a replica promotes (~4-5 s here), or a partitioned
            # leader stays writable beside the new one (the leader-partitioned drill saw 2.8 s of two
            # writable primaries with 5; with 3, Patroni's minimum, none or a few tenths: docs/drills.md)
            retry_timeout=3,
            service_check_interval="1s",
            session_checks=["serfHealth"],
        ),
        sentinel=SentinelHA(down_after_milliseconds=1000, failover_timeout=10000),
        consul=ConsulHA(check_interval="1s"),
        # a PgBouncer whose database was unreachable (the old leader, or the leader restarting) waits
        # server_login_retry before it tries again, even after the watch points it at the new leader:
        # with Omnibus' 15 s that wait, not the promotion (~2-4 s), was most of the write outage
        pgbouncer=PgBouncerHA(server_login_retry=1),
    ),
}

_Section = PatroniHA | SentinelHA | ConsulHA | PgBouncerHA


def with_profile(topo: Topology, profile: str) -> Topology:
    """`topo` with every unset timing value taken from `profile` (values the topology sets win)."""
    base = PROFILES[profile]
    ha = topo.ha

    def merge(own: _Section, fallback: _Section) -> dict[str, object]:
        return {k: (v if v is not None else getattr(fallback, k)) for k, v in own.model_dump().items()}

    merged = HA(
        patroni=PatroniHA(**merge(ha.patroni, base.patroni)),
        sentinel=SentinelHA(**merge(ha.sentinel, base.sentinel)),
        consul=ConsulHA(**merge(ha.consul, base.consul)),
        pgbouncer=PgBouncerHA(**merge(ha.pgbouncer, base.pgbouncer)),
    )
    return topo.model_copy(update={"ha": merged})
