"""The lab a drill runs on, with the failover profile and synchronous mode asked for.

A lab that is not up is brought up (from its own topology, or the seed's preset when the folder holds
none); one that runs another profile or synchronous mode is brought down and up again with them. The
synchronous mode is the topology's `database.synchronous_mode` (and `synchronous_mode_strict`), which
`lab up` applies with `patronictl edit-config` as the runbook does; since the lab keeps one topology
per folder, changing it purges the lab's data first.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import yaml

from gitlab_ha.errors import InputError
from gitlab_ha.lab.lab import Lab
from gitlab_ha.topology.load import load_text
from gitlab_ha.topology.presets import PRESETS, expand
from gitlab_ha.topology.yaml_out import topology_yaml

SYNC_MODES = ("off", "on", "strict")
DEFAULT_PRESET = "seed-15"


def sync_of(text: str, source: str) -> str:
    database = load_text(text, source).topology.database
    if database.synchronous_mode_strict:
        return "strict"
    return "on" if database.synchronous_mode else "off"


def with_sync(text: str, source: str, sync: str) -> str:
    """The topology text with `database.synchronous_mode(_strict)` as asked (unchanged when it already is)."""
    if sync not in SYNC_MODES:
        raise InputError(f"synchronous mode {sync!r}: use {', '.join(SYNC_MODES)}", "--sync")
    if sync_of(text, source) == sync:
        return text
    data = yaml.safe_load(text)
    database = dict(data.get("database") or {})
    database["synchronous_mode"] = sync != "off"
    database["synchronous_mode_strict"] = sync == "strict"
    data["database"] = database
    out = yaml.safe_dump(data, sort_keys=False)
    load_text(out, source)  # still a valid topology
    return out


def ensure_lab(lab: Lab, profile: str, sync: str, say: Callable[[str], None]) -> None:
    if lab.exists():
        text, source = lab.topology_file.read_text(), str(lab.topology_file)
    else:
        spec = PRESETS[DEFAULT_PRESET]
        text, source = topology_yaml(spec, expand(spec)), f"preset {DEFAULT_PRESET}"
    wanted = with_sync(text, source, sync)
    if lab.running():
        if lab.profile == profile and sync_of(text, source) == sync:
            return
        say(
            f"the lab runs the {lab.profile} profile with synchronous mode {sync_of(text, source)}: "
            f"bringing it back up with {profile} and synchronous mode {sync}"
        )
    elif lab.exists():
        say(f"the lab is down: bringing it up ({profile} profile, synchronous mode {sync})")
    else:
        say(
            f"no lab in {lab.dir}: bringing up the {DEFAULT_PRESET} preset ({profile} profile, synchronous mode {sync})"
        )
    if lab.exists() or lab.running():
        # only a lab's own folder is ever purged: the topology changes, so its data goes
        left = lab.down(purge=lab.exists() and wanted != text)
        if left:
            raise InputError("the lab did not come down cleanly: " + "; ".join(left), str(lab.dir))
    lab.dir.mkdir(parents=True, exist_ok=True)
    os.chmod(lab.dir, 0o755)  # the service accounts reach their node folders through it
    lab.up(wanted, source, profile=profile, say=say)
