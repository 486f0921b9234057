"""Names of the MLflow artifacts a run logs, in one place: the training run writes what the night,
the promotion gate and `recover explain` read back."""

from __future__ import annotations

# Read back by other runs: a rename here is a change of contract between runs.
PAYMENT_AMOUNT_ARTIFACT = "payment_amount.json"  # the share of the arrears a paying loan pays
DRIFT_REFERENCE_ARTIFACT = "drift_reference.json"  # the training distributions drift compares to
EVALUATION_BLOCK_ARTIFACT = "evaluation_block.parquet"  # out-of-time rows the gate re-scores
FAIRNESS_ARTIFACT = "fairness_at_training.json"  # group performance the night's review compares

# Written for people (the MLflow UI, model cards), not read back by the engine.
DATA_WINDOW_ARTIFACT = "data_window.json"
INPUT_VALIDATION_ARTIFACT = "input_validation.json"
FEATURE_CATALOG_ARTIFACT = "feature_catalog.json"
PROMOTION_GATE_ARTIFACT = "promotion_gate.json"
PROMOTION_GATE_TABLE_ARTIFACT = "promotion_gate.csv"
BEST_PARAMS_ARTIFACT = "best_params.json"
TRIALS_ARTIFACT = "trials.csv"
POLICY_EVALUATION_ARTIFACT = "policy_evaluation.json"
