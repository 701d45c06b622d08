"""The what-if report in its human form: markdown a reviewer reads in a pull request, and a picture of
the blast radius (the changed component, its readers by depth, and the environments it would follow
to). The JSON form is `WhatIf.as_json()`."""

from __future__ import annotations

from pathlib import Path

from karma_pipelines.insights.common import new_figure, save_figure
from karma_pipelines.whatif.impact import WhatIf

TOP = 25


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def whatif_markdown(result: WhatIf, top: int = TOP) -> str:
    """The what-if as a pull-request comment: verdict first, then the tables."""
    radius, risk = result.blast_radius, result.risk
    base = result.model.get("base_rate")
    lines = [
        f"### What if `{result.component}` ({result.environment}) is deployed",
        "",
        f"- **{len(result.changed_fields)}** field(s) change ({result.action}): "
        + (", ".join(f"`{f}`" for f in result.changed_fields[:12]) or "none")
        + (f" (+{len(result.changed_fields) - 12})" if len(result.changed_fields) > 12 else ""),
        f"- **Blast radius: {len(radius)}** component(s) downstream would be invalidated"
        + (f", {sum(len(b['path']) == 2 for b in radius)} directly" if radius else ""),
        f"- **Rollback risk: {_pct(risk.get('score'))}**"
        + (f" (champion's base rate {_pct(base)})" if base is not None else "")
        + (": " + "; ".join(risk["reasons"]) if risk.get("reasons") else ""),
        f"- Field suggester: {len(result.suggestions['missing'])} missing, "
        f"{len(result.suggestions['unused'])} unused field(s)",
        "- Promotion path: "
        + (" → ".join(f"`{p['component']}` ({p['environment']})" for p in result.promotion_path) or "none"),
    ]
    if result.model:
        lines.append(f"- Model: `{result.model.get('model')}` version {result.model.get('version')}")
    for note in result.notes:
        lines.append(f"- Note: {note}")
    if radius:
        lines += ["", "| component | environment | depth | reads | path |", "|---|---|---|---|---|"]
        for b in radius[:top]:
            path = " → ".join(b["path"])
            lines.append(
                f"| `{b['component']}` | {b['environment']} | {len(b['path']) - 1} | "
                f"{', '.join(b['reads'])} | {path} |"
            )
        if len(radius) > top:
            lines.append(f"| … {len(radius) - top} more | | | | |")
    for kind in ("missing", "unused"):
        items = result.suggestions[kind]
        if items:
            lines += ["", f"**{kind.capitalize()} fields**", ""]
            lines += [f"- `{s['field']}` ({s['score']:.2f}): {s['reason']}" for s in items]
    return "\n".join(lines) + "\n"


def plot_blast_radius(result: WhatIf, path: Path | str) -> Path:
    """The changed component at the left, its readers by depth to the right (edges along the paths)."""
    fig = new_figure(10, 5)
    ax = fig.subplots()
    by_depth: dict[int, list[str]] = {0: [result.component]}
    for b in result.blast_radius:
        by_depth.setdefault(len(b["path"]) - 1, []).append(b["component"])
    pos = {}
    for depth, nodes in by_depth.items():
        for i, node in enumerate(nodes[:30]):
            pos[node] = (depth, -i + (len(nodes[:30]) - 1) / 2)
    for b in result.blast_radius:
        a, c = b["path"][-2], b["path"][-1]
        if a in pos and c in pos:
            ax.annotate("", xy=pos[a], xytext=pos[c], arrowprops={"arrowstyle": "->", "color": "0.6"})
    for node, (x, y) in pos.items():
        colour = "tab:red" if node == result.component else "tab:orange"
        ax.scatter([x], [y], s=80, color=colour, zorder=3)
        ax.annotate(node, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7)
    depth = max(by_depth)
    ax.set_xticks(range(depth + 1))
    ax.set_xlim(-0.2, depth + 0.8)  # room for the labels of the deepest readers
    ax.set_xlabel("depth (hops from the changed component)")
    ax.set_yticks([])
    risk = result.risk.get("score")
    ax.set_title(f"What-if {result.component}: {len(result.blast_radius)} invalidated, risk {_pct(risk)}")
    return save_figure(fig, path)


def plot_rewrites(found: list, path: Path | str, top: int = 20) -> Path:
    """Bars: each rewrite's predicted invalidations per month before and after (what-if engine)."""
    fig = new_figure(10, 5)
    ax = fig.subplots()
    shown = [r for r in found if "invalidations_per_month_before" in r.effect][:top]
    if not shown:
        ax.text(0.5, 0.5, "No safe rewrite to a healthier producer.", ha="center", va="center")
        ax.set_axis_off()
        return save_figure(fig, path)
    labels = [f"{r.consumer} · {r.field} → {r.target.partition('/')[2]}"[:70] for r in shown][::-1]
    before = [r.effect["invalidations_per_month_before"] for r in shown][::-1]
    after = [r.effect["invalidations_per_month_after"] for r in shown][::-1]
    ys = range(len(shown))
    ax.barh([y + 0.2 for y in ys], before, height=0.4, color="tab:red", label="now")
    ax.barh([y - 0.2 for y in ys], after, height=0.4, color="tab:green", label="after the rewrite")
    ax.set_yticks(list(ys), labels, fontsize=7)
    ax.set_xlabel("invalidations per month of the consumer and its readers (predicted)")
    ax.legend(loc="lower right")
    ax.set_title(f"{len(found)} safe rewrite(s) to healthier producers")
    return save_figure(fig, path)
