"""A realistic generated Karma corpus (configs, history, planted mistakes) and the Terraform that reads
it, for tests and benchmarks of the suggester.

What makes it realistic (and what each kind of evidence can learn from):
- component types from Karma's repositories, with required fields (read without a default),
  optional ones (read with `try`), feature-flag groups (`enable_redpanda` + `redpanda_*`), fields set
  together, prod-only and dev-only fields, fields that follow a dependency (an ECS service that uses
  a database has `db_runtime_path` and a `DB_PASSWORD` secret), user-named maps (lambda
  `functions.<name>.*`, container environment variables, DNS root records) and fields nothing reads
  (`index_document` on serverless-site, `openapi` on serverless-api, as in Karma's own repositories);
- teams have house styles (the optional fields they always or never set), and a service looks alike
  in its environments, with some drift;
- mistakes: a required field left out, a misspelt or foreign field added, sometimes promoted to every
  environment of the service; the history fixes some and adds fields teams adopt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from karma_pipelines.contracts.config_fields import flatten
from karma_pipelines.contracts.schema import ENVIRONMENTS
from karma_pipelines.simulator.catalog import FOUNDATION, SPECS
from karma_pipelines.simulator.catalog import SERVICE_MIX as SIMULATED_MIX
from karma_pipelines.simulator.terraform import catalog_terraform, write_terraform
from karma_pipelines.suggester.corpus import Corpus, corpus_from_configs
from karma_pipelines.suggester.names import misspell
from karma_pipelines.suggester.synthetic_fields import (
    Service,
    config_fields,
    house_style,
    materialize,
    required_fields,
    top_fields,
)

__all__ = [
    "SyntheticWorld",
    "catalog_terraform",
    "corpus_fields",
    "generate_world",
    "terraform",
    "write_terraform",
]

# The simulator's mix, plus types it never simulates (the corpus covers every catalogued type).
SERVICE_MIX = {**SIMULATED_MIX, "cognito-sso": 0.4, "eks-cluster": 0.3}
ROLES = (
    "api",
    "web",
    "worker",
    "sync",
    "ingest",
    "jobs",
    "admin",
    "events",
    "media",
    "search",
    "auth",
    "billing",
)


def terraform() -> dict[str, str]:
    """The Terraform reading the corpus: the catalogue's, in the reading styles of Karma's repositories."""
    return catalog_terraform(styled=True)


@dataclass
class SyntheticWorld:
    """Configs now and before, the planted mistakes still present now, and the Terraform."""

    configs: list[dict[str, Any]]  # component, component_type, environment, config (now)
    before: list[dict[str, Any]]  # the same components earlier (before fixes and adoptions)
    mistakes: pd.DataFrame  # component, environment, field, kind (missing | unused), cause
    terraform: dict[str, str] = field(default_factory=dict)  # relative path -> .tf text

    def corpus(self) -> Corpus:
        return corpus_from_configs(self.configs, source="synthetic")

    def corpus_before(self) -> Corpus:
        return corpus_from_configs(self.before, source="synthetic (before)")

    def snapshots(self) -> pd.DataFrame:
        """Both versions as `config_snapshots` rows (before at t0, now at t1)."""
        from karma_pipelines.records.from_events import snapshot_row

        rows = []
        for stamp, items in (("2026-01-01", self.before), ("2026-04-01", self.configs)):
            ts = pd.Timestamp(stamp, tz="UTC")
            for i, item in enumerate(items):
                row = snapshot_row(
                    f"syn-{stamp}-{i:05d}", ts, item["component"], item["environment"], item["config"]
                )
                rows.append(row)
        from karma_pipelines.contracts.schema import CONFIG_SNAPSHOTS

        return CONFIG_SNAPSHOTS.conform(pd.DataFrame(rows))

    def write(self, root: Path | str) -> Path:
        """`configs/iac/<env>/<type>/<nickname>/config.json` and `terraform/components/<type>/*.tf`."""
        root = Path(root)
        for item in self.configs:
            ctype, _, nickname = item["component"].partition("/")
            path = root / "configs" / "iac" / item["environment"] / ctype / nickname / "config.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(item["config"], indent=2, sort_keys=True) + "\n", encoding="utf-8")
        for rel, text in self.terraform.items():
            path = root / "terraform" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return root


def _plan(rng: np.random.Generator, n_configs: int) -> tuple[list[Service], dict[str, dict[str, bool]]]:
    services: list[Service] = []
    styles: dict[str, dict[str, bool]] = {}
    types, weights = list(SERVICE_MIX), np.array(list(SERVICE_MIX.values()))
    total, p = 0, 0
    while total < n_configs:
        project = f"proj{p:02d}"
        p += 1
        styles[project] = house_style(np.random.default_rng(int(rng.integers(1 << 30))))
        foundation = {t: f"{project}-{t.split('-')[0]}" for t in FOUNDATION}
        plan = [(t, foundation[t].removeprefix(f"{project}-")) for t in FOUNDATION]
        plan += [
            (str(t), "") for t in rng.choice(types, size=int(rng.integers(6, 14)), p=weights / weights.sum())
        ]
        producers: dict[str, str] = {t: n for t, n in foundation.items()}
        taken: set[str] = set()
        for ctype, role in plan:
            role = role or ROLES[int(rng.integers(len(ROLES)))]
            name, i = f"{project}-{role}", 2
            while (ctype, name) in taken:
                name, i = f"{project}-{role}{i}", i + 1
            taken.add((ctype, name))
            draw = rng.random()
            envs = (
                ENVIRONMENTS
                if draw < 0.6 or ctype in FOUNDATION
                else (("dev", "prod") if draw < 0.85 else ("dev",))
            )
            refs = {}
            for env in envs:
                refs[env] = {t: f"{n}-{env}" for t, n in producers.items() if t != ctype}
            services.append(Service(project, ctype, name, envs, refs, int(rng.integers(1 << 30))))
            if (
                ctype in ("rds-postgres", "sqs-queue", "lambda", "cognito-sso", "clickhouse")
                and rng.random() < 0.6
            ):
                producers[ctype] = name
            total += len(envs)
    return services, styles


def _mistake(
    rng: np.random.Generator, fields: list[str], ctype: str, required: list[str], foreign: list[str]
) -> tuple[list[str], str, str, str] | None:
    """One planted mistake: (new fields, field, kind, cause)."""
    if rng.random() < 0.5:
        options = [f for f in fields if f in required]
        if not options:
            return None
        name = options[int(rng.integers(len(options)))]
        return [f for f in fields if f != name], name, "missing", "required field left out"
    if rng.random() < 0.5 and foreign:
        name = foreign[int(rng.integers(len(foreign)))]
        cause = "field of another component type"
    else:
        source = [f for f in fields if not f.startswith("tags.") and len(f.rpartition(".")[2]) >= 4]
        if not source:
            return None
        name = misspell(rng, source[int(rng.integers(len(source)))])
        cause = "misspelt field name"
    if name in fields or any(f.startswith(name + ".") or name.startswith(f + ".") for f in fields):
        return None
    return sorted([*fields, name]), name, "unused", cause


def generate_world(
    n_configs: int = 1500, seed: int = 5, mistake_rate: float = 0.04, drift: float = 0.05
) -> SyntheticWorld:
    """About `n_configs` component configs (now and before), planted mistakes and the Terraform."""
    rng = np.random.default_rng(seed)
    services, styles = _plan(rng, n_configs)
    foreign_of = {
        t: sorted({f.path for o, s in SPECS.items() if o != t for f in top_fields(s) if "." not in f.path}
                  - {f.path for f in s_.fields} - {"vpc_nickname"})
        for t, s_ in SPECS.items()
    }  # fmt: skip
    before, now, planted = [], [], []
    adopt = {  # style fields a team adopts between `before` and now
        p: {
            t: [f.path for f in top_fields(s) if f.kind == "style" and rng.random() < 0.15]
            for t, s in SPECS.items()
        }
        for p in styles
    }
    for svc in services:
        mrng = np.random.default_rng([svc.seed, 99])
        shared = None
        if mrng.random() < mistake_rate * len(svc.envs) * 0.5:  # a mistake promoted through every env
            shared = mrng.random()
        for env in svc.envs:
            fields = config_fields(svc, env, styles, drift)
            component = f"{svc.ctype}/{svc.name}-{env}"
            fields_now = list(fields)
            cause = None
            draw = shared if shared is not None else (mrng.random() if mrng.random() < mistake_rate else None)
            if draw is not None:
                made = _mistake(np.random.default_rng([svc.seed, 7, int(draw * 1e6)]), fields, svc.ctype,
                                required_fields(svc.ctype, fields), foreign_of[svc.ctype])  # fmt: skip
                if made:
                    fields_now, name, kind, cause = made
            # Before: some fields adopted later were not set yet, some mistakes were still there.
            fields_before = [
                f for f in fields_now if f not in adopt[svc.project][svc.ctype] or mrng.random() < 0.3
            ]
            if cause is None and mrng.random() < 0.08:
                old = _mistake(
                    mrng, fields, svc.ctype, required_fields(svc.ctype, fields), foreign_of[svc.ctype]
                )
                if old:
                    fields_before = old[0]  # a mistake fixed since
            if cause is not None:
                planted.append(
                    {"component": component, "environment": env, "field": name, "kind": kind, "cause": cause}
                )
            unread = {f.path for f in top_fields(SPECS[svc.ctype]) if not f.is_read}
            for f in fields_now:
                if f in unread:
                    planted.append({"component": component, "environment": env, "field": f, "kind": "unused",
                                    "cause": "set, never read by the Terraform"})  # fmt: skip
            vrng = np.random.default_rng([svc.seed, 3, ENVIRONMENTS.index(env)])
            now.append({"component": component, "component_type": svc.ctype, "environment": env,
                        "config": materialize(fields_now, svc.refs[env], vrng)})  # fmt: skip
            before.append({"component": component, "component_type": svc.ctype, "environment": env,
                           "config": materialize(fields_before, svc.refs[env], vrng)})  # fmt: skip
    mistakes = pd.DataFrame(planted, columns=["component", "environment", "field", "kind", "cause"])
    return SyntheticWorld(now, before, mistakes.drop_duplicates(["component", "field"]), terraform())


def corpus_fields(world: SyntheticWorld) -> dict[str, set[str]]:
    return {item["component"]: set(flatten(item["config"])) for item in world.configs}
