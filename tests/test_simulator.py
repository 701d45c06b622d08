"""The simulator writes the world the event-log contract describes, deterministically, with a
learnable rollback signal."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from karma_pipelines.contracts.config_diff import diff_configs
from karma_pipelines.contracts.dependencies import references
from karma_pipelines.contracts.schema import ENVIRONMENTS, EVENT_TYPES
from karma_pipelines.simulator import SimulationConfig, simulate_world
from karma_pipelines.simulator.edits import apply_change, change_between
from karma_pipelines.simulator.malformed import KINDS
from karma_pipelines.simulator.risk import BIG_CHANGE_FIELDS, BIG_CHANGE_LINES, INTERCEPT, WEIGHTS

SMALL = SimulationConfig(seed=11, components=30, days=20)
MEDIUM = SimulationConfig(seed=3, components=120, days=120)
ENVELOPE = ("ts", "event_type", "entity_id", "correlation_id", "tags", "attrs", "idempotency_key", "source")


def _parse_ts(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


class World:
    """A written world, read back the way a consumer would."""

    def __init__(self, folder: Path, summary: dict) -> None:
        self.folder, self.summary = folder, summary
        self.meta = json.loads((folder / "world.json").read_text())
        self.components = {
            f"{p.parent.parent.name}/{p.parent.name}": (
                p.parent.parent.parent.name,
                json.loads(p.read_text()),
            )
            for p in (folder / "configs" / "iac").glob("*/*/*/config.json")
        }
        self.malformed = {
            (r["file"], int(r["line"])): r["kind"]
            for r in _read_csv(folder / "ground_truth" / "malformed.csv")
        }
        self.lines: dict[tuple[str, int], str] = {}
        for path in sorted((folder / "events").glob("*.jsonl")):
            for i, line in enumerate(path.read_text().split("\n")[:-1], start=1):
                self.lines[(path.name, i)] = line
        self.real = [
            (where, json.loads(line)) for where, line in self.lines.items() if where not in self.malformed
        ]
        self.events = sorted((e for _, e in self.real), key=lambda e: e["ts"])  # stable: file order on ties
        self.deploys = pd.read_csv(folder / "ground_truth" / "deploys.csv")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> World:
    out = tmp_path_factory.mktemp("small")
    return World(out, simulate_world(out, SMALL))


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> World:
    out = tmp_path_factory.mktemp("medium")
    return World(out, simulate_world(out, MEDIUM))


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path, small: World) -> None:
    again = tmp_path / "again"
    other = tmp_path / "other"
    simulate_world(again, SMALL)
    simulate_world(other, SimulationConfig(seed=12, components=30, days=20))
    assert _digest(again) == _digest(small.folder)
    assert _digest(other) != _digest(small.folder)


def test_output_does_not_depend_on_the_process(tmp_path: Path, small: World) -> None:
    """Another interpreter with another string-hash seed (set order) writes the same bytes."""
    out = tmp_path / "cli"
    args = ["simulate", "--out", str(out), "--seed", "11", "--components", "30", "--days", "20"]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run(
        [sys.executable, "-m", "karma_pipelines.apps.cli", *args], check=True, env=env, capture_output=True
    )
    assert _digest(out) == _digest(small.folder)


def test_layout_and_summary(small: World) -> None:
    assert small.meta == {
        "seed": 11, "components": 30, "days": 20, "start": "2026-01-05T00:00:00Z",
        "end": "2026-01-25T00:00:00Z", "generator": small.meta["generator"],
    }  # fmt: skip
    assert len(small.components) == small.summary["components"] == 30
    assert len(small.deploys) == small.summary["deploys"] > 0
    assert small.summary["malformed"] == len(small.malformed) > 0
    assert small.summary["events"] == len(small.real)
    names = sorted(p.name for p in (small.folder / "events").glob("*.jsonl"))
    assert names[0] == "2026-01-05.jsonl" and len(names) == small.summary["files"] <= 20
    json.dumps(small.summary)  # JSON-able


def test_every_malformed_line_is_what_malformed_csv_says(medium: World) -> None:
    end = medium.meta["end"]
    keys_before: dict[str, tuple[str, int]] = {}
    seen_kinds = set()
    for where, kind in sorted(medium.malformed.items(), key=lambda kv: kv[0]):
        line = medium.lines[where]
        seen_kinds.add(kind)
        if kind == "not_json":
            with pytest.raises(json.JSONDecodeError):
                json.loads(line)
            continue
        event = json.loads(line)
        assert isinstance(event, dict), where
        if kind.startswith("missing_"):
            assert kind.removeprefix("missing_") not in event, where
        elif kind == "bad_ts_type":
            assert isinstance(event["ts"], int | float), where
        elif kind == "unparseable_ts":
            assert isinstance(event["ts"], str)
            assert pd.isna(pd.to_datetime(pd.Series([event["ts"]]), errors="coerce", utc=True)[0]), where
        elif kind == "future_ts":
            assert event["ts"] > end and _parse_ts(event["ts"]), where
        elif kind == "unknown_entity":
            assert event["entity_id"] not in medium.components, where
        elif kind == "unknown_event_type":
            assert event["event_type"] not in EVENT_TYPES, where
        elif kind == "attrs_not_object":
            assert not isinstance(event["attrs"], dict), where
        elif kind == "duplicate":
            file, line_no = where
            earlier = [
                medium.lines[(file, i)] for i in range(1, line_no) if (file, i) not in medium.malformed
            ]
            assert line in earlier, where
        else:
            pytest.fail(f"unknown kind {kind}")
        if kind != "duplicate" and "idempotency_key" in event:  # a new event, not a re-delivery
            assert event["idempotency_key"] not in keys_before
    assert seen_kinds == set(KINDS)
    share = len(medium.malformed) / len(medium.lines)
    assert 0.005 < share < 0.02


def test_every_real_line_is_a_valid_event(medium: World) -> None:
    start, end = medium.meta["start"], medium.meta["end"]
    keys = [e["idempotency_key"] for _, e in medium.real]
    assert len(keys) == len(set(keys))
    for (file, _), event in medium.real:
        assert tuple(event) == ENVELOPE
        assert event["event_type"] in EVENT_TYPES
        assert event["entity_id"] in medium.components
        assert isinstance(event["attrs"], dict) and event["source"] in ("cli", "api", "ci")
        assert set(event["tags"]) == {"Project", "Environment", "Owner"}
        assert start <= event["ts"] < end and file == event["ts"][:10] + ".jsonl"
        _parse_ts(event["ts"])
    # mostly in time order inside a file, a few late
    late = sum(
        1
        for a, b in zip(medium.real, medium.real[1:], strict=False)
        if a[0][0] == b[0][0] and b[1]["ts"] < a[1]["ts"]
    )
    assert 0 < late < 0.02 * len(medium.real)


def test_deploy_events_carry_the_contract_attrs(medium: World) -> None:
    by_type: dict[str, list[dict]] = {}
    for event in medium.events:
        by_type.setdefault(event["event_type"], []).append(event)
    assert set(by_type) == set(EVENT_TYPES)
    applies = by_type["deploy.apply"]
    assert {e["attrs"]["action"] for e in applies} == {"create", "update", "promote"}
    assert {e["attrs"]["status"] for e in applies} == {"succeeded", "failed"}
    for e in applies:
        assert set(e["attrs"]) == {"deploy_id", "component", "environment", "user", "action", "status",
                                   "config", "change_id", "promoted_from"}  # fmt: skip
        assert (e["attrs"]["promoted_from"] is not None) == (e["attrs"]["action"] == "promote")
        assert e["correlation_id"] == e["attrs"]["change_id"]
    assert sorted(e["attrs"]["deploy_id"] for e in applies) == sorted(medium.deploys["deploy_id"])
    first = {}
    for e in applies:
        first.setdefault(e["entity_id"], e["attrs"]["action"])
    assert set(first.values()) == {"create"}
    promos = by_type["promotion"]
    assert {(p["attrs"]["from_environment"], p["attrs"]["to_environment"]) for p in promos} == {
        ("dev", "staging"),
        ("staging", "prod"),
    }


def test_dependencies_stay_inside_an_environment(medium: World) -> None:
    linked = 0
    for key, (env, config) in medium.components.items():
        assert config["tags"].get("Environment", env) == env and key.split("/")[1].split("-")[-1] in (
            *ENVIRONMENTS,
            "a",
            "b",
        )
        for ref in references(config):
            linked += 1
            assert ref in medium.components, (key, ref)
            assert medium.components[ref][0] == env
    assert linked > len(medium.components) // 2


def test_change_results_list_the_downstream_components(medium: World) -> None:
    results = {e["correlation_id"]: e for e in medium.events if e["event_type"] == "change.result"}
    invalidated: dict[str, set[str]] = {}
    for e in medium.events:
        if e["event_type"] == "downstream.invalidated":
            invalidated.setdefault(e["correlation_id"], set()).add(e["entity_id"])
    applied = [e for e in medium.events if e["event_type"] == "deploy.apply"]
    assert sum(bool(results[e["correlation_id"]]["attrs"]["affected_components"]) for e in applied) > 20
    for e in applied:
        affected = set(results[e["correlation_id"]]["attrs"]["affected_components"])
        assert affected == invalidated.get(e["correlation_id"], set())


def test_rollbacks_restore_the_config_before_the_deploy_with_nothing_in_between(medium: World) -> None:
    history: dict[str, list[dict]] = {}
    for event in medium.events:
        if event["event_type"] in ("deploy.apply", "deploy.rollback"):
            history.setdefault(event["entity_id"], []).append(event)
    n = 0
    for events in history.values():
        for i, event in enumerate(events):
            if event["event_type"] != "deploy.rollback":
                continue
            n += 1
            undone = events[i - 1]  # the deploy just before: nothing else in between
            assert undone["event_type"] == "deploy.apply"
            assert undone["attrs"]["deploy_id"] == event["attrs"]["rolls_back"]
            before = events[i - 2]["attrs"]["config"] if i >= 2 else None
            assert event["attrs"]["config"] == before
            assert event["attrs"]["deploy_id"] != event["attrs"]["rolls_back"]
    rolled = medium.deploys[medium.deploys["rolled_back"]]
    # As many as the true rollback probabilities make: within 4 sd of their sum (a few censored at the end).
    assert (
        n == len(rolled) == medium.summary["rollbacks"]
        and abs(n - (p := medium.deploys["true_rollback_probability"]).sum()) < 4 * (p * (1 - p)).sum() ** 0.5
    )
    rollbacks = [e for e in medium.events if e["event_type"] == "deploy.rollback"]
    rollback_ids = {e["attrs"]["deploy_id"] for e in rollbacks}
    assert not rollback_ids & {e["attrs"]["rolls_back"] for e in rollbacks}  # never undone
    applied_at = dict(zip(medium.deploys["deploy_id"], medium.deploys["deployed_at"], strict=True))
    delays = [
        (_parse_ts(e["ts"]) - _parse_ts(applied_at[e["attrs"]["rolls_back"]])).total_seconds() / 86400
        for e in rollbacks
    ]
    assert min(delays) > 0 and 0 < sum(d > 7 for d in delays) < 0.15 * len(delays)


def test_config_files_are_the_latest_deployed_configs(medium: World) -> None:
    latest: dict[str, dict] = {}
    for event in medium.events:
        if event["event_type"] in ("deploy.apply", "deploy.rollback") and event["attrs"]["config"]:
            latest[event["entity_id"]] = event["attrs"]["config"]
    assert latest.keys() == medium.components.keys()
    assert all(latest[k] == cfg for k, (_, cfg) in medium.components.items())


def test_config_mistakes_are_in_the_latest_configs(medium: World) -> None:
    rows = _read_csv(medium.folder / "ground_truth" / "config_mistakes.csv")
    assert {r["kind"] for r in rows} == {"missing", "unused"}
    deploy_ids = set(medium.deploys["deploy_id"]) | {
        e["attrs"]["deploy_id"] for e in medium.events if e["event_type"] == "deploy.rollback"
    }
    for row in rows:
        from karma_pipelines.contracts.config_fields import flatten

        flat = flatten(medium.components[row["component"]][1])
        assert (row["field"] in flat) == (row["kind"] == "unused"), row
        assert row["introduced_by"] in deploy_ids


def test_the_planted_signal_is_learnable(medium: World) -> None:
    d = medium.deploys
    y, p = d["rolled_back"].astype(bool), d["true_rollback_probability"]
    assert roc_auc_score(y, p) > 0.75
    assert y[p >= 0.25].mean() > 3 * y[p < 0.06].mean()
    causes = d["causes"].fillna("").str.get_dummies(sep=";")
    for cause in ("big_change", "network_change", "image_change", "off_hours", "upstream_deployed_24h",
                  "missing_required_field", "first_deploy"):  # fmt: skip
        on = causes[cause] == 1
        assert on.sum() >= 20, cause
        assert y[on].mean() > 1.3 * y[~on].mean(), cause
    assert y[causes["promoted"] == 1].mean() < y[causes["promoted"] == 0].mean()


def test_labels_follow_the_planted_model(medium: World) -> None:
    """A logistic fit of the realised labels on the causes recovers the planted weights
    (within four standard errors, plus a little for censoring at the world's end)."""
    d = medium.deploys
    causes = d["causes"].fillna("").str.get_dummies(sep=";").reindex(columns=list(WEIGHTS), fill_value=0)
    causes = causes.loc[:, causes.sum() >= 100]
    fit = LogisticRegression(C=1e6, max_iter=5000).fit(causes, d["rolled_back"])
    x = np.column_stack([np.ones(len(causes)), causes.to_numpy(float)])
    p = fit.predict_proba(causes)[:, 1]
    se = np.sqrt(np.diag(np.linalg.inv(x.T @ (x * (p * (1 - p))[:, None]))))
    assert abs(fit.intercept_[0] - INTERCEPT) < 4 * se[0] + 0.1
    for cause, coef, err in zip(causes.columns, fit.coef_[0], se[1:], strict=True):
        assert abs(coef - WEIGHTS[cause]) < 4 * err + 0.1, (cause, coef, WEIGHTS[cause], err)
        assert err < 0.35, cause  # estimated precisely enough for the check to mean something
    assert len(causes.columns) >= 10


def test_causes_are_observable_in_the_log(medium: World) -> None:
    applies = {e["attrs"]["deploy_id"]: e for e in medium.events if e["event_type"] == "deploy.apply"}
    previous: dict[str, dict | None] = {}
    for event in medium.events:
        if event["event_type"] not in ("deploy.apply", "deploy.rollback"):
            continue
        if event["event_type"] == "deploy.apply":
            event["_before"] = previous.get(event["entity_id"])
        previous[event["entity_id"]] = event["attrs"]["config"]
    for row in medium.deploys.itertuples():
        causes = set(str(row.causes).split(";"))
        event = applies[row.deploy_id]
        hour = int(event["ts"][11:13])
        assert ("prod" in causes) == (event["attrs"]["environment"] == "prod")
        assert ("first_deploy" in causes) == (event["attrs"]["action"] == "create")
        assert ("promoted" in causes) == (event["attrs"]["action"] == "promote")
        assert ("off_hours" in causes) == (not 8 <= hour < 19)
        if event["attrs"]["action"] != "create":
            diff = diff_configs(event["_before"], event["attrs"]["config"])
            size = len(diff.added) + len(diff.removed) + len(diff.changed)
            lines = diff.lines_added + diff.lines_removed
            assert ("big_change" in causes) == (size >= BIG_CHANGE_FIELDS or lines >= BIG_CHANGE_LINES)


def test_proposed_changes_apply_to_the_config_before() -> None:
    before = {"a": 1, "env": {}, "fn": {"x": {"m": 1, "e": {"K": "1"}}}, "tags": {"Owner": "o"}}
    after = {"a": 2, "env": {"NEW": "v"}, "fn": {"x": {"m": 1, "e": {}}}, "b": [1]}
    change = change_between(before, after)
    assert change["tags.Owner"] is None and change["a"] == 2 and "env" not in change
    assert apply_change(before, change) == after


def test_rates_are_in_the_target_ranges(medium: World) -> None:
    d = medium.deploys
    per_component_day = len(d) / (MEDIUM.components * MEDIUM.days)
    # the default world (240 components, 180 days) must get 10,000-30,000 deploys
    assert 10_000 <= per_component_day * 240 * 180 <= 30_000
    assert 0.08 <= medium.summary["rollback_rate"] <= 0.15
    assert np.isclose(d["rolled_back"].mean(), medium.summary["rollback_rate"], atol=1e-4)
    applies = [e for e in medium.events if e["event_type"] == "deploy.apply"]
    working = [
        e for e in applies
        if 8 <= int(e["ts"][11:13]) < 19 and _parse_ts(e["ts"]).weekday() < 5
    ]  # fmt: skip
    assert 0.7 < len(working) / len(applies) < 0.97


@pytest.mark.skipif(not os.environ.get("KARMA_SIM_FULL"), reason="default size: set KARMA_SIM_FULL=1")
def test_default_size_is_in_the_target_ranges(tmp_path: Path) -> None:
    summary = simulate_world(tmp_path, SimulationConfig())
    assert summary["components"] == 240
    assert 10_000 <= summary["deploys"] <= 30_000
    assert 0.08 <= summary["rollback_rate"] <= 0.15
    d = pd.read_csv(tmp_path / "ground_truth" / "deploys.csv")
    assert roc_auc_score(d["rolled_back"], d["true_rollback_probability"]) >= 0.8


def test_generated_corpora_draw_on_the_one_catalogue(tmp_path):
    """The suggester's corpus and the synthetic Git repository use the simulator's component types:
    in the corpus, every field the catalogue says is missing or never read is a planted mistake."""
    from karma_pipelines.simulator.catalog import SPECS, missing_fields, unused_fields
    from karma_pipelines.sources.git.synthetic_repo import make_repo
    from karma_pipelines.suggester.synthetic import generate_world

    world = generate_world(200, seed=1)
    planted = set(world.mistakes[["component", "field", "kind"]].itertuples(index=False, name=None))
    for item in world.configs:
        ctype, config, key = item["component_type"], item["config"], item["component"]
        assert ctype in SPECS and item["environment"] in ENVIRONMENTS
        found = {(key, f, "unused") for f in unused_fields(ctype, config)}
        found |= {(key, f, "missing") for f in missing_fields(ctype, config)}
        assert found <= planted, key
    repo = make_repo(tmp_path / "repo", commits=60, components=20, seed=2)
    configs = list((repo.path / "iac").glob("*/*/*/config.json"))
    assert configs and {p.parent.parent.name for p in configs} <= set(SPECS)
    assert {p.parent.parent.parent.name for p in configs} <= set(ENVIRONMENTS)
