"""What-if impact of a proposed change, from a source's history as it is now (or at any time):

- blast radius: the components that would be invalidated downstream: those that read the changed
  component's runtime (directly or transitively, through references: `<type>_nickname`, `src_nickname`,
  `*_runtime_path`, in the dependency graph of `graph.over_time` as it was just before the change), each
  with its path and the fields by which it reads its upstream. Karma publishes a component's runtime
  anew on every apply that changes its config (tags too), so any changed field reaches every reader,
  as Karma's own `affected_components` say; a change that changes nothing invalidates nothing;
- risk: the rollback risk under the champion forecaster, with its reasons (`whatif.risk`);
- suggestions: what the field suggester says of the new config (missing / unused fields);
- promotion path: the same service's components in the later environments, which would follow.

`WhatIfEngine(...).analyse(change)` returns a `WhatIf`; `WhatIf.as_json()` is the `whatif --json`
document. Field names only reach the result, never a config value."""

from __future__ import annotations

import copy
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from karma_pipelines.contracts.dependencies import NAME_LINK_TYPES
from karma_pipelines.contracts.schema import ENVIRONMENTS
from karma_pipelines.graph.over_time import GraphHistory
from karma_pipelines.suggester.corpus import service_stem
from karma_pipelines.whatif.change import ProposedChange
from karma_pipelines.whatif.risk import Forecaster, change_risk, hypothetical_deploy
from karma_pipelines.whatif.suggestions import FieldSuggester

# Implicit name links (`route53_zone_name`) are not references: Karma does not invalidate through them.
NOT_REFERENCES = frozenset(NAME_LINK_TYPES)


def reference_kinds(graph: nx.DiGraph, consumer: str, producer: str) -> list[str]:
    """The fields by which `consumer` references `producer` (the edge's kinds, name links left out)."""
    kinds = str(graph.edges[consumer, producer].get("kind") or "")
    return sorted(k for k in kinds.split(",") if k and k not in NOT_REFERENCES)


def plain(graph: nx.DiGraph, node: str) -> str:
    """The component key of a graph node (`graph.over_time` names a key that lives in several
    environments `<key>@<environment>`)."""
    env = graph.nodes[node].get("environment") if node in graph else None
    return node[: -len(env) - 1] if env and node.endswith(f"@{env}") else node


def blast_radius(graph: nx.DiGraph, component: str) -> list[dict]:
    """Every component that reads `component`'s runtime, directly or transitively (an edge `a -> b`:
    a reads b), breadth first: `{"component", "environment", "path", "reads"}`, nearest first."""
    if component not in graph:
        return []
    out, seen = [], {component}
    queue = deque([(component, [component])])
    while queue:
        node, path = queue.popleft()
        for consumer in sorted(graph.predecessors(node)):
            if consumer in seen:
                continue
            reads = reference_kinds(graph, consumer, node)
            if not reads:
                continue
            seen.add(consumer)
            out.append(
                {
                    "component": plain(graph, consumer),
                    "environment": str(graph.nodes[consumer].get("environment", "unknown")),
                    "path": [plain(graph, n) for n in (*path, consumer)],
                    "reads": reads,
                }
            )
            queue.append((consumer, [*path, consumer]))
    return out


def env_rank(environment: str) -> int | None:
    return ENVIRONMENTS.index(environment) if environment in ENVIRONMENTS else None


@dataclass
class WhatIf:
    """One what-if answer; `as_json()` holds exactly the keys of `whatif --json`."""

    component: str
    environment: str
    changed_fields: list[str]
    blast_radius: list[dict]
    risk: dict
    suggestions: dict
    promotion_path: list[dict]
    at: pd.Timestamp | None = None
    action: str = "update"
    model: dict = field(default_factory=dict)  # forecaster name, version, test base rate
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "environment": self.environment,
            "changed_fields": self.changed_fields,
            "blast_radius": self.blast_radius,
            "risk": self.risk,
            "suggestions": self.suggestions,
            "promotion_path": self.promotion_path,
        }


class WhatIfEngine:
    """The history read once (graph over time, latest configs); `analyse` answers one change."""

    def __init__(
        self,
        deploys: pd.DataFrame,
        snapshots: pd.DataFrame,
        events: pd.DataFrame | None = None,
        forecaster: Forecaster | None = None,
        suggester: FieldSuggester | None = None,
    ):
        self.deploys, self.snapshots, self.events = deploys, snapshots, events
        self.graphs = GraphHistory(deploys, snapshots, events)
        self.forecaster, self.suggester = forecaster, suggester
        self.snaps_sorted = snapshots.sort_values(["captured_at", "deploy_id"], kind="stable")
        # Per (component, environment): its snapshots' times and rows, in time order (one lookup each).
        self._places: dict[tuple[str, str], tuple[np.ndarray, pd.DataFrame]] = {}
        self._envs: dict[str, list[str]] = {}
        self._services: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for (comp, env), rows in self.snaps_sorted.groupby(["component", "environment"], sort=True):
            self._places[(comp, env)] = (rows["captured_at"].array.asi8, rows)  # UTC nanoseconds
            self._envs.setdefault(comp, []).append(env)
            stem = service_stem(comp.partition("/")[2], env)
            self._services.setdefault((comp.partition("/")[0], stem), []).append((comp, env))

    @classmethod
    def from_tables(cls, tables, forecaster=None, suggester=None) -> WhatIfEngine:
        events = getattr(tables, "clean_events", None)
        return cls(tables.deploy_records, tables.config_snapshots, events, forecaster, suggester)

    def graph_only(self) -> WhatIfEngine:
        """This engine without its models (no risk, no suggestions): the blast radius alone, for a
        replay over many changes; shares the history read once."""
        plain = copy.copy(self)
        plain.forecaster = plain.suggester = None
        return plain

    @property
    def end(self) -> pd.Timestamp:
        """Now, for the history: one second after its last deploy."""
        return self.deploys["deployed_at"].max() + pd.Timedelta(seconds=1)

    def _latest(self, component: str, environment: str, at: pd.Timestamp):
        """The latest snapshot row of (component, environment) captured before `at`, or None."""
        found = self._places.get((component, environment))
        if found is None:
            return None
        times, rows = found
        i = int(np.searchsorted(times, pd.Timestamp(at).value, side="left")) - 1
        return rows.iloc[i] if i >= 0 else None

    def current(self, component: str, at: pd.Timestamp, environment: str | None = None):
        """(config, environment) of `component`'s latest snapshot before `at` (in `environment`, or in
        whichever of its environments it was deployed to last); (None, environment) if none."""
        envs = [environment] if environment is not None else self._envs.get(component, [])
        rows = [r for r in (self._latest(component, e, at) for e in envs) if r is not None]
        if not rows:
            return None, environment
        last = max(rows, key=lambda r: (r["captured_at"], r["deploy_id"]))
        config = json.loads(last["config_json"]) if last["n_fields"] else None
        return config, str(last["environment"])

    def promotion_path(self, component: str, environment: str, at: pd.Timestamp) -> list[dict]:
        """The same service's components (same type and service stem) in later environments, in
        promotion order; for an environment outside dev/staging/prod, every other environment's."""
        ctype, _, nickname = component.partition("/")
        rank = env_rank(environment)
        out = []
        for comp, env in self._services.get((ctype, service_stem(nickname, environment)), []):
            if env == environment:
                continue
            other = env_rank(env)
            if rank is not None and (other is None or other <= rank):
                continue
            last = self._latest(comp, env, at)
            if last is not None and last["n_fields"] > 0:
                out.append({"component": comp, "environment": env})
        return sorted(out, key=lambda d: (env_rank(d["environment"]) or 99, d["environment"], d["component"]))

    def analyse(self, change: ProposedChange, at: pd.Timestamp | None = None, graph=None) -> WhatIf:
        """The what-if of `change` as if deployed at `at` (default: now, the end of the history);
        `graph`: the dependency graph before `at`, when the caller has it (a replay over many)."""
        at = self.end if at is None else pd.Timestamp(at)
        current, env = self.current(change.component, at, change.environment)
        if current is None and change.environment is not None:
            _, elsewhere = self.current(change.component, at)
            if elsewhere is not None and elsewhere != change.environment:
                raise ValueError(
                    f"field 'environment': {change.component!r} is in {elsewhere!r}, not "
                    f"{change.environment!r}"
                )
        if current is None and env is None:
            raise ValueError(
                f"component {change.component!r} is not in the history: give its `environment` to "
                "propose creating it"
            )
        new = change.new_config(current)
        changed = change.changed_fields(current)
        notes = []
        graph = self.graphs.at(at) if graph is None else graph
        radius = blast_radius(graph, self.graphs.node(change.component, env)) if changed else []
        if not changed:
            notes.append("the proposed config equals the current one: nothing to deploy")
        risk: dict[str, Any] = {"score": None, "reasons": []}
        model: dict[str, Any] = {}
        if self.forecaster is not None:
            rows = hypothetical_deploy(
                self.deploys, change.component, env, current, new, at, change.author, change.message
            )
            scored = change_risk(self.forecaster, self.deploys, self.snapshots, *rows)
            risk = {"score": scored["score"], "reasons": scored["reasons"]}
            model = {k: scored[k] for k in ("model", "version", "base_rate")}
        else:
            notes.append("no champion forecaster: risk not scored")
        suggestions = {"missing": [], "unused": []}
        if self.suggester is not None:
            suggestions = self.suggester.of(self.snapshots, change.component, env, new, at)
        return WhatIf(
            component=change.component,
            environment=env,
            changed_fields=changed,
            blast_radius=radius,
            risk=risk,
            suggestions=suggestions,
            promotion_path=self.promotion_path(change.component, env, at),
            at=at,
            action="update" if current else "create",
            model=model,
            notes=notes,
        )
