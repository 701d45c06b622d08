"""Where MLflow keeps runs and models: a SQLite backend with artifacts on disk by default."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

DEFAULT_HOME = Path(".karma")
DEFAULT_UI_URL = "http://127.0.0.1:5000"


@dataclass(frozen=True)
class MlflowTarget:
    tracking_uri: str
    artifact_root: str
    experiment: str = "karma-pipelines"
    ui_url: str = DEFAULT_UI_URL

    @classmethod
    def local(cls, home: Path = DEFAULT_HOME, experiment: str = "karma-pipelines") -> MlflowTarget:
        """`sqlite:///<home>/mlflow.db` with artifacts in `<home>/mlartifacts` (absolute paths)."""
        home = Path(home).resolve()
        home.mkdir(parents=True, exist_ok=True)
        return cls(
            tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
            artifact_root=(home / "mlartifacts").as_uri(),
            experiment=experiment,
        )

    def activate(self) -> str:
        """Point this process's MLflow at the target; create the experiment once. Returns its id."""
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        client = MlflowClient(self.tracking_uri)
        found = client.get_experiment_by_name(self.experiment)
        experiment_id = (
            found.experiment_id
            if found
            else client.create_experiment(self.experiment, artifact_location=self.artifact_root)
        )
        mlflow.set_experiment(experiment_id=experiment_id)
        return experiment_id

    def client(self) -> MlflowClient:
        return MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)

    def run_url(self, experiment_id: str, run_id: str) -> str:
        return f"{self.ui_url}/#/experiments/{experiment_id}/runs/{run_id}"

    def model_url(self, name: str, version: str | int) -> str:
        return f"{self.ui_url}/#/models/{name}/versions/{version}"
