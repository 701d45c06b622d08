"""What-if impact of a proposed config change (blast radius, rollback risk, field suggestions,
promotion path) and safe dependency-graph rewrites, computed from a source's history as it is now.
Library code only: `defs/whatif.py` holds the Dagster asset, `apps/whatif.py` the CLI commands."""
