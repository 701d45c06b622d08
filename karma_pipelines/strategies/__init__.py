"""Promotion strategies judged by long-term production health, from the event log only (no Dagster).

`promotions.promotions_table` reads each promotion to prod (its strategy class, covariates and
outcomes over the following weeks); `estimate.estimate_strategies` estimates, by cross-fitted
doubly robust (AIPW) estimation, the mean outcome had every promotion used each strategy, with
cluster-robust confidence intervals; `report.compute` makes the asset's result and recommendation.
"""
