"""The what-if of each deploy of a commit not deployed yet (what `score --whatif` adds): its changed
fields, blast radius and promotion path, from the history before it. The risk is `score`'s own."""

from __future__ import annotations

import json

from karma_pipelines.whatif.change import ProposedChange
from karma_pipelines.whatif.impact import WhatIfEngine


def whatif_for_commit(tables, sha: str) -> dict[str, dict]:
    """deploy id -> `{"changed_fields", "blast_radius", "promotion_path"}` for the deploys of `sha`."""
    deploys, snaps = tables.deploy_records, tables.config_snapshots
    mine = deploys[deploys["change_id"] == sha]
    if mine.empty:
        return {}
    engine = WhatIfEngine.from_tables(tables)
    configs = dict(zip(snaps["deploy_id"], snaps["config_json"], strict=True))
    out = {}
    for row in mine.itertuples():
        config = json.loads(configs.get(row.deploy_id) or "{}")
        change = ProposedChange(row.component, row.environment, config=config)
        found = engine.analyse(change, at=row.deployed_at).as_json()
        out[row.deploy_id] = {k: found[k] for k in ("changed_fields", "blast_radius", "promotion_path")}
    return out
