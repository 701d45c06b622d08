"""Data validation with Great Expectations 1.x: suites in assets/expectations, quarantine of rows.

Importing this package does not import GX (about 3 s); `validate_table` does, on first use.
"""

from karma_pipelines.validation.gx_runner import SuiteExecutionError
from karma_pipelines.validation.quarantine import ValidationOutcome, validate_table
from karma_pipelines.validation.suites import (
    SUITES_DIR,
    MissingSuiteParameter,
    Suite,
    load_suite,
    standard_parameters,
)

__all__ = [
    "SUITES_DIR",
    "MissingSuiteParameter",
    "Suite",
    "SuiteExecutionError",
    "ValidationOutcome",
    "load_suite",
    "standard_parameters",
    "validate_table",
]
