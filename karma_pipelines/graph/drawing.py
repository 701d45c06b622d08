"""Pictures of the graph's changes: PNGs (matplotlib) and one interactive HTML page (plotly).

One layout for every picture (a spring layout of every node the history ever had, seeded), so that a
component stays in place from panel to panel. Colours: environments for nodes; edges grey when kept,
green when added, red (dashed, from the period's start) when removed, orange when re-pointed; a
drifted component has a red ring.
"""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import pandas as pd
from matplotlib.collections import LineCollection

from karma_pipelines.insights.common import new_figure, save_figure

ENV_COLOURS = {"dev": "#4c78a8", "staging": "#f2a541", "prod": "#7b3294"}
OTHER_COLOUR = "#9e9e9e"
CHANGE_COLOURS = {"kept": "#c8c8c8", "added": "#2ca02c", "removed": "#d62728", "repointed": "#ff7f0e"}
MAX_PANELS = 30


def positions(graphs: list[nx.DiGraph], seed: int = 0) -> dict[str, tuple[float, float]]:
    """One spring layout of the union of `graphs` (each node placed once, for every picture)."""
    union = nx.Graph()
    for g in graphs:
        union.add_nodes_from(g.nodes)
        union.add_edges_from(g.to_undirected().edges)
    if union.number_of_nodes() == 0:
        return {}
    k = 1.5 / math.sqrt(union.number_of_nodes())
    return {n: (float(x), float(y)) for n, (x, y) in nx.spring_layout(union, k=k, seed=seed).items()}


def edge_sets(before: nx.DiGraph, after: nx.DiGraph, delta: pd.DataFrame) -> dict[str, list[tuple]]:
    """Edges of the period by what happened to them: kept, added, removed, repointed."""
    moved = [
        (r.component, r.other, r.previous)
        for r in delta.itertuples(index=False)
        if r.change == "edge_repointed"
    ]
    repointed = {(a, b) for a, b, _ in moved}
    left = {(a, p) for a, _, p in moved}
    new, old = set(after.edges), set(before.edges)
    return {
        "kept": sorted(new & old),
        "added": sorted(new - old - repointed),
        "removed": sorted(old - new - left),
        "repointed": sorted(new & repointed),
    }


def _colour(graph: nx.DiGraph, node: str) -> str:
    return ENV_COLOURS.get(str(graph.nodes[node].get("environment")), OTHER_COLOUR)


def _draw(ax, graph: nx.DiGraph, pos, edges: dict[str, list[tuple]], drifted: set[str], size=18) -> None:
    nodes = [n for n in graph.nodes if n in pos]
    styles = {"kept": "solid", "removed": "dashed", "added": "solid", "repointed": "solid"}
    for change, style in styles.items():
        lines = [(pos[a], pos[b]) for a, b in edges.get(change, []) if a in pos and b in pos]
        if lines:
            width, order = (0.6, 1) if change == "kept" else (1.6, 2)
            ax.add_collection(
                LineCollection(
                    lines, colors=CHANGE_COLOURS[change], linewidths=width, linestyles=style, zorder=order
                )
            )
    ax.scatter(
        [pos[n][0] for n in nodes],
        [pos[n][1] for n in nodes],
        s=size,
        c=[_colour(graph, n) for n in nodes],
        zorder=3,
        linewidths=0,
    )
    ring = [n for n in nodes if n in drifted]
    if ring:
        ax.scatter(
            [pos[n][0] for n in ring],
            [pos[n][1] for n in ring],
            s=size * 3.5,
            facecolors="none",
            edgecolors="#d62728",
            linewidths=1.2,
            zorder=4,
        )
    ax.set_xticks([])
    ax.set_yticks([])


def _legend(ax) -> None:
    handles = [ax.plot([], [], color=c, lw=2, label=k)[0] for k, c in CHANGE_COLOURS.items()]
    handles += [ax.scatter([], [], c=c, s=20, label=e) for e, c in ENV_COLOURS.items()]
    handles.append(ax.scatter([], [], facecolors="none", edgecolors="#d62728", s=60, label="drifted"))
    ax.legend(handles=handles, fontsize=7, loc="lower left", ncol=3, frameon=False)


def _drifted(delta: pd.DataFrame) -> set[str]:
    return set(delta.loc[delta["change"] == "drifted", "component"]) if len(delta) else set()


def period_png(before, after, delta: pd.DataFrame, pos, path: Path | str, title: str) -> Path:
    """Two panels: the graph at the period's start, and at its end with the changes marked."""
    fig = new_figure(12, 5.6)
    left, right = fig.subplots(1, 2)
    _draw(left, before, pos, {"kept": sorted(before.edges)}, set())
    left.set_title(
        f"start: {before.number_of_nodes()} components, {before.number_of_edges()} edges", fontsize=9
    )
    edges = edge_sets(before, after, delta)
    drifted = _drifted(delta)
    _draw(right, after, pos, edges, drifted)
    counts = ", ".join(f"{len(v)} {k}" for k, v in edges.items() if k != "kept")
    right.set_title(f"end: {counts}; {len(drifted)} drifted", fontsize=9)
    _legend(right)
    fig.suptitle(title, fontsize=11)
    return save_figure(fig, path)


def timeline_png(graphs, starts, delta: pd.DataFrame, pos, path: Path | str, title: str) -> Path:
    """Small multiples, one panel per period (the last MAX_PANELS): its end graph, changes marked."""
    periods = list(range(len(starts) - 1))[-MAX_PANELS:]
    cols = min(6, max(1, len(periods)))
    rows = max(1, math.ceil(len(periods) / cols))
    fig = new_figure(2.6 * cols, 2.5 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, i in zip(axes, periods, strict=False):
        part = delta[delta["period_start"] == starts[i]]
        edges = edge_sets(graphs[i], graphs[i + 1], part)
        _draw(ax, graphs[i + 1], pos, edges, _drifted(part), size=5)
        added, removed, moved = (len(edges[k]) for k in ("added", "removed", "repointed"))
        ax.set_title(f"{starts[i]:%Y-%m-%d}: +{added} −{removed} ↻{moved}", fontsize=7)
    for ax in axes[len(periods) :]:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=11)
    return save_figure(fig, path)


def delta_html(graphs, starts, delta: pd.DataFrame, pos, path: Path | str, title: str) -> Path:
    """An interactive page (plotly, its JavaScript inline: it opens offline): one frame per period,
    a slider to move between them; hovering a node names it, its type, environment and drift."""
    import plotly.graph_objects as go

    def traces(i: int) -> list:
        before, after = graphs[i], graphs[i + 1]
        part = delta[delta["period_start"] == starts[i]]
        edges, drifted = edge_sets(before, after, part), _drifted(part)
        out = []
        for change, colour in CHANGE_COLOURS.items():
            xs, ys = [], []
            for a, b in edges[change]:
                if a in pos and b in pos:
                    xs += [pos[a][0], pos[b][0], None]
                    ys += [pos[a][1], pos[b][1], None]
            dash = "dash" if change == "removed" else "solid"
            width = 0.8 if change == "kept" else 2.2
            out.append(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    name=f"{change} edges",
                    hoverinfo="skip",
                    line={"color": colour, "width": width, "dash": dash},
                )  # fmt: skip
            )
        nodes = [n for n in after.nodes if n in pos]
        text = [
            f"{n}<br>{after.nodes[n].get('component_type')} · {after.nodes[n].get('environment')}"
            + ("<br><b>drifted</b>" if n in drifted else "")
            for n in nodes
        ]
        out.append(
            go.Scatter(
                x=[pos[n][0] for n in nodes],
                y=[pos[n][1] for n in nodes],
                mode="markers",
                name="components",
                text=text,
                hoverinfo="text",
                marker={
                    "size": 9,
                    "color": [_colour(after, n) for n in nodes],
                    "line": {"color": ["#d62728" if n in drifted else "#ffffff" for n in nodes], "width": 2},
                },
            )
        )
        return out

    periods = list(range(len(starts) - 1))
    last = periods[-1] if periods else None
    fig = go.Figure(data=traces(last) if last is not None else [])
    fig.frames = [go.Frame(data=traces(i), name=f"{starts[i]:%Y-%m-%d}") for i in periods]
    fig.update_layout(
        title=title,
        showlegend=True,
        xaxis={"visible": False},
        yaxis={"visible": False},
        plot_bgcolor="white",
        height=800,
        sliders=[
            {
                "active": len(periods) - 1,
                "currentvalue": {"prefix": "period starting "},
                "steps": [
                    {
                        "label": f"{starts[i]:%Y-%m-%d}",
                        "method": "animate",
                        "args": [[f"{starts[i]:%Y-%m-%d}"], {"mode": "immediate", "frame": {"duration": 0}}],
                    }
                    for i in periods
                ],  # fmt: skip
            }
        ],
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(path, include_plotlyjs=True, full_html=True, div_id="graph-delta", auto_play=False)
    return path
