"""Loopback host names only, for the Dagster webserver that `dagster dev` starts (DNS rebinding).

MLflow's server refuses a request whose `Host` is not a loopback name (403). Dagster's webserver has no
such option, and `dagster dev` starts it itself (`python -m dagster_webserver`), so the supervisor puts
this folder's `sitecustomize` on the servers' PYTHONPATH: in the webserver process, when
`dagster_webserver.cli` is imported, the app it builds is wrapped in Starlette's TrustedHostMiddleware
(HTTP and websockets; answer 400 "Invalid host header"). Other processes are untouched.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

LOOPBACK_HOSTS = ["127.0.0.1", "localhost"]
FOLDER = Path(__file__).resolve().parent  # holds sitecustomize.py: put it on the servers' PYTHONPATH
_TARGET = "dagster_webserver.cli"
_FACTORY = "create_app_from_workspace_process_context"


def guard(module) -> None:
    """Wrap the module's app factory so every app it makes refuses non-loopback `Host` headers."""
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    make = getattr(module, _FACTORY)

    def guarded(*args, **kwargs):
        return TrustedHostMiddleware(make(*args, **kwargs), allowed_hosts=LOOPBACK_HOSTS)

    setattr(module, _FACTORY, guarded)


class _GuardOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when `dagster_webserver.cli` is imported, runs `guard` right after it loads."""

    def find_spec(self, name, path=None, target=None):
        if name != _TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            guard(module)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    if not any(isinstance(f, _GuardOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _GuardOnImport())
