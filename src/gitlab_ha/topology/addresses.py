"""Which IP addresses a node may have.

Rendered configs join an address and a port as `ADDRESS:PORT` in many places (Praefect, Gitaly,
exporters, HAProxy), which IPv6 would need brackets for; until every renderer does that, a node
address is IPv4. Loopback addresses are allowed: the lab runs a whole cluster on 127.0.0.0/8.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv6Address


def address_problem(address: IPv4Address | IPv6Address) -> str | None:
    """Why `address` cannot be a node's address, or None if it can."""
    if isinstance(address, IPv6Address):
        return f"{address} is IPv6; node addresses are IPv4 for now (rendered host:port pairs have no brackets)"
    if address.is_unspecified:
        return f"{address} is the unspecified address, not a host"
    if address.is_multicast:
        return f"{address} is a multicast address, not a host"
    if address == IPv4Address("255.255.255.255"):
        return f"{address} is the broadcast address, not a host"
    if address.is_reserved:
        return f"{address} is in a reserved range (240.0.0.0/4), not a host"
    return None


def parse_node_address(text: str) -> IPv4Address:
    """`text` as a node address; ValueError with a one-line reason otherwise."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None
    problem = address_problem(address)
    if problem:
        raise ValueError(problem)
    assert isinstance(address, IPv4Address)
    return address
