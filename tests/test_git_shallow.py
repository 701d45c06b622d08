"""A shallow clone: its boundary commit's configs are where history starts, not dozens of false
`create` deploys; the extraction says so."""

from __future__ import annotations

import json
import logging

from karma_pipelines.sources.git.extract import extract_git_history
from tests.test_layout_one_matcher import _git as git


def test_a_shallow_clone_starts_its_history_at_the_boundary(tmp_path, caplog):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    components = ["vpc/core", "vpc/edge", "ecs-service/api", "ecs-service/web"]
    for day in range(1, 5):
        for i, comp in enumerate(components):
            path = repo / "iac" / "dev" / comp / "config.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            if day == 1 or i == day % len(components):
                path.write_text(json.dumps({"size": day, "name": comp}))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"day {day}", when=day - 1)
    full = extract_git_history(repo)
    assert len(full.deploy_records) == 4 + 3  # 4 creates on day 1, then one update a day
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "2", f"file://{repo}", str(clone))
    with caplog.at_level(logging.WARNING):
        shallow = extract_git_history(clone)
    # Day 3 is the boundary: its files are the starting state; only day 4's update is a deploy.
    assert list(shallow.deploy_records["action"]) == ["update"]
    assert list(shallow.deploy_records["component"]) == [components[0]]
    assert "shallow clone" in caplog.text
    assert set(shallow.deploy_records["deploy_id"]) <= set(full.deploy_records["deploy_id"])
