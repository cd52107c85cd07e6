"""What every file builder takes (one node's settings, release and layout) and what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from gitlab_ha.reconfigure.layout import OMNIBUS, Layout
from gitlab_ha.reconfigure.services import ServicePlan
from gitlab_ha.reconfigure.settings import Settings
from gitlab_ha.topology.features import Features


@dataclass(frozen=True)
class NodeInput:
    """One node as reconfigure sees it: its name (Chef's node name), its address (the first private
    IPv4, where Omnibus derives connect addresses), its gitlab.rb, the release and the layout."""

    name: str
    address: str
    settings: Settings
    features: Features
    services: ServicePlan
    layout: Layout = OMNIBUS


@dataclass(frozen=True)
class OmnibusFile:
    """One file reconfigure writes: where, what, and how it is protected."""

    path: PurePosixPath
    content: str
    mode: int = 0o644
    owner: str = "root"
    service: str = ""  # the service it configures
    secret: bool = False  # holds a password or key

    @property
    def name(self) -> str:
        return self.path.name
