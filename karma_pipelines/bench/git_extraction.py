"""How fast Git extraction is, against the floor of `git log --first-parent --numstat` on the same range.

`python -m karma_pipelines.bench.git_extraction [commits]` prints the figures as JSON for a synthetic
repository built for the run; `--repo=PATH` measures an existing repository instead, read with the
forecaster layouts of `--layouts-of=owner/name` in `assets/bench/real_repos.yaml` (default: the
default layout), e.g. `--repo=/work/.mirror/alphagov+govuk-helm-charts/repo
--layouts-of=alphagov/govuk-helm-charts`.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from karma_pipelines.bench.common import peak_rss_mib
from karma_pipelines.bench.real import SPEC
from karma_pipelines.sources.git.extract import extract_git_history
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT
from karma_pipelines.sources.git.log import git_env
from karma_pipelines.sources.git.parse import load_text
from karma_pipelines.sources.git.synthetic_repo import make_repo


def bench_git_extraction(
    commits: int = 10_000,
    components: int = 200,
    seed: int = 0,
    repeats: int = 2,
    repo: Path | None = None,
    layout: str | list[str] = DEFAULT_LAYOUT,
) -> dict:
    """Figures for one synthetic repository (or `repo`, read with `layout`): best-of-`repeats` times,
    peak memory.

    Times are wall-clock; the processor times (`extract_cpu_seconds`: Python's, `extract_git_cpu_seconds`:
    git's) come from one more run; the peak Python memory comes from a separate run under `tracemalloc`
    (which slows Python down, so it is not timed); `max_rss_mib` is this process's peak resident set.
    """
    with tempfile.TemporaryDirectory() as tmp:
        build_s = None
        if repo is None:
            repo = Path(tmp) / "repo"
            start = time.perf_counter()
            make_repo(repo, commits=commits, components=components, seed=seed)
            build_s = time.perf_counter() - start
        numstat = ["git", "-C", str(repo), "log", "--first-parent", "--numstat", "--format=%H", "HEAD"]
        subprocess.run(numstat, stdout=subprocess.DEVNULL, check=True, env=git_env())  # warm the caches
        numstat_s = _best(repeats, lambda: subprocess.run(numstat, stdout=subprocess.DEVNULL, env=git_env()))
        result = None

        def extract():
            nonlocal result
            result = extract_git_history(repo, layout)

        extract_s, cpu = _best(repeats, extract), _cpu_seconds()
        extract_git_history(
            repo, layout
        )  # once more for its processor time (a shared machine's wall time is not)
        cpu = [now - then for now, then in zip(_cpu_seconds(), cpu, strict=True)]
        tracemalloc.start()
        extract_git_history(repo, layout)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {
        "commits": result.commits,
        "deploys": len(result.deploy_records),
        "quarantined": len(result.quarantined),
        "build_repo_seconds": None if build_s is None else round(build_s, 3),
        "extract_seconds": round(extract_s, 3),
        "commits_per_second": round(result.commits / extract_s, 1),
        "git_log_numstat_seconds": round(numstat_s, 3),
        "ratio_to_numstat": round(extract_s / numstat_s, 2),
        "extract_cpu_seconds": round(cpu[0], 3),  # this process's (user + system), one run
        "extract_git_cpu_seconds": round(cpu[1], 3),  # git's (log and cat-file), the same run
        "peak_python_mib": round(peak / 2**20, 1),
        "max_rss_mib": peak_rss_mib(),
    }


def _cpu_seconds() -> tuple[float, float]:
    """(this process's, its finished children's) processor time so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _best(repeats: int, fn) -> float:
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str]) -> dict:
    """The figures for `[commits] [--repo=PATH] [--layouts-of=owner/name]` (see the module's docstring)."""
    options = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    unknown = set(options) - {"repo", "layouts-of"}
    if unknown:
        raise SystemExit(
            f"unknown option(s) {sorted(unknown)}: expected --repo=PATH, --layouts-of=owner/name"
        )
    numbers = [a for a in argv if not a.startswith("--")]
    layout: str | list[str] = DEFAULT_LAYOUT
    if "layouts-of" in options:
        spec = load_text(SPEC.read_text(encoding="utf-8"), str(SPEC))
        layout = spec[options["layouts-of"]]["forecaster"]["layouts"]
    repo = Path(options["repo"]) if "repo" in options else None
    return bench_git_extraction(int(numbers[0]) if numbers else 10_000, repo=repo, layout=layout)


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
