"""Graph learning on a small simulated world with planted anomalies: the detector finds them with a
reason, the embeddings are point-in-time and behind the spec's flag, and the CLI prints the findings."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from karma_pipelines.apps.cli import main
from karma_pipelines.apps.graph_cli import JSON_KEYS, format_anomalies
from karma_pipelines.features.graph_embedding import feature_names, graph_embedding_features
from karma_pipelines.graph.anomalies import findings
from karma_pipelines.graph.anomaly_truth import evaluation_periods, precision_recall_at, read_truth
from karma_pipelines.graph.over_time import GraphHistory
from karma_pipelines.pipeline.tables import load_tables
from karma_pipelines.simulator import SimulationConfig, simulate_world
from karma_pipelines.sources.open import open_source
from tests.factories import T0, history

PLANTED = SimulationConfig(components=45, days=75, seed=11, graph_anomalies=8)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted") / "world"
    simulate_world(root, PLANTED)
    return root, load_tables(open_source("events", root), pd.Timedelta(days=7))


def test_plants_are_in_the_truth_files_never_in_the_event_log(planted, tmp_path):
    root, _ = planted
    truth = read_truth(root)
    assert truth["plant_id"].nunique() == PLANTED.graph_anomalies
    log = "".join(p.read_text() for p in sorted((root / "events").glob("*.jsonl")))
    assert "plant-" not in log and "graph_anomalies" not in log
    plain = tmp_path / "plain"
    simulate_world(plain, SimulationConfig(components=45, days=75, seed=11))
    assert not (plain / "ground_truth" / "graph_anomalies.csv").exists()
    assert sorted(p.name for p in (plain / "ground_truth").iterdir()) == sorted(
        p.name for p in (root / "ground_truth").iterdir() if p.name != "graph_anomalies.csv"
    )


def test_the_detector_ranks_the_planted_anomalies_first(planted):
    root, tables = planted
    found = findings(GraphHistory.from_tables(tables), periods=evaluation_periods())
    truth = read_truth(root)
    k = truth["plant_id"].nunique()
    figures = precision_recall_at(found, truth, k)
    assert figures[f"precision_at_{k}"] >= 0.8 and figures[f"recall_at_{k}"] >= 0.8, figures
    assert found["score"].is_monotonic_decreasing
    assert found["reason"].str.len().min() > 0


def test_reasons_name_what_is_unusual():
    rows = [
        {
            "id": f"d{i}",
            "hours": i,
            "component": f"rds-postgres/db{i}-prod",
            "env": "prod",
            "config": {"a": 1},
        }
        for i in range(4)
    ]
    rows += [
        {"id": f"s{i}", "hours": 10 + 200 * (i == 3) + i, "component": f"ecs-service/s{i}-dev", "env": "dev",
         "config": {"db_runtime_path": f"/iac/rds-postgres/db{i}-prod/runtime"} if i == 3 else {"a": 1}}
        for i in range(4)
    ]  # fmt: skip
    deploys, snaps = history(rows)
    found = findings(GraphHistory(deploys, snaps), periods=1)
    top = found.iloc[0]
    assert (top["component"], top["other"]) == ("ecs-service/s3-dev", "rds-postgres/db3-prod")
    assert "a dev component reads a prod runtime" in top["reason"]
    assert "no ecs-service has ever depended on an rds-postgres in another environment" in top["reason"]
    assert top["since"] == T0 + pd.Timedelta(hours=213)


def test_embedding_features_use_only_the_graph_before_the_deploy(planted):
    _, tables = planted
    deploys, snaps = tables.deploy_records, tables.config_snapshots
    full = graph_embedding_features(deploys, snaps)
    cutoff = deploys["deployed_at"].min() + pd.Timedelta(days=40)
    early = deploys["deployed_at"] < cutoff
    cut = graph_embedding_features(deploys[early], snaps[snaps["captured_at"] < cutoff])
    pd.testing.assert_frame_equal(full[early], cut)
    assert list(full.columns) == feature_names()
    assert full["graph_emb_0"].notna().mean() > 0.8  # most deploys are of a component already in the graph


def test_graph_embeddings_are_behind_the_spec_flag(tmp_path):
    from karma_pipelines.contracts.package_data import spec_path
    from karma_pipelines.training.spec import load_spec

    assert "graph_embedding" not in load_spec("rollback_forecaster").feature_groups
    text = (
        spec_path("rollback_forecaster")
        .read_text()
        .replace("graph_embeddings: false", "graph_embeddings: true")
    )
    (tmp_path / "on.yaml").write_text(text)
    on = load_spec(tmp_path / "on.yaml")
    assert on.graph_embeddings and on.feature_groups["graph_embedding"] == feature_names()


def test_cli_prints_the_findings_as_json(planted, capsys):
    root, _ = planted
    assert main(["graph", "anomalies", "--events", str(root), "--top", "3", "--periods", "7", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert len(items) == 3 and all(tuple(i) == JSON_KEYS for i in items)
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
    assert all(pd.Timestamp(i["since"]).tzinfo is not None for i in items)
    text = format_anomalies(items)
    assert items[0]["reason"] in text and items[0]["component"] in text


@pytest.fixture(scope="module")
def delta_run(planted, tmp_path_factory):
    """graph_anomalies and graph_delta materialized on a real (ephemeral) Dagster instance, from the
    planted world's tables, with a real MLflow store."""
    import dagster as dg

    from karma_pipelines.defs.graph import graph_anomalies, graph_delta
    from karma_pipelines.defs.resources import MlflowResource

    _, tables = planted

    @dg.asset
    def clean_karma_events():
        return tables.clean_events

    @dg.asset
    def deploy_records():
        return tables.deploy_records

    @dg.asset
    def config_snapshots():
        return tables.config_snapshots

    home = tmp_path_factory.mktemp("mlflow_home")
    result = dg.materialize(
        [clean_karma_events, deploy_records, config_snapshots, graph_anomalies, graph_delta],
        resources={"mlflow_store": MlflowResource(home=str(home))},
    )
    assert result.success
    return result, home, tables


def _materialization(result, key):
    return next(m for m in result.asset_materializations_for_node(key))


def _logged_page(delta_run, tmp_path):
    """The HTML page that graph_delta logged to MLflow (downloaded), and the nodes it must draw."""
    from karma_pipelines.tracking.store import MlflowTarget

    result, home, tables = delta_run
    meta = _materialization(result, "graph_delta").metadata
    run_id = meta["html_artifact"].value.split("/")[1]
    page = MlflowTarget.local(home).client().download_artifacts(run_id, "graph_delta.html", str(tmp_path))
    history = GraphHistory.from_tables(tables)
    return page, history.at(history.boundaries("W")[-1]).number_of_nodes()


def test_graph_assets_show_pngs_and_log_the_html_page(delta_run, tmp_path):
    import base64
    import io

    from PIL import Image

    result, _, _ = delta_run
    anomalies = result.output_for_node("graph_anomalies")
    assert len(anomalies) and anomalies["score"].is_monotonic_decreasing
    meta = _materialization(result, "graph_delta").metadata
    for key in ("last_week", "timeline"):
        encoded = meta[key].value.split("base64,", 1)[1].rstrip(")")
        with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
            assert image.width > 400 and image.height > 200
    page, nodes = _logged_page(delta_run, tmp_path)
    assert meta["nodes_at_end"].value == nodes > 0
    assert "plotly" in Path(page).read_text(encoding="utf-8")[:200_000]


def test_the_html_page_renders_every_node_in_chromium(delta_run, tmp_path):
    from tests.test_live_ui import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install -y --no-install-recommends chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    page_file, nodes = _logged_page(delta_run, tmp_path)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(Path(page_file).resolve().as_uri())
            page.wait_for_selector("#graph-delta .scatterlayer .trace path.point")
            rendered = page.locator("#graph-delta .scatterlayer .trace path.point").count()
            title = page.locator("#graph-delta .gtitle").text_content()
        finally:
            browser.close()
    assert rendered == nodes
    assert title == "dependency graph, week by week"
