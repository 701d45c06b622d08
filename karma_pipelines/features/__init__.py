"""Point-in-time features: a deploy's features use only what was known before it."""

from karma_pipelines.features.rollback import LABEL_COLUMNS, build_rollback_features

__all__ = ["LABEL_COLUMNS", "build_rollback_features"]
