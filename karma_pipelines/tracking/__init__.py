"""MLflow tracking and registry helpers shared by every model (no Dagster here)."""
