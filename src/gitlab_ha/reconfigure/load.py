"""The reconfigure model of a cluster given either way: a topology file, or a folder of node gitlab.rb files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from gitlab_ha.errors import InputError
from gitlab_ha.reconfigure.cluster import ClusterModel, from_docs, from_topology
from gitlab_ha.render.context import Placeholders, SecretSource
from gitlab_ha.rubycfg import Document
from gitlab_ha.secrets.store import SecretStore
from gitlab_ha.topology.load import load_topology
from gitlab_ha.topology.versions import Version

NodeDocuments = Mapping[str, tuple[str, Document]]  # node name -> (address, parsed gitlab.rb)


def load_model(
    cluster: Path,
    version: Version | None,
    secrets: Path | None,
    *,
    read_folder: Callable[[Path], NodeDocuments],
    warn: Callable[[str], None],
) -> ClusterModel:
    """The model of `cluster` at `version` (for a topology file, default its own release; a folder needs one).

    A topology file is rendered with the secrets store `secrets`, or placeholders when None; `warn` gets
    each of its warnings as soon as it is loaded. A folder is read by `read_folder` (lint's inventory,
    which infers each node's address; it is passed in because lint depends on reconfigure, not the other
    way round).
    """
    if cluster.is_dir():
        if version is None:
            raise InputError("a folder of gitlab.rb files needs --version (the Omnibus release)", str(cluster))
        return from_docs(read_folder(cluster), version)
    loaded = load_topology(cluster)
    for line in loaded.warnings:
        warn(line)
    topo = loaded.topology
    if version is not None:
        topo = topo.model_copy(update={"gitlab": topo.gitlab.model_copy(update={"version": version})})
    store: SecretSource = SecretStore.load(secrets) if secrets is not None else Placeholders()
    return from_topology(topo, store, source=cluster.name)
