"""The forecaster on a GitOps-shaped history: features that describe the change, and baselines and
features that know an outcome only once its revert has landed (or the horizon has passed)."""

import subprocess

import numpy as np
import pandas as pd
import pytest

from karma_pipelines.features import build_rollback_features
from karma_pipelines.features.leakage import point_in_time_violations
from karma_pipelines.pipeline.tables import load_tables
from karma_pipelines.sources.git.source import GitSource
from karma_pipelines.training.baselines import parrot_scores, recent_reverts_scores
from karma_pipelines.training.uncertainty import bootstrap_ci, commit_view, resampled_metrics
from tests.factories import T0, history

IMAGE_LAYOUT = "charts/app-config/{component_type}/{env}/{nickname}"
DAY0 = pd.Timestamp("2026-01-05 10:00", tz="UTC")


def _git(repo, *args, date=None):
    env = {"PATH": "/usr/bin:/bin", "GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@x",
           "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@x"}  # fmt: skip
    if date is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date.isoformat()
    out = subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True, text=True)
    return out.stdout.strip()


def _write(repo, files: dict[str, str], message: str, when: pd.Timestamp) -> str:
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message, date=when)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def gitops(tmp_path_factory):
    """Image tags per app and env (extension-less YAML, `image_tag: vN`) bumped integration →
    staging → production, a shared values file of production; `frontend`'s production bump to v3 is
    reverted two days later, after its integration and staging got v4."""
    repo = tmp_path_factory.mktemp("gitops") / "charts-repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    shas: dict[str, str] = {}
    tags = {app: 1 for app in ("frontend", "router", "search")}
    when = DAY0
    for step in range(1, 5):
        for app in tags:
            tags[app] += 1
        for env in ("integration", "staging", "production"):
            if step == 3 and env == "production":
                bad = shas["frontend-production-v3"]
                when = max(
                    when, pd.Timestamp(_git(repo, "log", "-1", "--format=%cI", bad)) + pd.Timedelta(days=2)
                )
                _git(repo, "revert", "--no-edit", bad, date=when)
                shas["revert"] = _git(repo, "rev-parse", "HEAD")
            for app, tag in tags.items():
                when += pd.Timedelta(hours=3)
                path = f"charts/app-config/image-tags/{env}/{app}"
                message = f"Deploy {app} v{tag} to {env}"
                shas[f"{app}-{env}-v{tag}"] = _write(repo, {path: f"image_tag: v{tag}\n"}, message, when)
        values = f"frontend:\n  replicas: {2 + step}\nrouter:\n  debug: {str(step % 2 == 0).lower()}\n"
        when += pd.Timedelta(hours=1)
        _write(repo, {"charts/app-config/values-production.yaml": values}, "Tune production values", when)
    return repo, shas


@pytest.fixture(scope="module")
def tables(gitops):
    repo, _ = gitops
    return load_tables(GitSource(repo, layout=IMAGE_LAYOUT), pd.Timedelta(days=7))


def test_image_bumps_are_version_bumps_up_and_the_revert_is_found(gitops, tables):
    _, shas = gitops
    deploys = tables.deploy_records.set_index("deploy_id")
    f = build_rollback_features(tables.deploy_records, tables.config_snapshots).set_index("deploy_id")
    bump = f"{shas['frontend-production-v4']}:image-tags/frontend"
    assert f.loc[bump, "n_version_bumps"] == 1 and f.loc[bump, "n_version_up"] == 1
    assert f.loc[bump, "version_step"] == 2 and f.loc[bump, "n_version_down"] == 0  # v2 (reverted) → v4
    assert f.loc[bump, "env_prod"] == 1  # `production` is a production environment
    assert f.loc[bump, "prod_before_staging"] == 0  # staging got v4 before production
    assert f.loc[bump, "key_reverts_known"] == 1 and f.loc[bump, "last_known_outcome"] == 1
    revert = deploys.index[deploys.index.str.startswith(shas["revert"])]
    assert len(revert) == 1 and deploys.loc[revert[0], "is_rollback"]
    assert f.loc[revert[0], "n_version_down"] == 1  # the revert takes the tag back


def test_an_outcome_is_known_only_once_its_revert_has_landed(gitops, tables):
    _, shas = gitops
    f = build_rollback_features(tables.deploy_records, tables.config_snapshots).set_index("deploy_id")
    bad = f"{shas['frontend-production-v3']}:image-tags/frontend"
    between = f"{shas['frontend-staging-v4']}:image-tags/frontend"  # after v3, before its revert
    assert tables.deploy_records.set_index("deploy_id").loc[bad, "rolled_back"]
    assert f.loc[between, "deployed_at"] < f.loc[bad, "deployed_at"] + pd.Timedelta(days=2)
    # The revert of v3 has not landed yet and its horizon has not passed: nothing is known of it.
    assert np.isnan(f.loc[between, "last_known_outcome"]) or f.loc[between, "last_known_outcome"] == 0
    assert f.loc[between, "comp_known_rollbacks"] == 0 and f.loc[between, "comp_reverts_30d"] == 0
    assert f.loc[between, "key_reverts_known"] == 0
    # The parrot and the recent-reverts baseline do not see it either.
    row = f.loc[[between]]
    assert parrot_scores(row)[0] < 0.5 and recent_reverts_scores(row)[0] < 1
    # The whole feature table, cut just before the revert lands, is unchanged for earlier deploys.
    revert_at = f.loc[f.index.str.startswith(shas["revert"]), "deployed_at"].iloc[0]
    violations = point_in_time_violations(tables.deploy_records, tables.config_snapshots, revert_at)
    assert violations.empty, violations.head().to_dict("records")


def test_outcomes_known_after_the_revert_or_the_horizon():
    deploys, snaps = history(
        [
            {"id": "a1", "hours": 0, "component": "app/web", "config": {"tag": "v1"}},
            {"id": "a2", "hours": 10, "component": "app/web", "config": {"tag": "v2"}},
            {"id": "r2", "hours": 30, "component": "app/web", "config": {"tag": "v1"}, "rolls_back": "a2"},
            {"id": "a3", "hours": 40, "component": "app/web", "config": {"tag": "v3"}},
            {"id": "a4", "hours": 200, "component": "app/web", "config": {"tag": "v4"}},
        ],
        as_of=T0 + pd.Timedelta(days=30),
    )
    f = build_rollback_features(deploys, snaps).set_index("deploy_id")
    assert np.isnan(f.loc["a2", "last_known_outcome"])  # a1's horizon (7 days) has not passed
    assert f.loc["a3", "last_known_outcome"] == 1  # a2's revert landed at hour 30
    assert f.loc["a3", "comp_known_outcomes"] == 1 and f.loc["a3", "comp_known_rollbacks"] == 1
    assert f.loc["a3", "comp_reverts_30d"] == 1
    # By hour 200 the outcomes of a1 (no revert within 7 days), a2 and r2 are known; a3's is not.
    assert f.loc["a4", "comp_known_outcomes"] == 3 and f.loc["a4", "comp_known_rollbacks"] == 1


def test_change_features_read_the_values_the_way_a_reviewer_does():
    before = {"web": {"replicas": 2, "resources": {"memory": "512Mi"}, "debug": True, "hosts": ["a"]},
              "api": {"replicas": 3}}  # fmt: skip
    after = {"web": {"replicas": 4, "resources": {"memory": "256Mi"}, "debug": False, "hosts": ["a", "b"]},
             "api": {"replicas": 3}}  # fmt: skip
    changed = ["web.debug", "web.hosts", "web.replicas", "web.resources.memory"]
    deploys, snaps = history(
        [
            {"id": "s1", "hours": 0, "component": "values/app-config", "env": "staging", "config": before},
            {"id": "p1", "hours": 1, "component": "values/app-config", "env": "production", "config": before},
            {
                "id": "s2",
                "hours": 5,
                "component": "values/app-config",
                "env": "staging",
                "config": after,
                "changed": changed,
                "change_id": "c2",
                "message": "Reapply scaling, fixes PLAT-42",
            },
            {
                "id": "p2",
                "hours": 5,
                "component": "values/app-config",
                "env": "production",
                "config": after,
                "changed": changed,
                "change_id": "c2",
                "message": "Reapply scaling, fixes PLAT-42",
            },
            {
                "id": "p3",
                "hours": 9,
                "component": "values/app-config",
                "env": "production",
                "config": before,
                "changed": changed,
                "message": "test",
            },
        ]  # fmt: skip
    )
    f = build_rollback_features(deploys, snaps).set_index("deploy_id")
    p2 = f.loc["p2"]
    assert p2["n_capacity_up"] == 1 and p2["n_capacity_down"] == 1  # replicas 2→4, memory 512Mi→256Mi
    assert p2["n_numbers_up"] == 1 and p2["n_numbers_down"] == 1
    assert p2["max_abs_log_ratio"] == pytest.approx(np.log((512 * 2**20 + 1) / (256 * 2**20 + 1)))
    assert p2["n_toggles_off"] == 1 and p2["n_toggles_on"] == 0 and p2["n_lists_grown"] == 1
    assert p2["config_sections"] == 2 and p2["sections_touched"] == 1  # one app of a shared file
    assert p2["envs_in_change"] == 2 and p2["services_in_change"] == 1
    assert p2["prod_and_staging_in_change"] == 1 and p2["env_prod"] == 1
    assert f.loc["p1", "prod_before_staging"] == 0  # the same values as staging
    assert p2["msg_reapply"] == 1 and p2["msg_ticket"] == 1 and p2["msg_fix"] == 1
    assert p2["hours_since_key_changed"] != p2["hours_since_key_changed"]  # these keys: first change
    p3 = f.loc["p3"]
    assert p3["hours_since_key_changed"] == 4 and p3["key_changes_7d"] == 1
    assert p3["prod_before_staging"] == 1  # production goes back to values staging no longer has
    assert p3["n_toggles_on"] == 1 and p3["n_lists_shrunk"] == 1 and p3["msg_test"] == 1


def test_commit_view_takes_the_riskiest_deploy_and_any_rollback():
    commits = pd.Series(["c1", "c1", "c2", "c3"])
    labels, scores = commit_view(commits, [0, 1, 0, 0], {"m": np.array([0.9, 0.1, 0.5, 0.2])})
    assert labels.tolist() == [1, 0, 0] and scores["m"].tolist() == [0.9, 0.5, 0.2]


def test_bootstrap_intervals_hold_the_estimate():
    rng = np.random.default_rng(0)
    y = rng.random(2000) < 0.1
    s = y * 0.5 + rng.random(2000)
    ci = bootstrap_ci(y, s, resamples=100)
    assert set(ci) == {"capture_at_10", "pr_auc"}
    for low, high in ci.values():
        assert 0 <= low < high <= 1
    assert ci["capture_at_10"][0] > 0.1  # far better than random's 0.1


@pytest.mark.parametrize("decimals", [1, 6])  # many tied scores, or almost none
def test_resampled_metrics_equal_sklearn_and_capture_on_the_resampled_rows(decimals):
    from sklearn.metrics import average_precision_score

    from karma_pipelines.training.metrics import capture_at

    rng = np.random.default_rng(decimals)
    checked = 0
    for _ in range(40):
        n = int(rng.integers(2, 300))
        y = (rng.random(n) < rng.choice([0.03, 0.3, 0.7])).astype(int)
        s = np.round(rng.random(n), decimals)
        picks = [rng.integers(0, n, n) for _ in range(4)]
        got = resampled_metrics(y, s, np.array([np.bincount(p, minlength=n) for p in picks]))
        for i, pick in enumerate(picks):
            yb, sb = y[pick], s[pick]
            if yb.min() == yb.max():
                assert np.isnan(got[:, i]).all()
                continue
            assert got[1, i] == pytest.approx(average_precision_score(yb, sb), abs=1e-12)
            if len(np.unique(s)) == n:  # ties between rows are broken by row order, not draw order
                assert got[0, i] == pytest.approx(capture_at(yb, sb, 10), abs=1e-12)
            checked += 1
    assert checked > 100


def test_a_merged_github_revert_branch_undoes_the_pull_request_it_names():
    from karma_pipelines.sources.git.reverts import DeployHistory, DeployRef

    history_ = DeployHistory()
    history_.add(
        DeployRef("d1", "a" * 40, "Merge pull request #4417 from alphagov/switch-uri", False, None), "h0"
    )
    history_.add(DeployRef("d2", "b" * 40, "Bump router (#4418)", False, None), "h1")
    found = history_.undone_by((), "Merge pull request #4419 from alphagov/revert-4417-switch-uri", "hX")
    assert found is not None and found[0].deploy_id == "d1" and found[1] == "revert_branch"
    squash = history_.undone_by((), "Merge pull request #4420 from alphagov/revert-4418-bump", "hY")
    assert squash is not None and squash[0].deploy_id == "d2"
    assert history_.undone_by((), "Merge pull request #4421 from alphagov/revert-9999-x", "hZ") is None
