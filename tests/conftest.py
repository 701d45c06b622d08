"""Shared pytest configuration."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "live_ui: starts the real Dagster and MLflow servers (`karma-pipelines ui`) and drives them over "
        "HTTP and with a headless Chromium (1.5-3 minutes); deselect with -m 'not live_ui'",
    )
