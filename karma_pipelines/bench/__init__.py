"""`make bench`: speed, memory and quality figures of every stage. Figures belong here, not in tests.

`python -m karma_pipelines.bench [section ...]` runs every section, or the ones named:

- `forecaster`: `simulated` (the default world end to end, with the oracle and the ablation of feature
  groups), `git` (Git extraction, then a backtest on a generated 10,000-commit history), `training_100k`;
- `git_extraction`: extraction against `git log --numstat` (`python -m karma_pipelines.bench.git_extraction`);
- `orchestration`: `scoring` (one commit: CLI wall time and warm), `incremental` (a sensor-triggered run);
- `suggester`: the config-field suggester (`python -m karma_pipelines.bench.suggester [--quick]`);
- `common`: timing, peak memory, quality figures and the ablation they share.
"""
