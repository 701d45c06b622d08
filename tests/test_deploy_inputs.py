"""The deploy inputs: what the deploy tables read of the events, each config as its orjson bytes, and
let go once the forked workers building the tables have them."""

import json
import math
import os

import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from karma_pipelines import parallel
from karma_pipelines.contracts.config_fields import compact_json, flatten
from karma_pipelines.contracts.schema import KARMA_EVENTS
from karma_pipelines.memory import release_freed_memory
from karma_pipelines.records import deploy_tables_from_events
from karma_pipelines.records.from_events import deploy_inputs, encoded_config
from karma_pipelines.simulator import SimulationConfig, simulate_world
from karma_pipelines.sources.event_log import read_event_log
from karma_pipelines.sources.event_world import EventLogSource
from karma_pipelines.validation import validate_table

# Configs as JSON lines decode them: keys in any order, every kind of number (NaN, infinities, integers
# past 64 bits), any text (lone surrogates too).
_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, -0.0, 1e-5, 1e300])
    | st.text(max_size=4)
    | st.sampled_from(["\ud800", "null", "a\x7fb"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text("zyxba.", max_size=3), inner, max_size=4)
    ),
    max_leaves=12,
)
_CONFIGS = st.dictionaries(st.text("zyxba", min_size=1, max_size=3), _VALUES, max_size=5)


def _exact(value) -> str:
    """The value's JSON text as it is: key order, `1` against `1.0` against `true`, `-0.0`, NaN."""
    return json.dumps(value, allow_nan=True)


def _decoded(encoded):
    return orjson.loads(encoded) if type(encoded) is bytes else encoded


def _orjson_exact(value) -> bool:
    if isinstance(value, dict):
        return all(_orjson_exact(k) and _orjson_exact(v) for k, v in value.items())
    if isinstance(value, list):
        return all(map(_orjson_exact, value))
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**64
    if isinstance(value, str):
        return not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    return True


@settings(max_examples=400, deadline=None)
@given(_CONFIGS)
def test_an_encoded_config_decodes_to_the_config_with_its_keys_in_order(config):
    encoded = encoded_config(config)
    assert _exact(_decoded(encoded)) == _exact(config)
    # Bytes wherever orjson writes the config exactly; the config itself only where it cannot.
    assert (type(encoded) is bytes) == _orjson_exact(config), encoded


def test_equal_configs_are_one_object():
    same: dict = {}
    first, again = encoded_config({"b": 1, "a": [2]}, same), encoded_config({"b": 1, "a": [2]}, same)
    assert first is again and first == b'{"b":1,"a":[2]}'
    assert encoded_config({"a": [2], "b": 1}, same) is not first  # another key order: another config


@pytest.fixture(scope="module")
def clean_events(tmp_path_factory):
    root = tmp_path_factory.mktemp("w") / "world"
    simulate_world(root, SimulationConfig(seed=8, components=20, days=20))
    world = EventLogSource(root).describe()
    events = validate_table(read_event_log(root / "events"), KARMA_EVENTS, world.suite_parameters()).clean
    return events, world.end


def test_configs_orjson_cannot_write_reach_the_snapshots_as_they_were(clean_events):
    events, end = clean_events
    events = events.copy()
    deploys = [i for i, t in enumerate(events["event_type"]) if t.startswith("deploy.")][:6]
    odd = [
        {"z_first": 1, "nan": float("nan"), "vpc_nickname": "net-a"},
        {"huge": 2**70, "nested": {"b": float("inf"), "a": -0.0}},
        {"text": "\ud800", "list": [1, 2.5, None]},
        {},
        None,
        {"later": {"y": 1, "x": [{"k": "v"}]}},
    ]
    attrs = events["attrs"].to_numpy(dtype=object, copy=True)
    tags = events["tags"].to_numpy(dtype=object, copy=True)
    for i, config in zip(deploys, odd, strict=True):
        attrs[i] = {k: v for k, v in attrs[i].items() if k not in ("config", "environment")} | (
            {} if config is None else {"config": config}
        )
        tags[i] = {}
    events["attrs"], events["tags"] = attrs, tags
    records, snaps = deploy_tables_from_events(events, as_of=end, workers=1)
    by_id = snaps.set_index("deploy_id")
    for i, config in zip(deploys, odd, strict=True):
        row = by_id.loc[attrs[i]["deploy_id"]]
        assert row["config_json"] == compact_json(config or {})
        assert list(row["field_paths"]) == sorted(flatten(config or {}))
    environments = records.set_index("deploy_id").loc[[attrs[i]["deploy_id"] for i in deploys], "environment"]
    assert set(environments) == {"default"}  # no environment attr and no Environment tag


def test_consumed_inputs_are_emptied_once_the_workers_are_forked(clean_events, monkeypatch):
    events, end = clean_events
    expected = deploy_tables_from_events(events, as_of=end, workers=1)
    inputs = deploy_inputs(events)
    assert list(events.columns) == KARMA_EVENTS.names  # the events are not changed
    kept = deploy_tables_from_events(inputs, as_of=end, workers=2)
    assert len(inputs.columns) > 0  # not consumed: as it was
    seen = []
    original = parallel.fork_map

    def watching(work, count, workers=None, forked=None):
        def noting():
            seen.append(len(inputs.columns))
            forked()
            seen.append(len(inputs.columns))

        return original(work, count, workers, forked=noting)

    monkeypatch.setattr(parallel, "fork_map", watching)
    consumed = deploy_tables_from_events(inputs, as_of=end, workers=2, consume=True)
    assert seen[0] > 0 and seen[1] == 0 and len(inputs.columns) == 0
    for got in (kept, consumed):
        for a, b in zip(got, expected, strict=True):
            pd.testing.assert_frame_equal(a, b)


def test_forked_is_called_once_the_workers_are_forked_and_only_then():
    calls = []
    results = list(
        parallel.fork_map(lambda i: (i, os.getpid()), 5, workers=2, forked=lambda: calls.append(1))
    )
    assert calls == [1] and [i for i, _ in results] == list(range(5))
    assert os.getpid() not in {pid for _, pid in results}
    assert list(parallel.fork_map(lambda i: i, 3, workers=1, forked=lambda: calls.append(2))) == [0, 1, 2]
    assert calls == [1]  # the work was done here: nothing was forked


def test_freed_memory_goes_back_to_the_system():
    import psutil

    process = psutil.Process()
    blocks = [bytes(500) + i.to_bytes(4, "little") for i in range(400_000)]  # about 200 MB, small objects
    held = process.memory_info().rss
    del blocks
    assert release_freed_memory() is True  # glibc, as on every machine this runs on
    assert process.memory_info().rss < held - (100 << 20)
