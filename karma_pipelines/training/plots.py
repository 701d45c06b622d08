"""Plots of a forecaster's evaluation: feature importance, calibration, capture curve (figures, which
MLflow's `log_figure` stores as PNG)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from karma_pipelines.training.metrics import calibration_table  # noqa: E402


def importance_plot(importance: pd.DataFrame, top: int = 20) -> plt.Figure:
    shown = importance.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(shown) + 1.2))
    ax.barh(shown["feature"], shown["gain"], color="#4c72b0")
    ax.set_xlabel("total gain")
    ax.set_title("Feature importance (LightGBM gain)")
    fig.tight_layout()
    return fig


def calibration_plot(labels, scores) -> plt.Figure:
    table = calibration_table(labels, scores)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect")
    ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", label="model (deciles)")
    ax.set_xlabel("mean predicted risk")
    ax.set_ylabel("observed rollback rate")
    ax.set_title("Calibration on the test period")
    ax.legend()
    fig.tight_layout()
    return fig


def capture_curve_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> plt.Figure:
    """Share of rollbacks caught against share of deploys flagged, riskiest first, per scorer."""
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, (labels, scores) in curves.items():
        y = np.asarray(labels, dtype=float)[np.argsort(-np.asarray(scores, dtype=float), kind="stable")]
        caught = np.cumsum(y) / max(y.sum(), 1)
        flagged = np.arange(1, len(y) + 1) / len(y)
        ax.plot(flagged, caught, label=name)
    for k in (0.05, 0.10, 0.50):
        ax.axvline(k, color="grey", lw=0.5, ls=":")
    ax.set_xlabel("share of deploys flagged (riskiest first)")
    ax.set_ylabel("share of rollbacks caught")
    ax.set_title("Capture curve")
    ax.legend()
    fig.tight_layout()
    return fig
