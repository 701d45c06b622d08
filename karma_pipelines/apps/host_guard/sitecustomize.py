"""Started in every Python process of `karma-pipelines ui`'s Dagster server (PYTHONPATH): guards the
webserver's app when it is built (see `karma_pipelines.apps.host_guard`)."""

from karma_pipelines.apps.host_guard import install

install()
