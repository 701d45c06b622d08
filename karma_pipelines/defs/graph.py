"""The dependency graph over time: anomalous connections and structural changes of the last period
(`graph_anomalies`), and the graph's weekly changes drawn (`graph_delta`: PNGs in the metadata, an
interactive HTML page logged to MLflow)."""

import base64
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from karma_pipelines.defs.metadata import numbers, records_table, table_metadata
from karma_pipelines.defs.resources import MlflowResource
from karma_pipelines.graph import drawing
from karma_pipelines.graph.anomalies import findings
from karma_pipelines.graph.over_time import GraphHistory

GROUP = "graph"
META = {"group_name": GROUP, "code_version": "1", "owners": ["team:ml-platform"]}
HTML_NAME = "graph_delta.html"


def _png(path: Path, title: str) -> dg.MetadataValue:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")


def _history(clean_karma_events, deploy_records, config_snapshots) -> GraphHistory:
    return GraphHistory(deploy_records, config_snapshots, clean_karma_events)


@dg.asset(kinds={"pandas", "networkx"}, **META)
def graph_anomalies(
    clean_karma_events: pd.DataFrame, deploy_records: pd.DataFrame, config_snapshots: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Every new edge and structural change of the last week, scored in [0, 1) with a reason a person
    can read (another environment's runtime, a dependency no component of the type ever had, a cycle,
    a fan-in tripled, a producer removed under its readers), riskiest first."""
    found = findings(_history(clean_karma_events, deploy_records, config_snapshots))
    kinds = found["kind"].value_counts().to_dict() if len(found) else {}
    return dg.Output(
        found,
        metadata={
            **table_metadata(found, preview_rows=0),
            **numbers(
                {
                    "findings": len(found),
                    "max_score": float(found["score"].max()) if len(found) else 0.0,
                    "above_0_5": int((found["score"] > 0.5).sum()) if len(found) else 0,
                    **{f"kind_{k}": int(v) for k, v in kinds.items()},
                }
            ),
            "top_findings": records_table(found, max_rows=20),
        },
    )


@dg.asset(kinds={"pandas", "matplotlib", "plotly", "mlflow"}, **META)
def graph_delta(
    clean_karma_events: pd.DataFrame,
    deploy_records: pd.DataFrame,
    config_snapshots: pd.DataFrame,
    mlflow_store: MlflowResource,
) -> dg.Output[pd.DataFrame]:
    """The graph's changes per week (nodes and edges added and removed, edges re-pointed, components
    drifted from their runtime): the last week's start and end pictures and a small-multiples timeline
    (one panel per week) as PNG; the interactive page (one frame per week) as an MLflow artifact."""
    import mlflow

    history = _history(clean_karma_events, deploy_records, config_snapshots)
    starts, graphs, delta = history.graphs_and_deltas("W")
    pos = drawing.positions(graphs)
    metadata: dict[str, dg.MetadataValue] = {
        **table_metadata(delta, preview_rows=0),
        **numbers({f"{c}": int((delta["change"] == c).sum()) for c in sorted(set(delta["change"]))}),
        "weeks": dg.MetadataValue.int(max(len(starts) - 1, 0)),
        "nodes_at_end": dg.MetadataValue.int(graphs[-1].number_of_nodes() if graphs else 0),
        "edges_at_end": dg.MetadataValue.int(graphs[-1].number_of_edges() if graphs else 0),
    }
    with tempfile.TemporaryDirectory() as tmp:
        if len(starts) >= 2:
            i = len(starts) - 2
            part = delta[delta["period_start"] == starts[i]]
            title = f"week of {starts[i]:%Y-%m-%d}"
            last = drawing.period_png(graphs[i], graphs[i + 1], part, pos, Path(tmp) / "last.png", title)
            metadata["last_week"] = _png(last, title)
            line = drawing.timeline_png(
                graphs, starts, delta, pos, Path(tmp) / "timeline.png", "one panel per week"
            )
            metadata["timeline"] = _png(line, "timeline")
        page = drawing.delta_html(
            graphs, starts, delta, pos, Path(tmp) / HTML_NAME, "dependency graph, week by week"
        )
        target = mlflow_store.target()
        experiment_id = target.activate()
        with mlflow.start_run(run_name="graph-delta", tags={"karma.kind": "graph_delta"}) as run:
            mlflow.log_artifact(str(page))
            mlflow.log_metrics(
                {"weeks": max(len(starts) - 1, 0), "nodes_at_end": metadata["nodes_at_end"].value}
            )
        metadata["html_page"] = dg.MetadataValue.url(target.run_url(experiment_id, run.info.run_id))
        metadata["html_artifact"] = dg.MetadataValue.text(f"runs:/{run.info.run_id}/{HTML_NAME}")
    return dg.Output(delta, metadata=metadata)
