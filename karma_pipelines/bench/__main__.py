"""`python -m karma_pipelines.bench [section ...]` (`make bench`): every section, or the ones named, each
printed as `== section` and one `name  json` line per figure."""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# section -> (module of karma_pipelines.bench, function of a temporary folder); imported when run
SECTIONS: dict[str, tuple[str, str]] = {
    "simulated": ("forecaster", "bench_simulated"),
    "git": ("forecaster", "bench_git"),
    "training_100k": ("forecaster", "bench_training_100k"),
    "scoring": ("orchestration", "bench_scoring"),
    "suggester": ("suggester", "bench_section"),
    "incremental": ("orchestration", "bench_incremental"),
    "bad_input": ("bad_input", "bench_bad_input"),
    "strategies": ("strategies", "bench_strategies"),
    "whatif": ("whatif", "bench_whatif"),
    "graph_embeddings": ("graph", "bench_graph_embeddings"),
    "graph_anomalies": ("graph", "bench_graph_anomalies"),
    "scale": ("scale", "bench_scale"),  # KARMA_BENCH_SCALE_SIZES=20000,100000 picks the sizes
}


def section(name: str) -> Callable[[Path], dict]:
    module, function = SECTIONS[name]
    return getattr(importlib.import_module(f"karma_pipelines.bench.{module}"), function)


def main(argv: list[str] | None = None) -> int:
    wanted = list(argv if argv is not None else sys.argv[1:]) or list(SECTIONS)
    unknown = [name for name in wanted if name not in SECTIONS]
    if unknown:
        print(f"unknown bench section(s) {unknown}; one of {list(SECTIONS)}", file=sys.stderr)
        return 2
    if "training_100k" in wanted and "simulated" not in wanted:
        wanted.insert(0, "simulated")  # it reuses the default world's features
    with tempfile.TemporaryDirectory() as tmp:
        for name in wanted:
            figures = section(name)(Path(tmp))
            print(f"== {name}", flush=True)
            for key, value in figures.items():
                print(f"  {key:48s} {json.dumps(value, default=str)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
