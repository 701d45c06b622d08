"""Where MLflow keeps runs and models: a SQLite backend with artifacts on disk by default; and where the
two UIs are, so links between them follow `make ui`'s ports (`KARMA_MLFLOW_UI_URL`,
`KARMA_DAGSTER_UI_URL`)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

DEFAULT_HOME = Path(".karma")
DEFAULT_UI_URL = "http://127.0.0.1:5000"
DEFAULT_DAGSTER_UI_URL = "http://127.0.0.1:3000"
MLFLOW_UI_URL_ENV, DAGSTER_UI_URL_ENV = "KARMA_MLFLOW_UI_URL", "KARMA_DAGSTER_UI_URL"
# MLflow 3 opens an experiment without this tag on its GenAI (traces) page; ours are classic ML.
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
EXPERIMENT_DESCRIPTION = (
    "karma-pipelines: LightGBM models (the rollback forecaster, the config-field suggester) trained on a "
    "Karma deploy history. Each run says what it was trained and tested on; a registered version's "
    "promotion to champion is decided by the gate and written in its description."
)


def mlflow_ui_url() -> str:
    """The MLflow UI's address: `$KARMA_MLFLOW_UI_URL` (set by `karma-pipelines ui`) or the default."""
    return (os.environ.get(MLFLOW_UI_URL_ENV) or DEFAULT_UI_URL).rstrip("/")


def dagster_ui_url() -> str:
    """The Dagster UI's address: `$KARMA_DAGSTER_UI_URL` (set by `karma-pipelines ui`) or the default."""
    return (os.environ.get(DAGSTER_UI_URL_ENV) or DEFAULT_DAGSTER_UI_URL).rstrip("/")


def quiet_mlflow_logging() -> None:
    """MLflow's and alembic's chatter is not the user's business: its database set-up ("Creating initial
    MLflow database tables"), environment inference and uv detection. Warnings of our own stay."""
    # With a tracking server MLflow writes "View run ... at: <url>" to stdout, where `run --json` writes
    # its one document; the links are in the summary and the Dagster metadata.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    if os.environ.get("MLFLOW_LOGGING_LEVEL"):  # asked for explicitly: left as asked
        return
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # The model's environment is given (`lightgbm_runs.pip_requirements`), so MLflow's only remaining
    # remark is that pip is not installed (a uv environment): not actionable.
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)


def is_server(tracking_uri: str) -> bool:
    """A tracking server (over HTTP), not a database or folder this process opens itself."""
    return tracking_uri.startswith(("http://", "https://"))


@dataclass(frozen=True)
class MlflowTarget:
    tracking_uri: str
    artifact_root: str
    experiment: str = "karma-pipelines"
    ui_url: str = field(default_factory=mlflow_ui_url)

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

    @classmethod
    def for_home(cls, home: Path = DEFAULT_HOME, experiment: str = "karma-pipelines") -> MlflowTarget:
        """The profile's MLflow (`karma_pipelines.profile`): its tracking server when it names one (a
        server keeps the artifacts where its own configuration says), else `local(home)`."""
        from karma_pipelines.profile import current_profile

        uri = current_profile().tracking_uri
        if not uri:
            return cls.local(home, experiment)
        root = "" if is_server(uri) else (Path(home).resolve() / "mlartifacts").as_uri()
        return cls(tracking_uri=uri, artifact_root=root, experiment=experiment)

    def activate(self) -> str:
        """Point this process's MLflow at the target; create the experiment once (tagged as classic
        model development, with a description). Returns its id."""
        quiet_mlflow_logging()
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        client = MlflowClient(self.tracking_uri)
        found = client.get_experiment_by_name(self.experiment)
        if found is None:
            experiment_id = client.create_experiment(
                self.experiment,
                artifact_location=self.artifact_root or None,  # None: the server's artifact root
                tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND, "mlflow.note.content": EXPERIMENT_DESCRIPTION},
            )
        else:
            experiment_id = found.experiment_id
            if EXPERIMENT_KIND_TAG not in found.tags:  # a store made before the tag was set
                client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        mlflow.set_experiment(experiment_id=experiment_id)
        return experiment_id

    def client(self) -> MlflowClient:
        quiet_mlflow_logging()
        return MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)

    def run_url(self, experiment_id: str, run_id: str) -> str:
        return f"{self.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"

    def model_url(self, name: str, version: str | int) -> str:
        return f"{self.ui_url.rstrip('/')}/#/models/{name}/versions/{version}"
