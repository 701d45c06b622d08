"""LightGBM on a Dask cluster (`lightgbm.dask`): the same spec, parameter sets and early stopping as the
in-process trainer, data-parallel over the cluster's workers (one LightGBM thread each).

The training rows are split into one partition per worker. Every worker evaluates the early-stopping
metric on a whole copy of the validation slice, so every worker sees the same scores and stops at the
same round (a worker stopping alone would leave the others waiting on the network); a copy per
partition leaves ROC-AUC and log loss what they are on one copy. Bagging draws from each worker's own
rows, so the trees are close to, not equal to, the single-machine ones (the tolerance is measured in
tests/test_prod_stack.py).
"""

from __future__ import annotations

import warnings

import lightgbm as lgb
import pandas as pd

from karma_pipelines.training.spec import ModelSpec

# LightGBM's names of its thread count. On Dask it takes its threads from each worker's `nthreads`
# (one: see `apps/prod.py`), so these are left out there.
THREAD_PARAMS = ("num_threads", "n_jobs", "nthread", "num_thread")


def fit_on_dask(
    scheduler: str,
    fit: pd.DataFrame,
    valid: pd.DataFrame,
    spec: ModelSpec,
    param_sets: list[dict],
    callbacks: list,
) -> list[lgb.Booster]:
    """One booster per parameter set, trained by `lightgbm.dask` on the cluster at `scheduler`
    (`tcp://host:port`), evaluated on `valid` (named `validation`, as in process) with the trainer's
    `callbacks` (its early stopping), which run on every worker."""
    import dask.dataframe as dd
    from distributed import Client
    from lightgbm.dask import DaskLGBMClassifier

    # lightgbm.dask waits on its parts through the current client.
    with Client(scheduler, set_as_default=False, timeout="30s") as client, client.as_current():
        workers = max(1, len(client.nthreads()))
        copies = pd.concat([valid] * workers, ignore_index=True)
        x, y, vx, vy = (
            client.persist(dd.from_pandas(part, npartitions=workers, sort=False))
            for part in (*_matrix(fit, spec), *_matrix(copies, spec))
        )
        boosters = []
        for params in param_sets:
            kept = {k: v for k, v in params.items() if k not in THREAD_PARAMS}
            model = DaskLGBMClassifier(client=client, n_estimators=spec.num_boost_round, **kept)
            with warnings.catch_warnings():  # the sklearn wrapper's own n_jobs, which Dask replaces
                warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored")
                model.fit(
                    x,
                    y,
                    eval_X=(vx,),
                    eval_y=(vy,),
                    eval_names=["validation"],
                    categorical_feature=spec.categorical_features or "auto",
                    callbacks=callbacks,
                )
            boosters.append(model.booster_)
        return boosters


def _matrix(frame: pd.DataFrame, spec: ModelSpec) -> tuple[pd.DataFrame, pd.Series]:
    """Features and 0/1 labels, positionally indexed (partitions of both are cut at the same rows)."""
    rows = frame.reset_index(drop=True)
    return rows[spec.features], rows[spec.target].astype("int64")
