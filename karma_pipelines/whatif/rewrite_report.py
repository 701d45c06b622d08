"""The safe rewrites found (`rewrites.suggest_rewrites`) as people read them: a markdown summary (the
`rewrites` command, the asset's description) and a table, the most invalidations saved first."""

from __future__ import annotations

import pandas as pd

from karma_pipelines.whatif.rewrites import Rewrite


def rewrite_markdown(found: list[Rewrite], top: int = 30) -> str:
    lines = [f"### Safe dependency-graph rewrites: {len(found)}", ""]
    if not found:
        return "\n".join(lines + ["No safe rewrite to a healthier producer was found.", ""])
    lines += ["| consumer | field | from | to | invalidations/month before → after | rewrite risk | why |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for rw in found[:top]:
        e = rw.effect
        inv = (
            f"{e['invalidations_per_month_before']:.1f} → {e['invalidations_per_month_after']:.1f}"
            if "invalidations_per_month_before" in e
            else "n/a"
        )
        risk = f"{e['rewrite_risk']:.1%}" if e.get("rewrite_risk") is not None else "n/a"
        lines.append(
            f"| `{rw.consumer}` | `{rw.field}` | `{rw.source}` | `{rw.target}` | {inv} | {risk} "
            f"| {rw.reason} |"
        )
    return "\n".join(lines) + "\n"


TABLE_COLUMNS = ["kind", "consumer", "environment", "field", "from", "to", "reason", "p_value", "readers",
                 "invalidations_per_month_before", "invalidations_per_month_after",
                 "invalidations_saved_per_month", "rewrite_risk", "rewrite_invalidates"]  # fmt: skip


def rewrites_table(found: list[Rewrite]) -> pd.DataFrame:
    """One row per rewrite (TABLE_COLUMNS), the most invalidations saved first."""
    rows = []
    for rw in found:
        e = rw.effect
        row = {k: v for k, v in rw.as_json().items() if k != "effect"}
        row.update({k: e.get(k) for k in TABLE_COLUMNS if k in e})
        if "invalidations_per_month_before" in e:
            row["invalidations_saved_per_month"] = round(
                e["invalidations_per_month_before"] - e["invalidations_per_month_after"], 3
            )
        rows.append(row)
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table.sort_values("invalidations_saved_per_month", ascending=False, kind="stable").reset_index(
        drop=True
    )
