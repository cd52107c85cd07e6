"""What every rule sees: the cluster, the target version, the template, and the rule it runs for."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from gitlab_ha.lint.findings import Finding, Severity
from gitlab_ha.lint.inventory import Cluster, Node
from gitlab_ha.lint.registry import Rule
from gitlab_ha.lint.template import Template
from gitlab_ha.reconfigure.cluster import ClusterModel
from gitlab_ha.reconfigure.node import NodeModel
from gitlab_ha.rubycfg import Document, Loc
from gitlab_ha.rubycfg.nodes import Value
from gitlab_ha.topology.versions import Version

NEWEST = Version(19, 3, 0)


@dataclass(frozen=True)
class Lint:
    """The cluster, the target version (or None) and the template (or None). The engine hands each
    rule a copy bound to it (`for_rule`); `finding` then stamps the rule's id, severity and hint."""

    cluster: Cluster
    version: Version | None = None
    template: Template | None = None
    rule: Rule | None = None
    model: ClusterModel | None = None  # what reconfigure does with each node's gitlab.rb (set by the engine)

    @property
    def declared(self) -> bool:
        """Whether node roles come from a topology file (the layout is then the user's stated choice)."""
        return self.cluster.topology is not None

    @property
    def target(self) -> Version:
        """The release the model assumes: the target, else the newest we know (fewest version faults)."""
        return self.version if self.version is not None else NEWEST

    def modeled(self, node: Node) -> NodeModel | None:
        """The reconfigure model of `node` (None for a node without a gitlab.rb)."""
        if self.model is None or node.doc is None or node.doc.errors:
            return None  # a file with a syntax error: what reconfigure would do is unknowable (GHA001 speaks)
        model = next((m for m in self.model.nodes if m.name == node.name), None)
        if model is not None and model.services.unknown_roles:
            return None  # Omnibus refuses the whole role list (GHA013 speaks): reconfigure stops there
        return model

    def parsed_nodes(self) -> Iterator[tuple[Node, Document]]:
        """Each node of the cluster that has a gitlab.rb, with its parsed document (syntax errors included)."""
        for node in self.cluster.nodes:
            if node.doc is not None:
                yield node, node.doc

    def modeled_nodes(self, nodes: Iterable[Node] | None = None) -> Iterator[tuple[Node, NodeModel]]:
        """Each node of `nodes` (by default the cluster's) that has a reconfigure model, with it."""
        for node in self.cluster.nodes if nodes is None else nodes:
            model = self.modeled(node)
            if model is not None:
                yield node, model

    def for_rule(self, rule: Rule) -> Lint:
        return dataclasses.replace(self, rule=rule)

    def finding(
        self,
        node: Node | None,
        at: Value | Loc | tuple[str, int, int] | None,
        message: str,
        hint: str | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        spec = self.rule
        if spec is None:
            raise RuntimeError("lint.finding outside a rule: run the rule through the engine")
        file, line, column = "", 0, 0
        if isinstance(at, Value):
            at = at.loc
        if isinstance(at, Loc):
            file, line, column = at.file, at.line, at.column
        elif isinstance(at, tuple):
            file, line, column = at
        elif node is not None:
            file = node.rb_file or node.cfg_file
        return Finding(
            rule=spec.id,
            severity=severity or spec.severity,
            message=message,
            hint=hint or spec.hint,
            node=node.name if node is not None else "",
            file=file,
            line=line,
            column=column,
        )
