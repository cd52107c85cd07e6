"""Every node knows its file, line and column (1-based) and where it ends."""

from __future__ import annotations

from gitlab_ha.rubycfg import Array, Hash, parse

TEXT = """\
# header
external_url 'https://x'
  roles ['a', 'bb']
gitlab_rails['x'] = {
  key: 'value',
  'other' => [1, 2],
}
y = %w(one two
       three)
z = "한국어"; w = 1
"""


def test_statement_locations() -> None:
    doc = parse(TEXT, "node.rb")
    lines = [(s.loc.line, s.loc.column) for s in doc.statements]
    assert lines == [(2, 1), (3, 3), (4, 1), (8, 1), (10, 1), (10, 12)]
    assert all(s.loc.file == "node.rb" for s in doc.statements)
    assignment = doc.assignments[0]
    assert (assignment.loc.end_line, assignment.loc.end_column) == (7, 2)
    assert str(assignment.loc) == "node.rb:4:1"


def test_value_locations() -> None:
    doc = parse(TEXT, "node.rb")
    value = doc.assignments[0].value
    assert isinstance(value, Hash)
    key, inner = value.pairs[0].key, value.pairs[0].value
    assert (key.loc.line, key.loc.column) == (5, 3)
    assert (inner.loc.line, inner.loc.column, inner.loc.end_column) == (5, 8, 15)
    other = value.pairs[1].value
    assert isinstance(other, Array)
    assert [(i.loc.line, i.loc.column) for i in other.items] == [(6, 15), (6, 18)]


def test_word_locations_span_lines() -> None:
    doc = parse(TEXT, "node.rb")
    words = doc.assignments[1].value
    assert isinstance(words, Array)
    assert [(w.loc.line, w.loc.column) for w in words.items] == [(8, 8), (8, 12), (9, 8)]


def test_columns_count_characters_not_bytes() -> None:
    doc = parse(TEXT, "node.rb")
    w = doc.assignments[-1]
    assert (w.loc.line, w.loc.column) == (10, 12)
    assert (w.value.loc.line, w.value.loc.column) == (10, 16)


def test_target_and_key_locations() -> None:
    (statement,) = parse("\n  x['a'][:b] = 1").assignments
    target = statement.target
    assert (target.loc.line, target.loc.column) == (2, 3)
    assert [(k.loc.line, k.loc.column) for k in target.key_nodes] == [(2, 5), (2, 10)]


def test_offsets_slice_the_source() -> None:
    doc = parse(TEXT)
    call = doc.calls[1]
    assert TEXT[call.loc.offset : call.loc.end_offset] == "roles ['a', 'bb']"
