"""`configs_in_order`: each deploy's config text in deploy order, a batch at a time, as a lookup by id
gives it (the last snapshot of a repeated id; None for a deploy without one)."""

from __future__ import annotations

import pandas as pd
import pytest

from karma_pipelines.features.change_values import configs_in_order


@pytest.mark.parametrize("batch", [1, 2, 1 << 16])
def test_texts_follow_the_deploys_whatever_the_batch(batch):
    snapshots = pd.DataFrame(
        {
            "deploy_id": pd.Series(["d1", "d2", "d1", "d3"], dtype="string"),
            "config_json": pd.Series(['{"a":1}', '{"b":2}', '{"a":3}', None], dtype="string"),
        }
    )
    deploys = pd.Series(["d3", "d1", "d9", "d2", "d1"], dtype="string")
    texts = [None if pd.isna(t) else t for t in configs_in_order(snapshots, deploys, batch=batch)]
    lookup = dict(zip(snapshots["deploy_id"], snapshots["config_json"], strict=True))
    assert texts == [None, '{"a":3}', None, '{"b":2}', '{"a":3}']
    assert [None if pd.isna(lookup.get(d)) else lookup.get(d) for d in deploys] == texts


def test_no_snapshot_at_all_gives_none_for_every_deploy():
    empty = pd.DataFrame(
        {"deploy_id": pd.Series([], dtype="string"), "config_json": pd.Series([], dtype="string")}
    )
    assert list(configs_in_order(empty, pd.Series(["d1", "d2"], dtype="string"))) == [None, None]
