"""One object per equal decoded value: equal JSON shares, anything that differs as JSON never does, and
the event log's rows come out the same values, sharing their unchanged sections."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

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


@settings(max_examples=200, deadline=None)
@given(st.lists(_JSON, min_size=2, max_size=6), st.integers(1, 4))
def test_values_shared_again_with_seen_are_the_values_shared_without_it(values, max_entries):
    # As a worker sends its chunk back: equal sections already one object, met again in many rows.
    there = SharedValues()
    sent = [there.share(json.loads(_text(v))) for v in values]
    sent = [*sent, *sent]
    here, again = SharedValues(max_entries), SharedValues(max_entries)
    seen: dict = {}
    with_seen = [here.share(v, seen=seen) for v in sent]
    without = [again.share(v) for v in sent]
    assert [_text(o) for o in with_seen] == [_text(o) for o in without] == [_text(v) for v in sent]
    if max_entries >= 4:  # the table kept everything: sharing is exactly as without `seen`
        for a, b in zip(with_seen, with_seen[1:], strict=False):
            assert (a is b) == (_text(a) == _text(b)) or not isinstance(a, (dict, list))


def test_an_object_met_again_is_not_walked_again():
    section = {"lb": {"port": 80}, "tags": ["a", "b"]}
    rows = [{"id": str(i), "config": section} for i in range(50)]
    walked = []
    shared = SharedValues()
    share = shared.share

    def counting(value, *args, **kwargs):
        walked.append(type(value))
        return share(value, *args, **kwargs)

    shared.share = counting
    seen: dict = {}
    out = [shared.share(row, root=True, seen=seen) for row in rows]
    assert all(o["config"] is out[0]["config"] and o["config"] == section for o in out)
    # A row is its root, its id and its section's tree (lb, 80, tags, a, b): 8 calls; met again, the
    # section is one call, so every later row is 3.
    assert len(walked) == 8 + 3 * (len(rows) - 1)
    walked.clear()
    [shared.share(row, root=True) for row in rows]
    assert len(walked) == 8 * len(rows)  # without `seen`: the whole tree of every row
