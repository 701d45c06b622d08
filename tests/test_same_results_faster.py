"""The faster paths of extraction, records and features give exactly what the plain ones gave: a config's
JSON lines and line counts, a line redacted once as a whole, dependents counted again only when the graph
changes."""

from __future__ import annotations

import difflib
import json
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from karma_pipelines.contracts.config_diff import config_lines, diff_configs, matched_lines
from karma_pipelines.contracts.config_fields import (
    canonical_json,
    compact_json,
    flatten,
    has_long_digit_run,
    loads_json,
)
from karma_pipelines.contracts.redaction import MAY_HOLD_SECRET, may_hold_secret, redact, redact_json_line
from karma_pipelines.contracts.schema import column_isin
from karma_pipelines.features.daily_state import WorldState
from karma_pipelines.sources.event_log import read_event_log

ODD_CONFIGS = [
    {"b": [1.5, 2, True, None, {}, [], -0.0, 1e300, 10**30], "a": {"x": 'é\u2028\n\x85\x0c\t"\\'}},
    {"nan": float("nan"), "inf": [float("-inf")]},  # not plain JSON: the encoder's own text
    {"tuple": (1, "2"), "deep": {"c": {"d": [[], [{}], {"e": {"": ""}}]}}},
    {3: "int keys", 1: {"2": "x"}},  # the encoder writes them as text
]


@pytest.mark.parametrize("config", ODD_CONFIGS)
def test_config_lines_are_the_canonical_json_lines(config):
    assert config_lines(config) == canonical_json(config).splitlines()


_PLAIN = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(st.characters(codec="utf-8"), max_size=4)
    | st.sampled_from(["node-1", "1e-5", "NaN", "C:\\u", "\x7f"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text("ab\u00e9-", max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text("xyz", max_size=2), _PLAIN, min_size=1, max_size=4))
def test_config_lines_are_the_canonical_json_lines_whichever_encoder_writes_them(config):
    # orjson where its text is json's (exponents, escapes, NaN and big integers go the other way).
    assert config_lines(config) == canonical_json(config).splitlines()
    assert config_lines(config, compact_json(config)) == config_lines(config)


def _unified_counts(before, after) -> tuple[int, int]:
    """The line counts as `diff_configs` took them before: `+`/`-` lines of the unified diff."""
    old = canonical_json(before).splitlines() if before else []
    new = canonical_json(after).splitlines() if after else []
    lines = list(difflib.unified_diff(old, new, lineterm="", n=0))
    plus = sum(1 for x in lines if x.startswith("+") and not x.startswith("+++"))
    return plus, sum(1 for x in lines if x.startswith("-") and not x.startswith("---"))


def _random_config(rng: np.random.Generator, depth: int = 0) -> dict:
    out: dict = {}
    for i in range(int(rng.integers(0, 6))):
        roll = rng.random()
        key = f"k{int(rng.integers(0, 8))}_{i % 3}"
        if roll < 0.25 and depth < 3:
            out[key] = _random_config(rng, depth + 1)
        elif roll < 0.4:
            out[key] = [int(x) for x in rng.integers(0, 3, size=int(rng.integers(0, 4)))]
        elif roll < 0.6:
            out[key] = "}," if rng.random() < 0.3 else f"v{int(rng.integers(0, 4))}"
        else:
            out[key] = float(rng.integers(0, 3)) if rng.random() < 0.5 else int(rng.integers(0, 3))
    return out


def test_line_counts_are_the_unified_diffs():
    rng = np.random.default_rng(11)
    configs = [_random_config(rng) for _ in range(300)]
    pairs = [(None, configs[0]), (configs[0], {}), ({}, configs[1])]
    pairs += [(a, b) for a, b in zip(configs, configs[1:], strict=False)]
    pairs += [(c, {**c, "k0_0": "changed", "new": [1, 2]}) for c in configs[:50]]
    for before, after in pairs:
        diff = diff_configs(before, after)
        assert (diff.lines_added, diff.lines_removed) == _unified_counts(before, after), (before, after)
        assert diff.added == sorted(set(flatten(after or {})) - set(flatten(before or {})))


def test_an_event_line_is_redacted_as_its_parts_were(tmp_path):
    events = tmp_path / "events"
    events.mkdir()
    secret = "ghp_" + "A1b2C3d4" * 4
    deep: dict = {"password": "hunter2"}
    for _ in range(70):
        deep = {"n": deep}
    lines = [
        {"ts": "2026-01-05T00:00:00Z", "event_type": "deploy.apply", "entity_id": "svc/a",
         "attrs": {"config": {"db_password": "x", "env": [{"name": "API_TOKEN", "value": "t"}]},
                   "note": f"uses {secret}"},
         "tags": {"Owner": "team", "token": "abc"}, "idempotency_key": "0123456789abcdef01234567"},
        {"ts": "2026-01-05T00:01:00Z", "event_type": "deploy.apply", "entity_id": "svc/b",
         "attrs": {"config": deep}, "tags": {"secret": 1}},  # nested past redaction's depth bound
        {"ts": "2026-01-05T00:02:00Z", "name": "DB_PASSWORD", "value": "v", "attrs": {"token": "y"}},
        {"ts": "2026-01-05T00:03:00Z", "attrs": ["not", "an", "object", secret], "tags": "t"},
    ]  # fmt: skip
    texts = [json.dumps(line) for line in lines]
    (events / "2026-01-05.jsonl").write_text("\n".join(texts) + "\n")
    frame = read_event_log(events)
    assert frame["raw"].tolist() == [redact_json_line(t) for t in texts]
    for row, line in zip(frame.itertuples(), lines, strict=True):
        attrs = line["attrs"]
        assert row.attrs == (redact(attrs) if isinstance(attrs, dict) else {})
        tags = line.get("tags")
        assert row.tags == (redact(tags) if isinstance(tags, dict) else {})
    assert secret not in "".join(frame["raw"]) and "hunter2" not in "".join(frame["raw"])


def _graph_of(configs: dict[str, tuple]) -> dict:
    state = WorldState()
    for component, refs in configs.items():
        state.apply(component, component.split("/")[0], ["f"], refs)
    return state.graph()


def test_dependents_follow_every_change_of_the_graph():
    state = WorldState()
    configs: dict[str, tuple] = {}
    steps = [
        ("svc/a", ("db/d",)), ("svc/b", ("svc/a",)), ("db/d", ()), ("svc/b", ("svc/a",)),  # same refs
        ("svc/c", ("svc/b",)), ("svc/a", ()), ("svc/b", None), ("svc/a", ("db/d", "svc/c")),
    ]  # fmt: skip
    for component, refs in steps:
        if refs is None:
            state.apply(component, component.split("/")[0], [], [])  # removed
            configs.pop(component, None)
        else:
            state.apply(component, component.split("/")[0], ["f"], refs)
            configs.pop(component, None)
            configs[component] = refs  # re-inserted last, as the state orders them
        got = {node: dependents for node, (dependents, _) in state.graph().items()}
        want = {node: dependents for node, (dependents, _) in _graph_of(configs).items()}
        assert got == want, (component, refs)
    # the end: svc/a -> db/d, svc/a -> svc/c -> svc/b (a target only: its own config is gone)
    assert (want["db/d"], want["svc/c"], want["svc/b"], want["svc/a"]) == (1.0, 1.0, 2.0, 0.0)


@pytest.mark.parametrize(
    "text",
    ['{"a": 1}', "STRIPE_KEY", "a\\u00e9", "my Password", "postgres://u:pw@host/db", "AKIA" + "A" * 16,
     "x" * 23, "x" * 24, "short words only, nothing else", "TOKEN", "eyJabcdefgh.ijklmnopq.rstuvwxyz"],
)  # fmt: skip
def test_may_hold_secret_is_the_one_pattern(text):
    assert may_hold_secret(text) == bool(MAY_HOLD_SECRET.search(text))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from("abcd"), max_size=40), st.lists(st.sampled_from("abcd"), max_size=40))
def test_matched_lines_are_difflibs(old, new):
    blocks = difflib.SequenceMatcher(None, old, new).get_matching_blocks()
    assert matched_lines(old, new) == sum(block.size for block in blocks)


@settings(max_examples=400, deadline=None)
@given(st.text(st.sampled_from('0123456789 .-e\u0663\ud800é"x'), max_size=60))
def test_a_long_digit_run_is_found_as_the_pattern_finds_it(text):
    assert has_long_digit_run(text) == bool(re.search("[0-9]{19}", text))


@pytest.mark.parametrize(
    "text",
    ['{"n": 12345678901234567890}', '{"n": -9223372036854775809}', '{"n": 1.5, "s": "\u00e9"}', "[NaN]",
     '{"n": 9223372036854775807}', '"\\ud800"', "[" * 2000 + "]" * 2000, '{"a": 1e400}', "{", ""],
)  # fmt: skip
def test_loads_json_decodes_and_fails_as_json_does(text):
    try:
        expected = json.loads(text)
    except (ValueError, RecursionError) as exc:
        with pytest.raises(type(exc)):
            loads_json(text)
        return
    got = loads_json(text)
    assert json.dumps(got) == json.dumps(expected) and type(got) is type(expected)


@pytest.mark.parametrize("dtype", ["string", "object", "int64"])
def test_column_isin_is_pandas_isin(dtype):
    values = ["a", "b", None, "c", "a"] if dtype != "int64" else [1, 2, 3, 4, 1]
    column = pd.Series(values, dtype=dtype)
    for wanted in (["a", "c"], {"b"}, pd.Series(["a", "x"], dtype="string"), [], [1, 4], {2}):
        assert column_isin(column, wanted).tolist() == column.isin(list(wanted)).tolist(), wanted
