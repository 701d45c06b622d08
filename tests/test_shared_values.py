"""One object per equal decoded value: equal JSON shares, anything that differs as JSON never does, and
the event log's rows come out the same values, sharing their unchanged sections."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from karma_pipelines.contracts.redaction import redact, redact_json_line
from karma_pipelines.sources.event_log import read_event_log
from karma_pipelines.sources.shared_values import SharedValues

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-2, 2)
    | st.sampled_from([0.0, -0.0, 1.0, 0.5])
    | st.text("ab", max_size=2),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("xy", max_size=2), inner, max_size=3),
    max_leaves=10,
)


def _text(value) -> str:
    return json.dumps(value)  # key order, `true` against `1`, `-0.0` against `0.0`: all in the text


@settings(max_examples=300, deadline=None)
@given(st.lists(_JSON, min_size=2, max_size=6))
def test_values_are_shared_exactly_when_their_json_is_equal(values):
    shared = SharedValues()
    out = [shared.share(json.loads(_text(v))) for v in values]
    assert [_text(o) for o in out] == [_text(v) for v in values]  # nothing changes
    containers = [(o, _text(o)) for o in out if isinstance(o, (dict, list))]
    for a, text_a in containers:
        for b, text_b in containers:
            assert (a is b) == (text_a == text_b)


@settings(max_examples=100, deadline=None)
@given(st.lists(_JSON, min_size=2, max_size=8))
def test_a_full_table_starts_again_and_changes_nothing(values):
    shared = SharedValues(max_entries=2)
    assert [_text(shared.share(json.loads(_text(v)))) for v in values] == [_text(v) for v in values]


def test_equal_sections_are_one_object_and_unequal_ones_are_not():
    shared = SharedValues()
    first = shared.share({"config": {"lb": {"port": 80}, "n": 1}, "id": "a"}, root=True)
    second = shared.share({"config": {"lb": {"port": 80}, "n": 2}, "id": "b"}, root=True)
    assert first["config"]["lb"] is second["config"]["lb"]
    assert first["config"] is not second["config"]
    assert shared.share({"x": True}) is not shared.share({"x": 1})
    assert shared.share({"x": 0.0}) is not shared.share({"x": -0.0})
    assert shared.share({"a": 1, "b": 2}) is not shared.share({"b": 2, "a": 1})
    assert shared.share([{"a": [1]}]) is shared.share([{"a": [1]}])


def test_event_rows_share_the_unchanged_sections_of_a_config(tmp_path):
    events = tmp_path / "events"
    events.mkdir()
    lines = [
        {"ts": f"2026-01-0{i}T00:00:00Z", "event_type": "deploy.apply", "entity_id": "svc/a",
         "idempotency_key": f"k{i}", "tags": {"Owner": "x"},
         "attrs": {"deploy_id": f"d{i}", "config": {"count": i, "lb": {"port": 80, "paths": ["/a"]}}}}
        for i in (1, 2)
    ]  # fmt: skip
    (events / "2026-01-01.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    frame = read_event_log(events)
    attrs = list(frame["attrs"])
    assert [a["config"]["count"] for a in attrs] == [1, 2]
    assert attrs[0]["config"]["lb"] == {"port": 80, "paths": ["/a"]}
    assert attrs[0]["config"]["lb"] is attrs[1]["config"]["lb"]
    assert frame["tags"].iloc[0] is frame["tags"].iloc[1]


# Values with secrets in every place redaction looks: secret-named fields and arrays, name/value entries,
# tokens of known shapes, URL passwords, high-entropy words, and plain text that stays.
_SECRETISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-2, 2)
    | st.sampled_from(
        [
            "plain",
            "AKIAABCDEFGHIJKLMNOP",
            "postgres://app:pw1@db/x",
            "Xk9fQ2mZ7pL4vR8tW3nB6yH1",
            "DB_PASSWORD",
        ]
    ),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "value", "password", "secrets", "port", "env"]), inner, max_size=3
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_SECRETISH, st.sampled_from(["", "secrets", "env"])), min_size=1, max_size=6))
def test_redacted_values_are_redact_and_one_object_per_equal_result(pairs):
    shared = SharedValues()
    out = [shared.redacted(json.loads(_text(v)), key) for v, key in pairs]
    assert [_text(o) for o in out] == [_text(redact(v, key)) for v, key in pairs]
    again = [shared.redacted(json.loads(_text(v)), key) for v, key in pairs]
    assert all(a is b for a, b in zip(out, again, strict=True) if isinstance(a, (dict, list)))


def test_a_section_met_again_is_redacted_once(monkeypatch):
    import karma_pipelines.sources.shared_values as module

    calls = []

    def counting(value, *args, **kwargs):
        calls.append(_text(value))
        return redact(value, *args, **kwargs)

    monkeypatch.setattr(module, "redact", counting)
    shared = SharedValues()
    section = {
        "lb": {"port": 80, "password": "hunter2"},
        "env": [{"name": "API_TOKEN", "value": "t0ps3cret"}],
    }
    out = [shared.redacted(json.loads(_text({"n": i % 2, "config": section}))) for i in range(40)]
    assert out[0] is out[2] and out[1] is out[3] and out[0]["config"] is out[1]["config"]
    assert out[0]["config"] == redact(section)
    # Two rows' objects, the section, its lb, its env and env's entry: each redacted once.
    assert len(calls) == 6


def test_event_lines_are_redacted_as_a_whole_line_is(tmp_path):
    events = tmp_path / "events"
    events.mkdir()
    secrets = [{"name": "STRIPE_KEY", "value": "sk_live_abcdefghijklmnop1234"}]
    configs = [
        {"db_password": "p", "env": secrets, "url": "https://u:pw@h/x"},
        {"db_password": "p", "n": 1.5},
        {"n": "NaN_TEXT"},  # a NaN: decoded by `json`, redacted the other way
    ]
    tags = [{"Owner": "x", "token": "abc"}, {"Owner": "x"}, None]
    lines = [
        {"ts": f"2026-01-0{i + 1}T00:00:00Z", "event_type": "deploy.apply", "entity_id": "svc/a",
         "idempotency_key": f"k{i}", "tags": tags[i], "attrs": {"deploy_id": f"d{i}", "config": config}}
        for i, config in enumerate(configs)
    ]  # fmt: skip
    texts = [json.dumps(line).replace('"NaN_TEXT"', "NaN") for line in lines]
    (events / "2026-01-01.jsonl").write_text("".join(t + "\n" for t in texts))
    frame = read_event_log(events)
    assert frame["raw"].tolist() == [redact_json_line(t) for t in texts]
    decoded = [json.loads(t) for t in texts]
    assert [_text(a) for a in frame["attrs"]] == [_text(redact(d["attrs"])) for d in decoded]
    assert [_text(t) for t in frame["tags"]] == [_text(redact(d.get("tags") or {})) for d in decoded]
    assert "p" not in frame["attrs"].iloc[1]["config"].values()
    assert frame["raw"].iloc[1] != texts[1] and "sk_live" not in frame["raw"].iloc[0]
