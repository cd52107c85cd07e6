"""Fuzzing: any text either parses or raises RubySyntaxError — never another exception, never a hang."""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitlab_ha.rubycfg import RubySyntaxError, parse

SNIPPET = """\
external_url 'https://gitlab.example.com'
roles ['redis_master_role', 'redis_sentinel_role', 'consul_role']
roles(%w(patroni_role pgbouncer_role))
redis['password'] = "redis-#{ENV['X']}\\n"
gitlab_rails['redis_sentinels'] = [
  {'host' => '10.10.1.139', 'port' => 26379},
  { host: '10.10.1.137', 'port': 26_379, :weight => -1.5e2 },
]
git_data_dirs({
  "default" => { "gitaly_address" => "tcp://10.10.1.233:2305" }, # comment
})
praefect['configuration'] = {
  virtual_storage: [
    { name: 'default', node: [ { storage: 'gitaly-1', token: 'x' }, ], },
  ],
}
sidekiq['queue_groups'] = ['*'] * 2 ## cpu
logging['svlogd_size'] = 200 * 1024 * 1024
gitlab_rails['token'] = File.read('/etc/token').strip if File.exist?('/etc/token')
gitlab_rails['ldap_servers'] = YAML.load <<-'EOS'
  main:
    label: 'LDAP'
  EOS
consul['configuration'] = { retry_join: %i[a b], bind_addr: nil, server: true }; x = :sym
=begin
free text
=end
"""

# Characters that matter to the tokenizer, so random text reaches deep into it.
ALPHABET = st.sampled_from(
    [
        *list("abcxyz_ABC019 \t\n'\"#{}[]()<>,.:;=+-*/%!?&|^~@$\\`wWiIqQ"),
        "=begin\n",
        "=end\n",
        "<<~E\n",
        "\nE\n",
        "\xa0",
        "é",
    ]
)


def check(text: str) -> None:
    try:
        parse(text, "fuzz.rb")
    except RubySyntaxError as err:
        assert err.line >= 1
        assert err.column >= 1
        assert err.line <= text.count("\n") + 1
    try:
        doc = parse(text, "fuzz.rb", recover=True)
    except RubySyntaxError:
        pytest.fail("parse(recover=True) raised")
    for error in doc.errors:
        assert isinstance(error, RubySyntaxError)
    doc.flat()
    doc.roles()
    doc.to_python()


@pytest.mark.timeout(120)
@settings(max_examples=1500, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.lists(ALPHABET, max_size=120).map("".join))
def test_random_text(text: str) -> None:
    check(text)


@pytest.mark.timeout(120)
@settings(max_examples=300, deadline=1000)
@given(text=st.text(max_size=200))
def test_random_unicode_text(text: str) -> None:
    check(text)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = SNIPPET
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "swap", "duplicate"]))
        if action == "insert":
            text = text[:position] + draw(ALPHABET) + text[position:]
        elif action == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 5)) :]
        elif action == "swap" and position + 1 < len(text):
            text = text[:position] + text[position + 1] + text[position] + text[position + 2 :]
        else:
            text = text[:position] + text[position : position + draw(st.integers(1, 20))] + text[position:]
    return text


def test_the_snippet_itself_parses() -> None:
    doc = parse(SNIPPET)
    assert len(doc.statements) == 13


@pytest.mark.timeout(180)
@settings(max_examples=1500, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated())
def test_mutated_snippet(text: str) -> None:
    check(text)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "text",
    [
        "x = " + "[" * 5000,
        "x = " + "{a: " * 5000,
        "x = " + "(" * 5000,
        "x = " + "-" * 5000 + "1",
        "x = " + "!" * 5000 + "1",
        "x = '" + "\\" * 5001,
        'x = "' + "#{" * 5000,
        "x = " + "1 + " * 5000 + "1",
        "x = " + "a." * 5000 + "b",
        "x = " + "2 ** " * 5000 + "2",
        "x" + "['a']" * 5000 + " = 1",
        "x = %w(" + "(" * 5000,
        "=begin\n" * 5000,
        "<<~E\n" * 5000,
        "x = 1" + "\n" * 100000,
        "x = " + "9" * 100000,
        "x = '" + "a" * 1_000_000 + "'",
    ],
)
def test_pathological_inputs_finish_quickly(text: str) -> None:
    start = time.perf_counter()
    with contextlib.suppress(RubySyntaxError):
        parse(text)
    assert time.perf_counter() - start < 5
