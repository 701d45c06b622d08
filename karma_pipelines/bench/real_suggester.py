"""The `suggester` section of `make bench-real`: the masked-field protocol (`suggest-eval`) on one real
repository's configs at its tip, one row of figures (mean over 3 seeds), with `iac` also the unused
flags against what that other repository's Terraform reads."""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

SEEDS = 3


def _checkout(git_dir: Path, into: Path) -> Path:
    """The tree at HEAD of a Git directory, extracted into `into` (Terraform is read from files)."""
    archive = into / "tree.tar"
    subprocess.run(["git", f"--git-dir={git_dir}", "archive", "-o", str(archive), "HEAD"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def bench_repository(repo: Path, entry: dict, spec: dict) -> dict:
    """configs, cases, chosen rankers, Hit@1/Hit@5/MRR model vs baseline (and the LightGBM model
    alone), seconds; `entry` is the repository's `suggester:` block of assets/bench/real_repos.yaml."""
    from karma_pipelines.apps.suggest_eval import evaluate, load_corpora
    from karma_pipelines.bench.real import locate
    from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT
    from karma_pipelines.suggester.corpus import merge_corpora

    start = time.perf_counter()
    layouts = list(entry.get("layouts") or [DEFAULT_LAYOUT])  # several: their configs pooled
    corpus = merge_corpora([load_corpora([str(repo)], None, [layout], None) for layout in layouts])
    with tempfile.TemporaryDirectory() as tmp:
        iac = None
        if entry.get("iac"):
            iac_dir = locate(entry["iac"])
            if iac_dir is None:
                raise ValueError(f"iac {entry['iac']!r}: not fetched")
            iac = str(_checkout(iac_dir, Path(tmp)))
        result = evaluate(corpus, iac, SEEDS)
    row = {"configs": result["configs"], "types": result["types"], "cases": result["cases"]}
    row["rankers"] = result["rankers"]
    for who in ("model", "baseline", "lightgbm"):
        row.update({f"{who}_{m}": round(result[who][m], 4) for m in ("hit_at_1", "hit_at_5", "mrr")})
    row["hit_at_5_gain"] = round(result["model"]["hit_at_5"] - result["baseline"]["hit_at_5"], 4)
    row["mrr_gain"] = round(result["model"]["mrr"] - result["baseline"]["mrr"], 4)
    if "unused_vs_code" in result:
        row["unused_vs_code"] = {k: round(v, 4) for k, v in result["unused_vs_code"].items()}
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row
