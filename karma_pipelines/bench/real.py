"""`python -m karma_pipelines.bench.real [owner/name | path ...]` (`make bench-real REPOS=...`): the
suggester's masked-field protocol and the forecaster's backtest on real repositories, one block per
repository and section, as `== owner/name section` and one `name  json` line per figure.

Which repositories and how to read them: `assets/bench/real_repos.yaml`. A repository is found as a Git
directory under $KARMA_REAL_MIRROR (default /work/.mirror, where the `fetch` tool puts them) as
`<owner>+<name>/repo`; a path given instead of a name is used as it is (its layouts from the spec entry
of the same name, else the defaults of each section).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

from karma_pipelines.sources.git.parse import load_text

SPEC = Path(__file__).resolve().parents[2] / "assets" / "bench" / "real_repos.yaml"
# section -> (module of karma_pipelines.bench, function(repo: Path, entry: dict, spec: dict) -> figures)
SECTIONS = {
    "suggester": ("real_suggester", "bench_repository"),
    "forecaster": ("real_forecaster", "bench_repository"),
}


def mirror_root() -> Path:
    return Path(os.environ.get("KARMA_REAL_MIRROR", "/work/.mirror"))


def locate(name: str) -> Path | None:
    """The Git directory of `owner/name` under the mirror root, or None when it was not fetched."""
    candidate = mirror_root() / name.replace("/", "+") / "repo"
    return candidate if candidate.exists() else None


def repositories(wanted: list[str], spec: dict) -> list[tuple[str, Path | None, dict]]:
    """(name, path or None when absent, spec entry) for every repository asked for (all by default)."""
    out = []
    for item in wanted or list(spec):
        path = Path(item)
        if path.exists():
            name = next((n for n in spec if n.replace("/", "+") in str(path)), item)
            out.append((name, path, spec.get(name, {})))
        else:
            out.append((item, locate(item), spec.get(item, {})))
    return out


def main(argv: list[str] | None = None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    sections = [a.split("=", 1)[1] for a in args if a.startswith("--section=")] or list(SECTIONS)
    wanted = [a for a in args if not a.startswith("--")]
    spec = load_text(SPEC.read_text(encoding="utf-8"), str(SPEC))
    missing = 0
    for name, path, entry in repositories(wanted, spec):
        if path is None:
            expected = mirror_root() / name.replace("/", "+") / "repo"
            print(f"== {name}: not fetched (expected {expected})", flush=True)
            missing += 1
            continue
        for section in sections:
            if entry and section not in entry:
                continue  # a repository of the spec is measured in the sections it names
            module, function = SECTIONS[section]
            run = getattr(importlib.import_module(f"karma_pipelines.bench.{module}"), function)
            figures = run(path, entry.get(section, {}), spec)
            print(f"== {name} {section}", flush=True)
            for key, value in figures.items():
                print(f"  {key:48s} {json.dumps(value, default=str)}", flush=True)
    return 1 if missing and wanted else 0


if __name__ == "__main__":
    sys.exit(main())
