"""Training: splits, metrics, model specs and trainers (no Dagster, no MLflow)."""
