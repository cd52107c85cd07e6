"""The report, the timeline and the partition rules from recorded data: no lab."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from gitlab_ha.cli import drill_cmd
from gitlab_ha.drills import partition, runner
from gitlab_ha.drills import report as drill_report
from gitlab_ha.drills.checker import check
from gitlab_ha.drills.cluster import DrillLab
from gitlab_ha.drills.history import Readback, Store
from gitlab_ha.drills.labsetup import sync_of, with_sync
from gitlab_ha.drills.runner import RunConfig, RunResult
from gitlab_ha.drills.scenarios import SCENARIOS
from gitlab_ha.errors import InputError
from gitlab_ha.lab.lab import Lab
from gitlab_ha.lab.network import LabNetwork
from gitlab_ha.topology.load import load_text
from gitlab_ha.topology.profiles import with_profile
from tests.conftest import REPO
from tests.drills.test_checker import _failover_history
from tests.helpers import cli, preset_text


def _result(profile: str, sync: str, index: int) -> RunResult:
    h = _failover_history(sync)
    h.profile, h.sync = profile, sync
    rows = frozenset(op.n for op in h.ops if op.store is Store.SQL)
    metrics = check(h, Readback(rows, rows))
    return RunResult("leader-node-lost", RunConfig(profile, sync), index, h, metrics, healthy_after=True)


def test_reports_merge_configurations_side_by_side(tmp_path: Path) -> None:
    report = tmp_path / "drills.md"
    drill_report.write(report, [_result("fast", "off", 1), _result("fast", "off", 2)])
    drill_report.write(report, [_result("omnibus", "on", 1)])
    runs = json.loads((tmp_path / "drills.json").read_text())["runs"]
    assert [(r["profile"], r["sync"], r["index"]) for r in runs] == [
        ("fast", "off", 1),
        ("fast", "off", 2),
        ("omnibus", "on", 1),
    ]
    text = report.read_text()
    assert "| measure | fast, async | omnibus, sync |" in text
    assert "| database writes unavailable (RTO, s) | 4.2 | 4.2 |" in text
    assert "| runs passed | 2 / 2 | 1 / 1 |" in text
    png = tmp_path / runs[0]["timeline"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / runs[0]["history"]).exists()
    # the same configuration again replaces its runs
    drill_report.write(report, [_result("fast", "off", 1)])
    runs = json.loads((tmp_path / "drills.json").read_text())["runs"]
    assert [(r["profile"], r["index"]) for r in runs] == [("omnibus", 1), ("fast", 1)]


def test_a_configuration_has_one_name_on_the_progress_bar_and_in_the_report(tmp_path: Path) -> None:
    labels = {sync: RunConfig("omnibus", sync).label for sync in ("off", "on", "strict")}
    assert labels == {"off": "omnibus, async", "on": "omnibus, sync", "strict": "omnibus, sync strict"}
    report = tmp_path / "drills.md"
    drill_report.write(report, [_result("omnibus", "strict", 1)])
    assert f"| measure | {labels['strict']} |" in report.read_text()


def test_the_report_says_how_long_the_fault_was_held(tmp_path: Path) -> None:
    report = tmp_path / "drills.md"
    held = _result("fast", "off", 1)
    held.held = 30.0
    held.notes.append("a second primary for 0.2 s that acknowledged nothing")
    drill_report.write(report, [held, _result("fast", "off", 2)])
    runs = json.loads((tmp_path / "drills.json").read_text())["runs"]
    assert [r["held"] for r in runs] == [30.0, None]
    assert "- fast, async: fault held 30 s; timelines [run 1]" in report.read_text()
    assert "  - run 1: a second primary for 0.2 s that acknowledged nothing" in report.read_text()


def test_the_markdown_says_a_run_was_interrupted(tmp_path: Path) -> None:
    # it showed "runs passed 0 / 1" with every cell "—" and no word of why
    report = tmp_path / "drills.md"
    stopped = _result("fast", "off", 1)
    stopped.interrupted, stopped.metrics = True, None
    drill_report.write(report, [stopped])
    assert "  - **run 1: interrupted (Ctrl-C or SIGTERM), not measured**" in report.read_text()


def test_an_interrupted_run_does_not_replace_complete_runs(tmp_path: Path) -> None:
    # five measured runs became one interrupted run: the report had lost them, timelines included
    report = tmp_path / "drills.md"
    drill_report.write(report, [_result("fast", "off", 1), _result("fast", "off", 2)])
    first = (tmp_path / "drills-runs" / "leader-node-lost-fast-sync-off-1.history.json").read_bytes()
    stopped = _result("fast", "off", 1)
    stopped.interrupted, stopped.metrics = True, None
    runs, left_out = drill_report.write(report, [stopped])
    assert left_out == [stopped]
    assert [(r["index"], r["interrupted"]) for r in runs] == [(1, False), (2, False)]
    assert (tmp_path / "drills-runs" / "leader-node-lost-fast-sync-off-1.history.json").read_bytes() == first
    assert "interrupted" not in report.read_text()
    # with nothing complete to keep, or beside a complete run of the same session, it is reported
    other = _result("omnibus", "off", 1)
    other.interrupted, other.metrics = True, None
    runs, left_out = drill_report.write(report, [other])
    assert left_out == [] and [r["interrupted"] for r in runs if r["profile"] == "omnibus"] == [True]
    second = _result("fast", "off", 2)
    second.interrupted, second.metrics = True, None
    runs, left_out = drill_report.write(report, [_result("fast", "off", 1), second])
    assert left_out == [] and [(r["index"], r["interrupted"]) for r in runs if r["profile"] == "fast"] == [
        (1, False),
        (2, True),
    ]


def test_a_ctrl_c_while_the_report_is_written_waits_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the second Ctrl-C of an impatient user landed in the timeline's drawing: no report of the interrupted run
    save_run = drill_report.save_run

    def interrupted_save(result: RunResult, folder: Path) -> tuple[str, str]:
        os.kill(os.getpid(), signal.SIGINT)
        return save_run(result, folder)

    monkeypatch.setattr(drill_report, "save_run", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        drill_cmd._write_report(cast(Lab, None), tmp_path / "drills.md", [_result("fast", "off", 1)])
    assert json.loads((tmp_path / "drills.json").read_text())["runs"][0]["index"] == 1
    assert (tmp_path / "drills.md").exists()


def test_a_hung_leader_is_held_past_the_ttl_the_lab_runs() -> None:
    # the hung leader's node stays alive: only the TTL frees its key, so a hold of ttl or less shows no failover
    hung, lost = SCENARIOS["leader-hung"], SCENARIOS["leader-node-lost"]
    fast_ttl = with_profile(load_text(preset_text("seed-15"), "t.yml").topology, "fast").ha.patroni.effective_ttl
    omnibus_ttl = with_profile(load_text(preset_text("seed-15"), "t.yml").topology, "omnibus").ha.patroni.effective_ttl
    assert (fast_ttl, omnibus_ttl) == (20, 30)
    assert hung.hold("fast", fast_ttl) == 30.0 > fast_ttl
    assert hung.hold("omnibus", omnibus_ttl) == 60.0 > omnibus_ttl + 10
    assert lost.hold("fast", fast_ttl) == 20.0  # a lost node is failed by gossip, long before the TTL


def test_report_names_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"FILE\.md"):
        drill_report.paths(tmp_path / "drills.txt")
    (tmp_path / "other.json").write_text('{"something": "else"}')
    with pytest.raises(InputError, match="not a drill report"):
        drill_report.load(tmp_path / "other.json")


def test_a_report_that_is_no_file_or_too_large_is_refused_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a FIFO named as the report hung `drill run` before it started; a huge one was read whole
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"fifo\.json: cannot read the existing report: is a FIFO"):
        drill_report.load(fifo)
    monkeypatch.setattr(drill_report, "MAX_REPORT", 1024)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"version": drill_report.VERSION, "runs": [], "pad": "x" * 2000}))
    with pytest.raises(InputError, match=r"big\.json: cannot read the existing report: larger than 1 KiB"):
        drill_report.load(big)


def test_a_report_with_something_in_the_way_is_refused_before_the_drills(tmp_path: Path) -> None:
    # the JSON was written and then the Markdown failed, or the runs' folder did, once the drills were over
    (tmp_path / "a.md").mkdir()
    with pytest.raises(InputError, match=r"a\.md: is a folder"):
        drill_report.check(tmp_path / "a.md")
    (tmp_path / "b-runs").write_text("")
    with pytest.raises(InputError, match=r"b-runs: is not a folder"):
        drill_report.check(tmp_path / "b.json")
    drill_report.check(tmp_path / "c.md")  # nothing there yet: fine


def test_a_report_whose_runs_cannot_be_merged_is_refused_before_the_drills(tmp_path: Path) -> None:
    """`drill run --report` loads the report first so that a bad one fails in one line, not with a
    traceback once the drills are over (merge and the tables read these fields of every run)."""
    good = drill_report.record(_result("fast", "off", 1), "h.json", "t.png")
    path = tmp_path / "drills.json"
    path.write_text(json.dumps({"version": 1, "runs": [good]}))
    assert drill_report.load(path) == [json.loads(json.dumps(good))]
    for broken in ({k: v for k, v in good.items() if k != "profile"}, {**good, "index": "1"}, "run"):
        path.write_text(json.dumps({"version": 1, "runs": [good, broken]}))
        with pytest.raises(InputError, match="run 2 is not a drill run"):
            drill_report.load(path)


def test_the_readme_table_script_reads_a_report_or_says_in_one_line_why_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("drills_table", REPO / "bench" / "drills_table.py")
    assert spec is not None and spec.loader is not None
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    report = tmp_path / "drills.md"
    drill_report.write(report, [_result("fast", "off", 1), _result("fast", "on", 1)])
    assert table.main([str(report.with_suffix(".json"))]) == 0
    assert "| `leader-node-lost` | 4.2 | 4.2 |" in capsys.readouterr().out
    for bad, why in ((tmp_path / "missing.json", "no such drill report"), (tmp_path / "x.json", "not a drill report")):
        if bad.name == "x.json":
            bad.write_text("{}")
        assert table.main([str(bad)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and why in err and "Traceback" not in err


def test_partition_rules_cut_the_node_both_ways_and_keep_its_own_traffic(tmp_path: Path) -> None:
    network = LabNetwork(tmp_path, {"postgres-1": "127.10.1.120", "postgres-2": "127.10.1.167"})
    mark = network.mark("postgres-1")
    assert partition.rule_bodies(network, "postgres-1") == [
        f"meta mark {mark:#x} ip daddr 127.0.0.0/8 ip daddr != 127.10.1.120 drop",
        f"ip daddr 127.10.1.120 meta mark != {mark:#x} drop",
    ]
    assert all(
        line.startswith(f"add rule ip {network.table} partitions ")
        for line in partition.script(network, "postgres-1").splitlines()
    )


def test_synchronous_mode_is_written_into_the_topology() -> None:
    text = preset_text("seed-15")
    assert sync_of(text, "seed") == "off"
    assert with_sync(text, "seed", "off") == text
    assert sync_of(with_sync(text, "seed", "on"), "seed") == "on"
    assert sync_of(with_sync(text, "seed", "strict"), "seed") == "strict"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["no-such-scenario"], "SCENARIO"),
        (["leader-hung", "--repeat", "0"], "--repeat"),
        (["leader-hung", "--repeat", "101"], "--repeat"),
        (["leader-hung", "--profile", "slow"], "--profile"),
        (["leader-hung", "--strict"], "--strict"),
        (["leader-hung", "--duration", "-1"], "--duration"),
        (["leader-hung", "--report", "x.txt"], "--report"),
        (["leader-hung", "--report", "no-such-folder/x.md"], "--report no-such-folder/x.md"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(tmp_path: Path, args: list[str], field: str) -> None:
    done = cli("drill", "run", *args, "--lab", tmp_path / "lab", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and field in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "lab").exists()


def test_list_names_every_scenario() -> None:
    done = cli("drill", "list")
    assert done.returncode == 0
    for name in ("patroni-leader-killed", "leader-partitioned", "consul-minority-lost", "internal-haproxy-restarted"):
        assert name in done.stdout


def test_two_labs_never_share_a_mark(tmp_path: Path) -> None:
    addresses = {f"node-{i}": f"127.0.0.{i + 2}" for i in range(20)}
    one, other = LabNetwork(tmp_path / "one", addresses), LabNetwork(tmp_path / "other", addresses)
    marks = {one.mark(n) for n in addresses}
    assert len(marks) == 20 and not marks & {other.mark(n) for n in addresses}
    assert all(0 < m < 2**32 for m in marks)


def test_the_baseline_names_the_redis_master_as_its_observer_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """One Sentinel answer gives the master's node and its ADDRESS:PORT; the checker compares the
    redis.master observations (ADDRESS:PORT) with it, so a bare address would read as a promotion."""
    nodes = {
        a: SimpleNamespace(name=n, address=a) for n, a in (("postgres-1", "127.10.1.120"), ("redis-1", "127.10.1.137"))
    }

    def no_second_query(*_: object, **__: object) -> None:
        raise AssertionError("the master was asked of the Sentinels twice")

    monkeypatch.setattr(runner, "discover_master", no_second_query)
    drill = SimpleNamespace(
        primary=lambda: nodes["127.10.1.120"],
        redis_master=lambda: ("127.10.1.137", 6380),
        consul_leader=lambda: nodes["127.10.1.120"],
        by_address=lambda address: nodes[address],
    )
    leads, baseline = runner.leaders(cast(DrillLab, drill))
    assert baseline == {
        "primary": "postgres-1",
        "redis_master": "127.10.1.137:6380",
        "consul_leader": "127.10.1.120:8300",
    }
    assert leads.redis_master.name == "redis-1"
