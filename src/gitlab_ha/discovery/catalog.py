"""Read views of the catalog and of health, in Consul's JSON shapes, each with its blocking index.

Every view returns `(index, body)`: `index` is what goes into `X-Consul-Index` and what a blocking
query waits to see grow. It is the last change of exactly what the view shows (a service name's
instances and checks, a table), never below 1, as Consul does.
"""

from __future__ import annotations

from typing import Any

from gitlab_ha.discovery.state import JSON, State

View = tuple[int, Any]


def _idx(*values: int) -> int:
    return max(1, *values)


def node_json(node: JSON) -> JSON:
    return {
        k: node[k]
        for k in ("ID", "Node", "Address", "Datacenter", "TaggedAddresses", "Meta", "CreateIndex", "ModifyIndex")
    }


def service_json(svc: JSON) -> JSON:
    """A service as it appears under `Service` in health results and in catalog/node."""
    return {
        "ID": svc["ID"],
        "Service": svc["Service"],
        "Tags": list(svc["Tags"]),
        "Address": svc["Address"],
        "TaggedAddresses": dict(svc.get("TaggedAddresses") or {}),
        "Meta": dict(svc["Meta"]),
        "Port": svc["Port"],
        "Weights": dict(svc["Weights"]),
        "EnableTagOverride": svc["EnableTagOverride"],
        "Proxy": {"Mode": "", "MeshGateway": {}, "Expose": {}},
        "Connect": {},
        "PeerName": "",
        "CreateIndex": svc["CreateIndex"],
        "ModifyIndex": svc["ModifyIndex"],
    }


def check_json(check: JSON) -> JSON:
    definition = check["Definition"]
    out = {
        "Node": check["Node"],
        "CheckID": check["CheckID"],
        "Name": check["Name"],
        "Status": check["Status"],
        "Notes": check["Notes"],
        "Output": check["Output"],
        "ServiceID": check["ServiceID"],
        "ServiceName": check["ServiceName"],
        "ServiceTags": list(check["ServiceTags"]),
        "Type": check["Type"],
        "Interval": definition.get("Interval", ""),
        "Timeout": definition.get("Timeout", ""),
        "ExposedPort": 0,
        "Definition": {k: v for k, v in definition.items() if not k.startswith("_")},
        "CreateIndex": check["CreateIndex"],
        "ModifyIndex": check["ModifyIndex"],
    }
    return out


def has_tags(svc: JSON, tags: list[str]) -> bool:
    """All `tags` present (case-insensitive like Consul's DNS and `?tag` filter)."""
    have = {t.lower() for t in svc["Tags"]}
    return all(t.lower() in have for t in tags)


def catalog_services(state: State) -> View:
    out: dict[str, list[str]] = {}
    for _node, svc in state.all_services():
        tags = out.setdefault(svc["Service"], [])
        for tag in svc["Tags"]:
            if tag not in tags:
                tags.append(tag)
    return _idx(state.tables["services"]), dict(sorted(out.items()))


def catalog_service(state: State, name: str, tags: list[str]) -> View:
    rows = []
    for node_name, svc in sorted(state.all_services(), key=lambda ns: (ns[0], ns[1]["ID"])):
        if svc["Service"] != name or not has_tags(svc, tags):
            continue
        node = state.nodes[node_name]
        rows.append(
            {
                "ID": node["ID"],
                "Node": node["Node"],
                "Address": node["Address"],
                "Datacenter": node["Datacenter"],
                "TaggedAddresses": node["TaggedAddresses"],
                "NodeMeta": node["Meta"],
                "ServiceKind": "",
                "ServiceID": svc["ID"],
                "ServiceName": svc["Service"],
                "ServiceTags": list(svc["Tags"]),
                "ServiceAddress": svc["Address"],
                "ServiceTaggedAddresses": dict(svc.get("TaggedAddresses") or {}),
                "ServiceWeights": svc["Weights"],
                "ServiceMeta": svc["Meta"],
                "ServicePort": svc["Port"],
                "ServiceEnableTagOverride": svc["EnableTagOverride"],
                "ServiceProxy": {"Mode": "", "MeshGateway": {}, "Expose": {}},
                "ServiceConnect": {},
                "CreateIndex": svc["CreateIndex"],
                "ModifyIndex": svc["ModifyIndex"],
            }
        )
    return _idx(state.service_index.get(name, state.tables["services"])), rows


def catalog_nodes(state: State) -> View:
    return _idx(state.tables["nodes"]), [node_json(n) for _, n in sorted(state.nodes.items())]


def catalog_node(state: State, name: str) -> View:
    node = state.nodes.get(name)
    idx = _idx(state.tables["nodes"], state.tables["services"])
    if node is None:
        return idx, None
    services = {sid: service_json(s) for sid, s in sorted(state.services.get(name, {}).items())}
    return idx, {"Node": node_json(node), "Services": services}


def instances(
    state: State, name: str, tags: list[str], *, passing: bool = False, skip_critical: bool = False
) -> list[JSON]:
    """Health entries `{Node, Service, Checks}` for a service name, filtered."""
    out = []
    matched = [(n, s) for n, s in state.all_services() if s["Service"] == name and has_tags(s, tags)]
    by_service: dict[str, dict[str, list[JSON]]] = {}  # node -> service id ("" for node checks) -> checks
    for node_name in {n for n, _ in matched}:
        grouped: dict[str, list[JSON]] = {}
        for check in state.checks.get(node_name, {}).values():
            grouped.setdefault(check["ServiceID"], []).append(check)
        by_service[node_name] = grouped
    for node_name, svc in sorted(matched, key=lambda ns: (ns[0], ns[1]["ID"])):
        grouped = by_service[node_name]
        checks = [*grouped.get("", []), *grouped.get(svc["ID"], [])]
        statuses = {c["Status"] for c in checks}
        if passing and statuses - {"passing"}:
            continue
        if skip_critical and "critical" in statuses:
            continue
        out.append(
            {
                "Node": node_json(state.nodes[node_name]),
                "Service": service_json(svc),
                "Checks": [check_json(c) for c in checks],
            }
        )
    return out


def health_service(state: State, name: str, tags: list[str], passing: bool) -> View:
    return _idx(state.service_index.get(name, state.tables["services"])), instances(state, name, tags, passing=passing)


def health_node(state: State, node: str) -> View:
    checks = state.checks.get(node, {})
    return _idx(state.tables["checks"]), [check_json(c) for _, c in sorted(checks.items())]


def health_checks(state: State, service: str) -> View:
    rows = [check_json(c) for c in state.all_checks() if c["ServiceName"] == service]
    return _idx(state.service_index.get(service, state.tables["checks"])), rows


def health_state(state: State, status: str) -> View:
    rows = [check_json(c) for c in state.all_checks() if status == "any" or c["Status"] == status]
    return _idx(state.tables["checks"]), rows


def aggregated_status(checks: list[JSON]) -> str:
    statuses = {c["Status"] for c in checks}
    for status in ("critical", "warning"):
        if status in statuses:
            return status
    return "passing"
