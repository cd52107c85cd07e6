"""Omnibus' own gitlab.rb.template (16.6.0, 19.3.0): the file parses, and so do its commented examples."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gitlab_ha.rubycfg import RubySyntaxError, parse, parse_file

VERSIONS = ["16.6.0", "19.3.0"]
# `# gitlab_rails['x'] = value` — a commented-out single-line example.
EXAMPLE = re.compile(r"^\s*#\s?([a-z_]+\[['\"].*?=.*)$")
# `# praefect['configuration'] = {` — the first line of a commented-out multi-line example.
BLOCK_START = re.compile(r"^\s*#\s?([a-z_]+\[['\"].*?=\s*[\[{]\s*)$")
COMMENT = re.compile(r"^\s*#(.*)$")


def template(reference_dir: Path, version: str) -> Path:
    return reference_dir / f"gitlab.rb.template-{version}"


@pytest.mark.parametrize("version", VERSIONS)
def test_template_parses_as_it_is(reference_dir: Path, version: str) -> None:
    doc = parse_file(template(reference_dir, version))
    assert [call.name for call in doc.calls] == ["external_url"]
    assert doc.calls[0].args[0].to_python() == "GENERATED_EXTERNAL_URL"
    assert doc.calls[0].loc.line == 32


@pytest.mark.parametrize("version", VERSIONS)
def test_uncommented_single_line_examples_parse(reference_dir: Path, version: str) -> None:
    lines = template(reference_dir, version).read_text(encoding="utf-8").splitlines()
    examples = [(number, m.group(1)) for number, line in enumerate(lines, 1) if (m := EXAMPLE.match(line))]
    failures: list[tuple[int, str, str]] = []
    for number, code in examples:
        try:
            parse(code, f"template:{number}")
        except RubySyntaxError as err:
            failures.append((number, code, err.message))
    # What fails is either the first line of a multi-line example, or not Ruby at all
    # (`= <calculated>`, `= /etc/http.keytab`, `= https://...` placeholders).
    multi_line = [f for f in failures if "found end of file" in f[2]]
    placeholders = [f for f in failures if f not in multi_line]
    print(f"{version}: {len(examples)} examples, {len(failures)} fail ({len(multi_line)} multi-line starts)")
    assert len(examples) > 1300
    assert len(placeholders) <= 6, placeholders
    assert len(failures) / len(examples) < 0.06


@pytest.mark.parametrize("version", VERSIONS)
def test_uncommented_multi_line_examples_parse(reference_dir: Path, version: str) -> None:
    lines = template(reference_dir, version).read_text(encoding="utf-8").splitlines()
    parsed = 0
    failed: list[str] = []
    for index, line in enumerate(lines):
        start = BLOCK_START.match(line)
        if start is None:
            continue
        block = [start.group(1)]
        ok = False
        for following in lines[index + 1 : index + 200]:
            comment = COMMENT.match(following)
            if comment is None:
                break
            block.append(comment.group(1))
            try:
                parse("\n".join(block))
            except RubySyntaxError:
                continue
            ok = True
            break
        if ok:
            parsed += 1
        else:
            failed.append(block[0].split(" =")[0])
    print(f"{version}: {parsed} multi-line examples parse, {len(failed)} do not: {failed}")
    assert parsed > 55
    # pgbouncer['databases'] is written with placeholders (`port: PORT` and no comma after it); the
    # 19.3.0 gitaly['configuration'] example really misses a comma after `cpu_quota_us: 200000`.
    expected = (
        ["pgbouncer['databases']"] if version == "16.6.0" else ["gitaly['configuration']", "pgbouncer['databases']"]
    )
    assert failed == expected
