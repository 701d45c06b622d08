"""Dagster resources: which Karma source to read, and which MLflow store to write to."""

from pathlib import Path

import dagster as dg
import pandas as pd

from karma_pipelines.records import DEFAULT_HORIZON
from karma_pipelines.sources.base import Source
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT
from karma_pipelines.sources.open import open_source
from karma_pipelines.tracking.store import MlflowTarget, is_server, mlflow_ui_url


class KarmaSourceResource(dg.ConfigurableResource):
    """The Karma source: `simulator` (generated on first use, the default), `events` (a world folder)
    or `git` (a repository of component configs, read incrementally). The asset graph is the same for
    every kind: only `source()` looks at it."""

    kind: str = "simulator"
    path: str = ".karma/world"
    layout: str = DEFAULT_LAYOUT  # one layout, or several separated by `;` (first match wins)
    ref: str | None = None
    state_dir: str = ".karma/git_state"
    iac: str = ""  # an IaC repository (Terraform per component type) for the suggester's code evidence
    seed: int = 7
    components: int = 240
    days: int = 180
    # The label horizon: a deploy is rolled back when undone within it; also every model's train/test gap.
    horizon_days: float = DEFAULT_HORIZON / pd.Timedelta(days=1)

    @property
    def horizon(self) -> pd.Timedelta:
        return pd.Timedelta(days=self.horizon_days)

    def source(self) -> Source:
        simulation = {"seed": self.seed, "components": self.components, "days": self.days}
        return open_source(self.kind, self.path, self.layout, self.ref, self.state_dir, simulation)

    @property
    def iac_path(self) -> Path | None:
        return Path(self.iac) if self.iac else None


class MlflowResource(dg.ConfigurableResource):
    """An MLflow tracking store and model registry (SQLite + artifacts on disk by default; a tracking
    server's own artifact root when `tracking_uri` is http(s) and `artifact_root` empty). `ui_url` is
    where links to runs and versions point: empty means `$KARMA_MLFLOW_UI_URL` (which `make ui` sets
    from its MLflow port) or http://127.0.0.1:5000."""

    tracking_uri: str = ""
    artifact_root: str = ""
    home: str = ".karma"
    experiment: str = "karma-pipelines"
    ui_url: str = ""

    def target(self) -> MlflowTarget:
        ui_url = self.ui_url or mlflow_ui_url()
        if self.tracking_uri:
            home_root = (Path(self.home).resolve() / "mlartifacts").as_uri()
            root = self.artifact_root or ("" if is_server(self.tracking_uri) else home_root)
            return MlflowTarget(self.tracking_uri, root, self.experiment, ui_url)
        local = MlflowTarget.local(Path(self.home), self.experiment)
        return MlflowTarget(local.tracking_uri, local.artifact_root, self.experiment, ui_url)
