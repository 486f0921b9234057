"""The review's plots as PNG bytes (matplotlib, SHAP's beeswarm)."""

from __future__ import annotations

import io

import pandas as pd

#: Queued loans drawn (seeded) for the review's beeswarm.
BEESWARM_ROWS = 5_000


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def review_figures(
    features: pd.DataFrame, contributions: pd.DataFrame, p_pay: pd.Series, priority: pd.Series
) -> dict[str, bytes]:
    """importance (bar), beeswarm, p_pay and priority histograms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    from review.report import global_importance

    figures: dict[str, bytes] = {}
    if len(contributions):
        importance = global_importance(contributions).head(15).iloc[::-1]
        fig, ax = plt.subplots(figsize=(6, 5))
        ax.barh(importance["feature"], importance["mean_abs_shap"], color="#3b6fb6")
        ax.set_xlabel("mean |SHAP| (log-odds)")
        ax.set_title("What moves p_pay most (queued loans)")
        figures["importance"] = _png(fig)

        # The swarm of a large night is a seeded sample: beyond a few thousand points a row is
        # solid ink, and drawing every queued loan cost seconds per 100k (the importance above
        # and the report's tables use every row).
        shown = (
            contributions.sample(n=BEESWARM_ROWS, random_state=0)
            if len(contributions) > BEESWARM_ROWS
            else contributions
        )
        data = features.loc[shown.index, shown.columns]
        numeric = data.apply(
            lambda c: pd.to_numeric(c, errors="coerce") if c.dtype != "bool" else c.astype(float)
        )
        explanation = shap.Explanation(
            values=shown.to_numpy(),
            data=numeric.to_numpy(dtype="float64"),
            feature_names=list(shown.columns),
        )
        plt.figure(figsize=(7, 5))
        shap.plots.beeswarm(explanation, max_display=12, show=False)
        if len(shown) < len(contributions):
            plt.title(f"A random {len(shown):,} of {len(contributions):,} queued loans", fontsize=9)
        figures["beeswarm"] = _png(plt.gcf())

    for key, values, label in (
        ("p_pay", p_pay, "p_pay (30 days), every overdue loan"),
        ("priority", priority, "priority score (incremental value), queued loans"),
    ):
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        clean = pd.Series(values, dtype="float64").dropna()
        ax.hist(clean, bins=30 if len(clean) else 1, color="#6b8e23")
        ax.set_title(label)
        ax.set_ylabel("loans")
        figures[key] = _png(fig)
    return figures


__all__ = ["BEESWARM_ROWS", "review_figures"]
