"""Deploy records and config snapshots: the source-independent tables and their labels."""

from karma_pipelines.records.from_events import deploy_tables_from_events
from karma_pipelines.records.labels import DEFAULT_HORIZON, apply_rollback_labels

__all__ = ["DEFAULT_HORIZON", "apply_rollback_labels", "deploy_tables_from_events"]
