"""Proxy check: how much the model's inputs reveal each protected attribute.

A feature that is not a protected attribute can still stand in for one (a proxy). Two measures
per attribute: the mutual information between each feature and the attribute (in nats; 0 =
independent), and how well a small LightGBM predicts the attribute from all features together
(out-of-fold AUC; 0.5 = not at all). Strong proxies are flagged for the review.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sklearn.feature_selection import mutual_info_classif
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from models.boosting import lgbm_classifier

MIN_GROUP_ROWS = 10
PROXY_MODEL_PARAMS = {
    "n_estimators": 60,
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_child_samples": 50,
    "n_jobs": 2,
}


def _encoded(features: pd.DataFrame) -> pd.DataFrame:
    """Numbers only: categories as codes, booleans as 0/1, missing as the column median."""
    out = {}
    for name in features.columns:
        column = features[name]
        if column.dtype == "bool" or pd.api.types.is_numeric_dtype(column):
            values = column.astype("float64")
        else:
            values = pd.Series(
                pd.Categorical(column.astype("str")).codes, index=column.index, dtype="float64"
            )
        out[name] = values.fillna(values.median() if values.notna().any() else 0.0)
    return pd.DataFrame(out, index=features.index)


def proxy_check(
    features: pd.DataFrame,
    groups: pd.DataFrame,
    attributes: Sequence[str],
    *,
    mi_threshold: float = 0.05,
    auc_threshold: float = 0.7,
    max_rows: int = 20_000,
    seed: int = 7,
) -> dict:
    """Per attribute: mutual information of every feature, the out-of-fold AUC of predicting the
    attribute from all features (macro one-vs-rest for more than two groups), and the flags.

    Rows whose attribute is unknown are left out; at most ``max_rows`` rows (sampled) are used.
    """
    report: dict[str, dict] = {}
    matrix = _encoded(features)
    for attribute in attributes:
        target = groups.loc[features.index, attribute].astype("str")
        known = target != "unknown"
        rows = matrix[known.to_numpy()]
        labels = target[known]
        if len(rows) > max_rows:
            picked = rows.sample(max_rows, random_state=seed).index
            rows, labels = rows.loc[picked], labels.loc[picked]
        counts = labels.value_counts()
        # Groups too small to learn from are left out of this check (and named).
        small = counts[counts < MIN_GROUP_ROWS]
        keep = ~labels.isin(small.index)
        rows, labels, counts = rows[keep.to_numpy()], labels[keep], counts[counts >= MIN_GROUP_ROWS]
        if len(counts) < 2:
            report[attribute] = {
                "rows": int(len(rows)),
                "skipped": f"fewer than two groups of {MIN_GROUP_ROWS}+ rows",
            }
            continue
        codes = pd.Categorical(labels).codes
        information = mutual_info_classif(rows.to_numpy(), codes, random_state=seed)
        mi = pd.Series(information, index=rows.columns).sort_values(ascending=False)
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
        objective = "binary" if len(counts) == 2 else "multiclass"
        model = lgbm_classifier(objective, seed, **PROXY_MODEL_PARAMS)
        proba = cross_val_predict(model, rows, codes, cv=folds, method="predict_proba")
        if len(counts) == 2:
            auc = roc_auc_score(codes, proba[:, 1])
        else:
            auc = roc_auc_score(codes, proba, multi_class="ovr", average="macro")
        report[attribute] = {
            "rows": int(len(rows)),
            "groups": {str(k): int(v) for k, v in counts.items()},
            "groups_left_out": {str(k): int(v) for k, v in small.items()},
            "mutual_information": {name: round(float(v), 5) for name, v in mi.items()},
            "strong_proxies": [name for name, v in mi.items() if v >= mi_threshold],
            "predictability_auc": round(float(auc), 4),
            "predictable": bool(auc >= auc_threshold),
        }
    return report
