"""No secret reaches a store: secrets planted in a world's event log (config fields by name and by
value, name/value lists, free text, a line that is not JSON, a value shared by six components) are
found in no file of the home (sqlite rows, pickles, MLflow artifacts, Data Docs) and in no CLI output."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest

from karma_pipelines.apps.cli import main

SECRETS = {
    "github": "ghp_" + "Q7xv2LmP9rT4kW8nZ3bY6cF1hJ5dS0aGeK2u",
    "phrase": "Hunter2Phrase",
    "stripe": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "ecs": "EcsNameValueS3cret",
    "aws": "AKIA" + "IOSFODNN7EXAMPLQ",
    "message": "PlainPassw0rdInText",
    "truncated": "TruncatedLineS3cret",
    "shared": "xK9mQ2vL7pR4tW8nZ3bY6cF1hJ5dS0aG",  # high entropy, set in six components
}


def plant(world: Path) -> None:
    """Rewrite the world's event files with secrets in their deploys and change requests."""
    deploys_seen: list[str] = []
    for path in sorted((world / "events").glob("*.jsonl")):
        lines = []
        for line in path.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                lines.append(line)
                continue
            attrs = event.get("attrs") if isinstance(event, dict) else None
            if isinstance(attrs, dict) and event.get("event_type") == "deploy.apply":
                config = attrs.get("config")
                if isinstance(config, dict):
                    config["note"] = f"token {SECRETS['github']}"
                    config["comment"] = f"the db password is {SECRETS['phrase']}"
                    config["container"] = {
                        "environment": {"STRIPE_KEY": SECRETS["stripe"]},
                        "env": [{"name": "DB_PASSWORD", "value": SECRETS["ecs"]}],
                    }
                    if event["entity_id"] not in deploys_seen[:6]:
                        deploys_seen.append(event["entity_id"])
                    if event["entity_id"] in deploys_seen[:6]:
                        config["build_ref"] = SECRETS["shared"]
            if isinstance(attrs, dict) and event.get("event_type") == "change.requested":
                attrs["message"] = (
                    f"{attrs.get('message', '')} with {SECRETS['aws']} password={SECRETS['message']}"
                )
            lines.append(json.dumps(event))
        path.write_text("\n".join(lines) + "\n")
    first = sorted((world / "events").glob("*.jsonl"))[0]
    with first.open("a") as out:  # cut short: not JSON, quarantined with its nested secret
        out.write('{"ts": "2026-01-05T10:00:00Z", "attrs": {"config": {"db": {"db_password": "'
                  f'{SECRETS["truncated"]}", "port": 5432\n')  # fmt: skip


def found(root: Path, texts: list[str]) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for name, secret in SECRETS.items():
                if secret.encode() in data:
                    hits.setdefault(name, []).append(str(path.relative_to(root)))
    for i, text in enumerate(texts):
        for name, secret in SECRETS.items():
            if secret in text:
                hits.setdefault(name, []).append(f"output {i}")
    return hits


@pytest.fixture(scope="module")
def planted_world(tmp_path_factory):
    world = tmp_path_factory.mktemp("planted") / "world"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["simulate", "--out", str(world), "--components", "30", "--days", "30"]) == 0
    plant(world)
    text = "".join(p.read_text() for p in (world / "events").glob("*.jsonl"))
    assert all(secret in text for secret in SECRETS.values())  # planted
    return world


def run_cli(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "KARMA_HOME")}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return code, out.getvalue() + err.getvalue()


def test_no_planted_secret_reaches_any_store_or_output(planted_world, tmp_path):
    home = tmp_path / "home"
    _, run_out = run_cli(["run", "--source", f"events:{planted_world}", "--home", str(home), "--json"])
    _, backtest_out = run_cli(["backtest", "--events", str(planted_world), "--home", str(home), "--json"])
    summary = json.loads(run_out[: run_out.rindex("}") + 1][run_out.index("{") :])
    assert summary["assets"]["quarantined_records"]["dagster/row_count"] >= 1  # the cut line is kept
    assert list(home.rglob("*.pkl")) and (home / "mlflow.db").is_file()
    assert found(home, [run_out, backtest_out]) == {}
