"""The lint verb through the real CLI: formats, exit codes, bad input; and the knowledge module
checked against Omnibus' reference data."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from gitlab_ha.lint.api import lint_folder
from gitlab_ha.lint.engine import all_rules
from gitlab_ha.lint.knowledge import ATTRIBUTE_KEYS, CHANGES, NGINX_CHANGES, known_roles
from gitlab_ha.lint.own_keys import GROUPS
from gitlab_ha.lint.template import extract, load_template
from gitlab_ha.topology.versions import parse_version
from tests.conftest import REFERENCE
from tests.helpers import cli
from tests.render import reference
from tests.render.conftest import Rendered

SEED = Path(__file__).parent / "fixtures" / "seed15"


def test_sarif_is_2_1_0_with_rules_and_locations() -> None:
    result = cli("lint", SEED, "--version", "16.6.0", "--format", "sarif")
    assert result.returncode == 1, result.stderr
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.id for r in all_rules()]
    syntax = [r for r in run["results"] if r["ruleId"] == "GHA001"]
    assert len(syntax) == 3
    for result_ in syntax:
        assert rules[result_["ruleIndex"]]["id"] == "GHA001"
        assert result_["level"] == "error"
        location = result_["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"].endswith("/gitlab.rb")
        assert location["region"] == {"startLine": 58, "startColumn": 7}
    assert {r["level"] for r in run["results"]} >= {"error", "warning"}
    # what code-scanning uploads require of every result: a file under a declared base and a start line
    assert run["originalUriBaseIds"]["LINTROOT"]["uri"] == SEED.resolve().as_uri() + "/"
    for result_ in run["results"]:
        physical = result_["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"]["uriBaseId"] == "LINTROOT"
        assert (SEED / physical["artifactLocation"]["uri"]).is_file(), physical
        assert physical["region"]["startLine"] >= 1
    # notes about the run itself (GHA014: no --template) are notifications, not results
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["descriptor"]["id"] for n in notes] == ["GHA014"] and "--template" in notes[0]["message"]["text"]


def test_json_summary_counts_findings() -> None:
    result = cli("lint", SEED, "--version", "16.6.0", "--format", "json")
    data = json.loads(result.stdout)
    severities = [f["severity"] for f in data["findings"]]
    assert data["summary"] == {s: severities.count(s) for s in ("error", "warning", "note")}


def test_clean_render_exits_0(rendered: Callable[[str, str], Rendered]) -> None:
    out = rendered("ref-3k", "19.3.0")
    result = cli("lint", out.out, "--topology", out.topology)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors, 0 warnings" in result.stdout
    assert "no --template: keys were checked only against" in result.stdout


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for args in (
        [tmp_path / "missing"],
        [tmp_path],  # no node folders
        [SEED, "--template", tmp_path / "nope.template"],
        [SEED, "--version", "12.0.0"],
        [SEED, "--topology", tmp_path / "nope.yml"],
    ):
        result = cli("lint", *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_layout_warnings_without_topology_and_folder_mismatch(
    rendered: Callable[[str, str], Rendered], tmp_path: Path
) -> None:
    clean = rendered("seed-15", "16.6.0")
    inferred = {(f.rule, f.severity.value) for f in lint_folder(clean.out, version="16.6.0")}
    assert ("GHA070", "warning") in inferred and ("GHA071", "warning") in inferred
    out = tmp_path / "out"
    shutil.copytree(clean.out, out)
    shutil.move(out / "gitaly-3", out / "gitaly-three")
    found = [f for f in lint_folder(out, topology=clean.topology) if f.rule == "GHA002"]
    assert {f.message for f in found} == {
        "folder 'gitaly-three' matches no node of the topology",
        "node gitaly-3 (10.10.1.169) of the topology has no folder",
    }


def test_template_keys_are_omnibus_keys_and_roles() -> None:
    for version in ("16.6.0", "19.3.0"):
        template = load_template(REFERENCE / f"gitlab.rb.template-{version}")
        assert len(template.keys) > 1000
        assert template.keys <= reference.keys(version)
        assert template.roles <= reference.roles(version)
        assert "gitaly['configuration']" in template.keys
    assert "gitaly_role" in load_template(REFERENCE / "gitlab.rb.template-19.3.0").roles


def test_template_extraction_survives_odd_lines() -> None:
    text = "# praefect['configuration'] = {\n#   virtual_storage: [\n# x['a'\n# y[:b]['c'] ||= 1\n#\n\x00\n"
    assert extract(text).keys == {"praefect['configuration']", "y['b']['c']"}


def test_own_setting_groups_are_omnibus_groups() -> None:
    for version in ("16.6.0", "19.3.0"):
        groups = {key.split("[", 1)[0] for key in reference.keys(version)}
        assert groups <= GROUPS, sorted(groups - GROUPS)


def test_typos_are_found_without_a_template(rendered: Callable[[str, str], Rendered], tmp_path: Path) -> None:
    clean = rendered("ref-3k", "19.3.0")
    out = tmp_path / "out"
    shutil.copytree(clean.out, out)
    rb = out / "rails-1" / "gitlab.rb"
    rb.write_text(rb.read_text() + "pumaa['worker_processes'] = 4\ngitlab_rails['db_post'] = 6432\n")
    found = [f for f in lint_folder(out, topology=clean.topology) if f.rule == "GHA010"]
    assert [(f.line, f.message) for f in found] == [
        (len(rb.read_text().splitlines()) - 1, "pumaa is no Omnibus setting group (did you mean puma?)"),
        (len(rb.read_text().splitlines()), "gitlab_rails['db_post'] is unknown; did you mean gitlab_rails['db_port']?"),
    ]


def _listed(key: str, version: str) -> bool:
    """The key itself or a key below it is in the release's list (a parent prefix is not enough)."""
    return any(k == key or k.startswith(key + "[") for k in reference.keys(version))


def test_knowledge_agrees_with_reference_data() -> None:
    for version in ("16.6.0", "19.3.0"):
        assert known_roles(parse_version(version)) == reference.roles(version)
        for key in ATTRIBUTE_KEYS:
            assert reference.is_known(key, version), key
    rows = {key: (deprecated, removed) for key, deprecated, removed in reference.deprecations()}
    for change in CHANGES:
        if change not in NGINX_CHANGES:
            assert rows[change.key] == (change.deprecated_in, change.removed_in), change.key
    # 19.2's NGINX moves are not in deprecations.tsv: read in the cookbooks, they are checked against
    # the key lists (the old key still accepted, the new one a key of 19.3) and 19.3's template
    assert "to `gitlab_rails['nginx'][...]` in GitLab 19.2" in (REFERENCE / "gitlab.rb.template-19.3.0").read_text()
    for change in NGINX_CHANGES:
        assert (change.deprecated_in, change.removed_in) == ((19, 2, 0), None), change.key
        assert _listed(change.replacement, "19.3.0"), change.replacement
        # default_server_enabled is translated by code (GitlabRails) but in no extracted key list
        if change.key != "nginx['default_server_enabled']":
            assert _listed(change.key, "16.6.0") or _listed(change.key, "19.3.0"), change.key
    # and every change that still matters from 16.0 on is known, with the tsv's releases
    ambiguous = {"registry['default_notifications_threshold']"}  # three rows: removed in 18.0, 19.0 and 23.0
    known = {c.key for c in CHANGES}
    for key, _, removed in reference.deprecations():
        if removed >= (16, 0, 0) and key not in ambiguous:
            assert key in known, key


def test_docs_list_every_rule_with_its_severity() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "lint.md").read_text()
    for spec in all_rules():
        row = next((line for line in docs.splitlines() if line.startswith(f"| {spec.id} |")), "")
        assert row.split("|")[2].strip().startswith(spec.severity.value), spec.id
