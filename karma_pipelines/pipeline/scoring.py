"""Score a commit that is not deployed yet: its deploys' rollback risk under the champion, with reasons.
The engine behind `karma-pipelines score` (a CI gate with `--fail-above`)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import pandas as pd

from karma_pipelines.features.for_deploys import features_for
from karma_pipelines.pipeline.tables import validated_tables
from karma_pipelines.records import DEFAULT_HORIZON
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT
from karma_pipelines.sources.git.log import resolve_ref
from karma_pipelines.sources.git.source import GitSource
from karma_pipelines.training.explain import explain

FORECASTER = "karma-rollback-forecaster"


def worktree_commit(repo: Path) -> str:
    """A commit object of the working tree's uncommitted changes (`git stash create`), nothing touched;
    HEAD when there are none."""
    out = subprocess.run(
        ["git", "-C", str(repo), "stash", "create", "karma-pipelines score"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise ValueError(f"{repo}: cannot read the working tree ({out.stderr.strip()})")
    return out.stdout.strip() or resolve_ref(repo, "HEAD")


@dataclass
class CommitScorer:
    """A warm scorer: the champion booster and the history the pipeline kept are loaded once."""

    booster: lgb.Booster
    model_version: str
    source: GitSource  # read-only: scoring never moves the pipeline's kept state
    horizon: pd.Timedelta = DEFAULT_HORIZON
    base_rate: float | None = None  # the champion's test base rate (its MLflow run's `test_base_rate`)

    def score(self, rev: str, uncommitted_on: str | None = None, whatif: bool = False) -> dict:
        """Risk of each deploy in commit `rev`, through the one path (extraction, validation). Only
        commits after the kept history are read when `rev` descends from it. `uncommitted_on`: `rev`
        is a commit object of the working tree's changes (`worktree_commit`) on top of that HEAD, so
        the result names HEAD and says the changes are uncommitted, never the made-up commit.
        `whatif`: each deploy also gets its what-if (`whatif.commit`: changed fields, blast radius,
        promotion path).
        A config that does not parse in the scored commit is a ValueError naming the file."""
        sha = resolve_ref(self.source.repo, rev)
        world = self.source.describe()
        raw = self.source.raw_tables({sha: sha}, self.horizon)
        tables = validated_tables(world, raw, self.horizon)
        _refuse_unparsed(tables.quarantined, sha, uncommitted_on)
        deploys = tables.deploy_records
        mine = set(deploys.loc[deploys["change_id"] == sha, "deploy_id"])
        result = {
            "commit": uncommitted_on or sha,
            "uncommitted": uncommitted_on is not None,
            "model": f"models:/{FORECASTER}@champion",
            "version": self.model_version,
            "test_base_rate": self.base_rate,
        }
        if not mine:
            return {**result, "max_score": 0.0, "deploys": []}
        rows = features_for(deploys, tables.config_snapshots, mine)
        scored = rows[["deploy_id", "component"]].join(explain(self.booster, rows))
        items = [
            {
                "deploy_id": r.deploy_id,
                "component": r.component,
                "score": float(r.score),
                "reasons": r.reasons,
            }
            for r in scored.sort_values("score", ascending=False).itertuples()
        ]
        if whatif:
            from karma_pipelines.whatif.commit import whatif_for_commit

            impact = whatif_for_commit(tables, sha)
            for item in items:
                item["whatif"] = impact.get(item["deploy_id"], {})
        return {**result, "max_score": items[0]["score"], "deploys": items}


def _refuse_unparsed(quarantined: pd.DataFrame, sha: str, uncommitted_on: str | None) -> None:
    """The scored commit's own quarantined files (a config that does not parse, a symlink, …)."""
    if quarantined.empty:
        return
    mine = quarantined[quarantined["record_id"].astype(str).str.startswith(f"{sha}:")]
    if mine.empty:
        return
    where = (
        f"the uncommitted changes on top of {uncommitted_on[:12]}" if uncommitted_on else f"commit {sha[:12]}"
    )
    files = "; ".join(
        f"{rid.split(':', 1)[1]} ({reason})"
        for rid, reason in zip(mine["record_id"], mine["reasons"], strict=True)
    )
    raise ValueError(f"{len(mine)} config file(s) do not parse in {where}: {files}")


def load_scorer(repo: Path, home: Path, layout: str = DEFAULT_LAYOUT) -> CommitScorer:
    """The champion from the MLflow store in `home` (ValueError when there is none yet), and the
    repository's history as the pipeline last kept it (`<home>/git_state`, whatever ref it followed)."""
    from karma_pipelines.tracking.lightgbm_runs import load_booster
    from karma_pipelines.tracking.registry import CHAMPION, version_by_alias
    from karma_pipelines.tracking.store import MlflowTarget

    target = MlflowTarget.for_home(home)
    version = version_by_alias(target.client(), FORECASTER, CHAMPION)
    if version is None:
        raise ValueError(
            f"no models:/{FORECASTER}@champion in {home}: run `make run` (or the pipeline) first"
        )
    booster = load_booster(target, FORECASTER, CHAMPION)
    source = GitSource(Path(repo), layout, state_dir=Path(home) / "git_state", persist=False)
    base_rate = (
        target.client().get_run(version.run_id).data.metrics.get("test_base_rate") if version.run_id else None
    )
    return CommitScorer(booster, str(version.version), source, base_rate=base_rate)


def score_table(result: dict) -> pd.DataFrame:
    return pd.DataFrame(result["deploys"], columns=["deploy_id", "component", "score", "reasons"])
