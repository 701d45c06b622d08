"""The dependency graph as it was at any time, and its changes per period (no Dagster here).

API (the tables are any source's validated tables: a `SourceTables`, or `deploy_records` +
`config_snapshots` [+ `clean_events` for drift]):

    history = GraphHistory.from_tables(tables)     # one pass over the snapshots, reused below
    g = history.at(t)                              # networkx.DiGraph of what was known strictly before t
    d = history.deltas("W")                        # one row per change per week ("D": per day)
    graph_at(tables, t), deltas(tables, freq)      # the same, in one call

Nodes are component keys (`<type>/<nickname>`) with attributes `component_type`, `environment`,
`n_fields`, `config_hash`, `deploys` (so far), `last_deploy_at`, `since` (first snapshot of its current
life), `drifted` (a config/runtime drift open at t) and `known` (False: only referenced, no config yet).
An edge `a -> b` means a reads b's runtime; attributes `kind` (the field that makes it:
`vpc_nickname`, `src_nickname`, `db_runtime_path`, `route53_zone_name`; several kinds joined by `,`)
and `since` (when it appeared).

`deltas` columns: `period_start`, `period_end`, `change` (one of CHANGES), `component`, `other` (the
edge's target; for `edge_repointed` the new target), `previous` (the old target of a re-pointed edge),
`kind`, `component_type`, `environment`, `at` (when the change happened; a period's start for drift
still open from before). Re-pointed: the same component and kind, another target. Transient: an edge
added during the period and gone again by its end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import networkx as nx
import pandas as pd

from karma_pipelines.contracts.dependencies import name_links, own_names, typed_references
from karma_pipelines.graph.diff import CHANGES, DELTA_COLUMNS, diff_rows, transient_rows
from karma_pipelines.insights.config_runtime_drift import drift_spells


@dataclass(frozen=True)
class _Config:
    """A component's latest config, as much of it as the graph needs (no raw value)."""

    component_type: str
    environment: str
    n_fields: int
    config_hash: str
    edges: tuple[tuple[str, str], ...]  # (target key, kind)
    links: tuple[tuple[str, str, str], ...]  # (kind, producer type, name)
    names: frozenset[str]
    captured_at: pd.Timestamp


def _parsed(text: str) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class GraphHistory:
    """The graph's history from one source's tables: `at(t)`, `deltas(freq)`."""

    def __init__(
        self,
        deploy_records: pd.DataFrame,
        config_snapshots: pd.DataFrame,
        events: pd.DataFrame | None = None,
    ):
        snaps = config_snapshots.sort_values(["captured_at", "deploy_id"], kind="stable")
        deleted = set(deploy_records.loc[deploy_records["action"] == "delete", "deploy_id"].astype(str))
        self.snapshots = snaps
        self.times = snaps["captured_at"].reset_index(drop=True)
        self._rows = list(
            zip(
                snaps["deploy_id"].astype(str),
                snaps["captured_at"],
                snaps["component"].astype(str),
                snaps["component_type"].astype(str),
                snaps["environment"].astype(str),
                snaps["n_fields"].astype(int),
                snaps["config_hash"].astype(str),
                snaps["config_json"].astype(str),
                strict=True,
            )
        )
        self._deleted = deleted
        envs = snaps.groupby("component")["environment"].nunique()
        self.multi_env = frozenset(envs.index[envs > 1].astype(str))
        self._rows = [(r[0], r[1], node_name(r[2], r[4], self.multi_env), *r[3:]) for r in self._rows]
        self._parsed_by_hash: dict[str, tuple] = {}
        end = max(deploy_records["deployed_at"].max(), snaps["captured_at"].max()) if len(snaps) else None
        if events is not None and len(events) and "ts" in events.columns and events["ts"].notna().any():
            end = max(end, events["ts"].max()) if end is not None else events["ts"].max()
        self.end = end
        self.drifts = drift_spells(events, deploy_records, end)[0] if end is not None else None

    @classmethod
    def from_tables(cls, tables) -> GraphHistory:
        return cls(tables.deploy_records, tables.config_snapshots, getattr(tables, "clean_events", None))

    # -- replay ---------------------------------------------------------------------------------
    def _config(self, ctype, env, n_fields, chash, text, captured_at) -> _Config:
        parsed = self._parsed_by_hash.get(chash)
        if parsed is None:
            config = _parsed(text)
            parsed = (
                tuple(typed_references(config)),
                tuple(name_links(config)),
                frozenset(own_names(config)),
            )
            self._parsed_by_hash[chash] = parsed
        edges, links, names = parsed
        return _Config(ctype, env, n_fields, chash, edges, links, names, captured_at)

    def states(self, times: list[pd.Timestamp]):
        """(t, state) for each of the sorted `times`: the state holds, per live component, its latest
        config, and the bookkeeping `since` times (snapshots captured strictly before t)."""
        latest: dict[str, _Config] = {}
        born: dict[str, pd.Timestamp] = {}
        deploys: dict[str, int] = {}
        edge_since: dict[tuple[str, str, str], pd.Timestamp] = {}
        pos = 0
        for t in times:
            added: list[tuple[pd.Timestamp, str, str, str]] = []  # (at, component, target key, kind)
            while pos < len(self._rows) and self._rows[pos][1] < t:
                dep_id, at, comp, ctype, env, n_fields, chash, text = self._rows[pos]
                pos += 1
                deploys[comp] = deploys.get(comp, 0) + 1
                old = latest.pop(comp, None)
                if dep_id in self._deleted or n_fields == 0:
                    born.pop(comp, None)
                    for key in [k for k in edge_since if k[0] == comp]:
                        del edge_since[key]
                    continue
                new = self._config(ctype, env, n_fields, chash, text, at)
                latest[comp] = new
                born.setdefault(comp, at)
                kept = set(new.edges) | {(f"{p}:{n}", k) for k, p, n in new.links}
                before = set(old.edges) | {(f"{p}:{n}", k) for k, p, n in old.links} if old else set()
                for target, kind in before - kept:
                    edge_since.pop((comp, target, kind), None)
                for target, kind in kept - before:
                    edge_since[(comp, target, kind)] = at
                    added.append((at, comp, target, kind))
            state = _State(latest, born, dict(deploys), edge_since, self._drifted_at(t), self.multi_env)
            state.added = added
            yield t, state

    def node(self, component: str, environment: str) -> str:
        """The graph's node of a component deployed in an environment (see `node_name`)."""
        return node_name(component, environment, self.multi_env)

    def _drifted_at(self, t: pd.Timestamp) -> set[str]:
        d = self.drifts
        if d is None or d.empty:
            return set()
        open_now = (d["detected_at"] < t) & (d["resolved_at"].isna() | (d["resolved_at"] >= t))
        part = d[open_now]
        return {
            self.node(str(c), str(e)) for c, e in zip(part["component"], part["environment"], strict=True)
        }

    def at(self, t) -> nx.DiGraph:
        """The graph of what was known strictly before `t`."""
        t = pd.Timestamp(t)
        return next(iter(self.states([t])))[1].graph()

    def graphs(self, times) -> list[nx.DiGraph]:
        """The graph before each of the sorted `times` (one pass)."""
        return [state.graph() for _, state in self.states([pd.Timestamp(t) for t in times])]

    # -- periods ----------------------------------------------------------------------------------
    def boundaries(self, freq: str = "W") -> list[pd.Timestamp]:
        """Period starts from the first snapshot's period to the one after the end (Mondays for "W")."""
        if self.end is None:
            return []
        start = self.times.min().floor("D")
        if freq == "W":
            start -= pd.Timedelta(days=start.weekday())
            step = pd.Timedelta(days=7)
        elif freq == "D":
            step = pd.Timedelta(days=1)
        else:
            raise ValueError(f"freq {freq!r}: use 'W' or 'D'")
        out = [start]
        while out[-1] <= self.end:
            out.append(out[-1] + step)
        return out

    def deltas(self, freq: str = "W") -> pd.DataFrame:
        """One row per change per period (see the module's docstring)."""
        return self.graphs_and_deltas(freq)[2]

    def graphs_and_deltas(self, freq: str = "W") -> tuple[list[pd.Timestamp], list[nx.DiGraph], pd.DataFrame]:
        """(period boundaries, the graph before each, `deltas(freq)`), in one pass."""
        bounds = self.boundaries(freq)
        rows: list[dict] = []
        graphs: list[nx.DiGraph] = []
        for (t, state), start in zip(self.states(bounds), [None, *bounds[:-1]], strict=True):
            graph = state.graph()
            if graphs:
                rows += diff_rows(graphs[-1], graph, start, t, self._drift_rows(start, t))
                rows += transient_rows(graphs[-1], graph, state, start, t)
            graphs.append(graph)
        return bounds, graphs, pd.DataFrame(rows, columns=DELTA_COLUMNS)

    def _drift_rows(self, start, stop) -> list[tuple[str, pd.Timestamp]]:
        d = self.drifts
        if d is None or d.empty:
            return []
        live = (d["detected_at"] < stop) & (d["resolved_at"].isna() | (d["resolved_at"] >= start))
        part = d[live]
        return [
            (str(c), max(at, start)) for c, at in zip(part["component"], part["detected_at"], strict=True)
        ]


@dataclass
class _State:
    latest: dict[str, _Config]
    born: dict[str, pd.Timestamp]
    deploys: dict[str, int]
    edge_since: dict[tuple[str, str, str], pd.Timestamp]
    drifted: set[str]
    multi_env: frozenset[str]
    added: list = field(default_factory=list)  # edges added since the previous state yielded

    def resolve(self, key: str, environment: str) -> str:
        """The node a reference to `key` from `environment` reads: the same environment's when the
        key lives in several, else the one live environment's."""
        if key not in self.multi_env:
            return key
        same = f"{key}@{environment}"
        if same in self.latest:
            return same
        live = sorted(n for n in self.latest if n.rpartition("@")[0] == key)
        return live[0] if live else same

    def graph(self) -> nx.DiGraph:
        g = nx.DiGraph()
        by_name: dict[tuple[str, str], list[str]] = {}
        for comp, c in self.latest.items():
            g.add_node(
                comp,
                component_type=c.component_type,
                environment=c.environment,
                n_fields=c.n_fields,
                config_hash=c.config_hash,
                deploys=self.deploys.get(comp, 0),
                last_deploy_at=c.captured_at,
                since=self.born[comp],
                drifted=comp in self.drifted,
                known=True,
            )
            for name in c.names | {comp.partition("/")[2].rpartition("@")[0] or comp.partition("/")[2]}:
                by_name.setdefault((c.component_type, name), []).append(comp)
        for comp, c in self.latest.items():
            targets = [(self.resolve(t, c.environment), k, (comp, t, k)) for t, k in c.edges]
            for kind, ptype, name in c.links:
                found = by_name.get((ptype, name), [])
                same_env = [f for f in found if self.latest[f].environment == c.environment]
                for target in same_env or found:
                    targets.append((target, kind, (comp, f"{ptype}:{name}", kind)))
            for target, kind, since_key in targets:
                if target == comp:
                    continue
                if target not in g:
                    ttype = target.partition("/")[0]
                    g.add_node(
                        target, component_type=ttype, environment="unknown", known=False, drifted=False
                    )
                since = self.edge_since.get(since_key)
                if target in self.born and since is not None:
                    since = max(since, self.born[target])
                if g.has_edge(comp, target):
                    data = g.edges[comp, target]
                    data["kind"] = ",".join(sorted(set(data["kind"].split(",")) | {kind}))
                    data["since"] = min(data["since"], since) if since is not None else data["since"]
                else:
                    g.add_edge(comp, target, kind=kind, since=since)
        return g


def node_name(component: str, environment: str, multi_env: frozenset[str]) -> str:
    """`component`, or `component@environment` for a key that lives in several environments (a Git
    layout with the environment in the path and the same nickname in each)."""
    return f"{component}@{environment}" if component in multi_env else component


def graph_at(tables, t) -> nx.DiGraph:
    """The dependency graph of what `tables` knew strictly before `t`."""
    return GraphHistory.from_tables(tables).at(t)


def deltas(tables, freq: str = "W") -> pd.DataFrame:
    """The graph's changes per period (`freq`: "W" weeks from Monday, "D" days)."""
    return GraphHistory.from_tables(tables).deltas(freq)


__all__ = ["CHANGES", "DELTA_COLUMNS", "GraphHistory", "deltas", "graph_at", "node_name"]
