"""Features of the world's state at the start of each deploy's day: the dependency graph (transitive
dependents, PageRank) and each type's usual fields. Point-in-time: a day's state holds only snapshots
captured before that day.

Incremental: one pass over the snapshots in time order keeps each component's latest config (its
type, fields and references) and, per type, how many of its configs set each field. A day's state is
the previous day's plus that day's snapshots; the graph is rebuilt only on a day after new snapshots, a
type's usual fields only when one of its configs changed. So the work grows with
the changes, not with days × components.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

from karma_pipelines.contracts.schema import shared_values

COMMON_SHARE = 0.9  # a field that at least this share of a type's configs set is "usual"
MIN_CONFIGS = 3  # below this many configs of a type, nothing is usual yet


@dataclass
class _Latest:
    component_type: str
    fields: frozenset
    references: tuple


@dataclass
class WorldState:
    """Each live component's latest config (one with no field is a removed component), in the order
    of their latest snapshots, and what the graph and usual-field features need of them."""

    latest: dict[str, _Latest] = field(default_factory=dict)
    per_type: Counter = field(default_factory=Counter)  # component_type -> live configs
    field_counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    _graph: dict[str, tuple[float, float]] | None = None  # None: to rebuild
    # Transitive dependents per node: they depend on the nodes and edges only, not on their order, so
    # they are counted again only when a component comes, goes or changes its references.
    _dependents: dict[str, float] | None = None
    _usual: dict[str, frozenset] = field(default_factory=dict)  # per type, dropped when it changes

    def apply(self, component: str, component_type: str, fields, references) -> None:
        old = self.latest.pop(component, None)
        new = _Latest(component_type, frozenset(fields), tuple(references)) if len(fields) else None
        if new is not None:
            self.latest[component] = new  # re-inserted: the order of latest snapshots
        if old is None and new is None:
            return
        # Any new snapshot moves its component last in the graph's node order: PageRank's sums then run
        # in another order (the same ranks to about 1e-17, but a model's bins see the difference).
        self._graph = None
        if old is None or new is None or old.references != new.references:
            self._dependents = None
        if old is not None and new is not None and old.component_type == new.component_type:
            if old.fields != new.fields:
                self._count(new.component_type, new.fields - old.fields, old.fields - new.fields)
            return
        if old is not None:
            self.per_type[old.component_type] -= 1
            self._count(old.component_type, (), old.fields)
        if new is not None:
            self.per_type[new.component_type] += 1
            self._count(new.component_type, new.fields, ())

    def _count(self, ctype: str, added, removed) -> None:
        counts = self.field_counts[ctype]
        counts.update(added)
        counts.subtract(removed)
        for path in removed:
            if counts[path] <= 0:
                del counts[path]
        self._usual.pop(ctype, None)

    def usual(self, ctype: str) -> frozenset:
        """The fields that at least COMMON_SHARE of the type's live configs set (none below MIN_CONFIGS)."""
        found = self._usual.get(ctype)
        if found is None:
            n = self.per_type[ctype]
            counts = self.field_counts.get(ctype, {})
            found = (
                frozenset(p for p, c in counts.items() if c >= COMMON_SHARE * n)
                if n >= MIN_CONFIGS
                else frozenset()
            )
            self._usual[ctype] = found
        return found

    def graph(self) -> dict[str, tuple[float, float]]:
        """component -> (transitive dependents, PageRank) of the graph of references."""
        if self._graph is None:
            graph = nx.DiGraph()
            graph.add_nodes_from(self.latest)
            graph.add_edges_from((src, dst) for src, c in self.latest.items() for dst in c.references)
            # An edge src -> dst means src reads dst's runtime: dst's dependents are its ancestors.
            rank = nx.pagerank(graph.reverse(copy=False)) if graph.number_of_edges() else {}
            n = graph.number_of_nodes()
            if self._dependents is None:
                self._dependents = {
                    node: float(len(nx.ancestors(graph, node)) if graph.in_degree(node) else 0)
                    for node in graph.nodes
                }
            dependents = self._dependents
            self._graph = {node: (dependents[node], rank.get(node, 1.0 / n)) for node in graph.nodes}
        return self._graph


_SORT = ["captured_at", "deploy_id"]


def daily_state_features(
    deploys: pd.DataFrame, snapshots: pd.DataFrame, only_days: set[pd.Timestamp] | None = None
) -> pd.DataFrame:
    """deploy_id, downstream_transitive, pagerank, usual_fields_missing (index aligned with deploys).
    With `only_days`, the state is built for those days alone (other rows get NaN / 0)."""
    days = deploys["deployed_at"].dt.floor("D")
    # Sorted, the columns read (not the configs' text: most of the snapshots' memory).
    snaps = snapshots[[*_SORT, "component", "component_type", "field_paths", "references"]]
    snaps = snaps.sort_values(_SORT, kind="stable")
    # Each deploy's own field paths (its id's last snapshot), by position: no text object per id.
    ids = pd.Index(snapshots["deploy_id"])
    last = ~ids.duplicated(keep="last")
    own_at = ids[last].get_indexer(deploys["deploy_id"])
    own_fields = snapshots["field_paths"].to_numpy()[np.flatnonzero(last)]
    del ids, last
    downstream = np.zeros(len(deploys))
    pagerank = np.full(len(deploys), np.nan)
    missing = np.zeros(len(deploys))
    by_day: dict[pd.Timestamp, list[int]] = defaultdict(list)
    for pos, day in enumerate(days):
        by_day[day].append(pos)
    wanted = sorted(by_day) if only_days is None else sorted(d for d in only_days if d in by_day)
    state = WorldState()
    columns = snaps[["component", "component_type", "field_paths", "references"]].itertuples(
        index=False, name=None
    )
    captured, done = snaps["captured_at"], 0
    components, types = (shared_values(deploys[c]) for c in ("component", "component_type"))
    for day in wanted:
        end = int(captured.searchsorted(day, side="left"))
        for component, ctype, fields, refs in (next(columns) for _ in range(end - done)):
            state.apply(
                component, ctype, fields if fields is not None else (), refs if refs is not None else ()
            )
        done = end
        graph = state.graph()
        for pos in by_day[day]:
            if (found := graph.get(components[pos])) is not None:
                downstream[pos], pagerank[pos] = found
            usual = state.usual(types[pos])
            own = own_fields[own_at[pos]] if own_at[pos] >= 0 else None
            missing[pos] = len(usual) - (len(usual.intersection(own)) if own is not None else 0)
    return pd.DataFrame(
        {
            "deploy_id": deploys["deploy_id"].to_numpy(),
            "downstream_transitive": downstream,
            "pagerank": pagerank,
            "usual_fields_missing": missing,
        },
        index=deploys.index,
    )
