"""Bench section `graph_embeddings`: embedding time per period and for the whole default world, and the
forecaster's ablation with and without the graph embeddings (same split), on the default simulated
world and on a slice of one real Git history (alphagov/govuk-helm-charts, its last first-parent commits
from $KARMA_REAL_MIRROR; skipped with a note when it is not there)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pandas as pd

from karma_pipelines.bench.common import QUALITY_KEYS, with_changes

REAL_REPO = "alphagov/govuk-helm-charts"
# The slice: this many first-parent commits back from the tip ($KARMA_BENCH_GRAPH_COMMITS overrides).
REAL_COMMITS = int(os.environ.get("KARMA_BENCH_GRAPH_COMMITS", "15000"))


def default_world_tables(tmp: Path):
    """The default simulated world's validated tables (the world is reused when `simulated` made it)."""
    from karma_pipelines.pipeline.tables import load_tables
    from karma_pipelines.records import DEFAULT_HORIZON
    from karma_pipelines.simulator import SimulationConfig, simulate_world
    from karma_pipelines.sources.open import open_source

    root = tmp / "world"
    if not (root / "events").exists():
        simulate_world(root, SimulationConfig())
    return load_tables(open_source("events", root), DEFAULT_HORIZON)


def real_slice(tmp: Path, repo: str = REAL_REPO, commits: int = REAL_COMMITS) -> Path | None:
    """A bare clone of the mirrored repository cut to its last `commits` first-parent commits (the
    N-th one written into `shallow`), or None when the mirror is not there."""
    from karma_pipelines.bench.real import locate

    mirror = locate(repo)
    if mirror is None:
        return None
    clone = tmp / f"{repo.replace('/', '+')}.git"
    if not clone.exists():
        subprocess.run(["git", "clone", "-q", "--bare", str(mirror), str(clone)], check=True)
        shas = subprocess.run(
            ["git", f"--git-dir={clone}", "rev-list", "--first-parent", f"--max-count={commits}", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        (clone / "shallow").write_text(shas[-1] + "\n")
    return clone


def real_tables(tmp: Path):
    from karma_pipelines.bench.real import SPEC
    from karma_pipelines.pipeline.tables import load_tables
    from karma_pipelines.sources.open import open_source

    clone = real_slice(tmp)
    if clone is None:
        return None
    from karma_pipelines.sources.git.parse import load_text

    layouts = load_text(SPEC.read_text(encoding="utf-8"), str(SPEC))[REAL_REPO]["forecaster"]["layouts"]
    source = open_source("git", clone, layouts, None, state_dir=tmp / "graph_git_state")
    return load_tables(source, pd.Timedelta(days=7))


def embedding_ablation(tables) -> dict:
    """Embedding times, and test metrics of the forecaster without / with the embeddings."""
    from karma_pipelines.features import build_rollback_features
    from karma_pipelines.features.graph_embedding import feature_names, graph_embedding_features
    from karma_pipelines.graph.embeddings import period_embeddings
    from karma_pipelines.graph.over_time import GraphHistory
    from karma_pipelines.training.rollback_forecaster import train_forecaster
    from karma_pipelines.training.spec import load_spec

    deploys, snaps = tables.deploy_records, tables.config_snapshots
    r: dict = {"deploys": len(deploys)}
    began = time.perf_counter()
    history = GraphHistory(deploys, snaps)
    embeddings = period_embeddings(history)
    total = time.perf_counter() - began
    last = embeddings.graphs[-1] if embeddings.graphs else None
    r["periods (weeks)"] = len(embeddings.starts)
    r["graph at the last week"] = {
        "nodes": last.number_of_nodes() if last is not None else 0,
        "edges": last.number_of_edges() if last is not None else 0,
    }
    per = pd.Series(embeddings.seconds)
    r["embedding seconds per period"] = {
        "mean": round(float(per.mean()), 4),
        "max": round(float(per.max()), 4),
    }
    r["embedding seconds, whole history (replay + every period)"] = round(total, 3)
    base = build_rollback_features(deploys, snaps, horizon=tables.horizon, graph_embeddings=False)
    emb = graph_embedding_features(
        base[["deploy_id", "deployed_at"]].join(
            deploys.set_index("deploy_id")[["component", "environment"]], on="deploy_id"
        ),
        snaps,
        embeddings=embeddings,
    )
    features = base.join(emb)
    r["embedded deploys (share)"] = round(float(emb["graph_emb_0"].notna().mean()), 4)
    spec = load_spec("rollback_forecaster")
    on = with_changes(
        spec,
        graph_embeddings=True,
        feature_groups={**spec.feature_groups, "graph_embedding": feature_names()},
    )
    out = {}
    for name, s in (("without embeddings", spec), ("with embeddings", on)):
        m = train_forecaster(features, s, tables.horizon).metrics
        out[name] = {k: round(m[k], 4) for k in QUALITY_KEYS}
    out["delta (with - without)"] = {
        k: round(out["with embeddings"][k] - out["without embeddings"][k], 4) for k in QUALITY_KEYS
    }
    r["ablation"] = out
    return r


def bench_graph_embeddings(tmp: Path) -> dict:
    r = {"default world": embedding_ablation(default_world_tables(tmp))}
    real = real_tables(tmp)
    key = f"{REAL_REPO} (last {REAL_COMMITS} first-parent commits)"
    r[key] = embedding_ablation(real) if real is not None else "mirror not found: skipped"
    return r


ANOMALY_PLANTS = 20
ANOMALY_REAL = "usekarma/aws-config"  # a small real history with a real dependency graph (name links)


def bench_graph_anomalies(tmp: Path) -> dict:
    """Precision@20 and recall@20 of the detector on the default world with ANOMALY_PLANTS planted
    anomalies (its last weeks scored), its time, and the top findings of a real Git history."""
    from karma_pipelines.bench.real import locate
    from karma_pipelines.graph.anomalies import findings
    from karma_pipelines.graph.anomaly_truth import evaluation_periods, precision_recall_at, read_truth
    from karma_pipelines.graph.over_time import GraphHistory
    from karma_pipelines.pipeline.tables import load_tables
    from karma_pipelines.simulator import SimulationConfig, simulate_world
    from karma_pipelines.sources.open import open_source

    r: dict = {}
    root = tmp / "planted_world"
    simulate_world(root, SimulationConfig(graph_anomalies=ANOMALY_PLANTS))
    tables = load_tables(open_source("events", root), pd.Timedelta(days=7))
    began = time.perf_counter()
    found = findings(GraphHistory.from_tables(tables), periods=evaluation_periods())
    r["seconds (graph history, embeddings, scoring)"] = round(time.perf_counter() - began, 3)
    truth = read_truth(root)
    r["default world + plants"] = precision_recall_at(found, truth, 20)
    r["by kind (plants recalled in the top 20)"] = _recalled_by_kind(found, truth, 20)
    repo = locate(ANOMALY_REAL)
    if repo is None:
        r[ANOMALY_REAL] = "mirror not found: skipped"
        return r
    layout = "iac/{env}/{component_type}/{nickname}/config.json"
    real = load_tables(open_source("git", repo, layout), pd.Timedelta(days=7))
    history = GraphHistory.from_tables(real)
    top = findings(history, periods=len(history.boundaries("W"))).head(5)
    r[f"{ANOMALY_REAL}: top findings of its whole history"] = [
        f"{row.score:.3f} {row.kind} {row.component} -> {row.other}: {row.reason}" for row in top.itertuples()
    ]
    return r


def _recalled_by_kind(found: pd.DataFrame, truth: pd.DataFrame, k: int) -> dict:
    from karma_pipelines.graph.anomaly_truth import matches

    hit = set().union(*[matches(f, truth) for f in found.head(k).itertuples(index=False)])
    plants = truth.drop_duplicates("plant_id")
    return {
        kind: f"{int(part['plant_id'].isin(hit).sum())}/{len(part)}"
        for kind, part in plants.groupby("kind", sort=True)
    }
