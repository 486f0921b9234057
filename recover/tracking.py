"""MLflow adapter: where runs go, how models are registered, how the champion is loaded."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from recover.config import Config

# Pinned requirements of a logged model, so MLflow need not infer them (slow: it re-imports the
# model in a subprocess) and a served model gets the versions it was trained with.
_MODEL_REQUIREMENTS = ("lightgbm", "scikit-learn", "pandas", "numpy", "shap")


@dataclass(frozen=True)
class ChampionModel:
    """A registered model version resolved through an alias."""

    model: object
    name: str
    version: str
    run_id: str

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"


# mlflow.set_tracking_uri() also exports MLFLOW_TRACKING_URI; remember what we exported so a
# later configuration (another state folder) is not mistaken for the user's own setting.
_exported_uri: str | None = None


def _user_tracking_uri() -> str | None:
    value = os.environ.get("MLFLOW_TRACKING_URI")
    return value if value and value != _exported_uri else None


def tracking_uri(config: Config) -> str:
    """$MLFLOW_TRACKING_URI (when the user set it), else a SQLite store in the state folder."""
    return _user_tracking_uri() or f"sqlite:///{config.resolved_state_dir() / 'mlflow.db'}"


def artifact_root(config: Config) -> Path:
    return config.resolved_state_dir() / "mlartifacts"


def configure(config: Config) -> str:
    """Point MLflow at the configured store and return the experiment id (created if new)."""
    import mlflow

    global _exported_uri
    config.resolved_state_dir().mkdir(parents=True, exist_ok=True)
    user_uri = _user_tracking_uri()
    uri = tracking_uri(config)
    mlflow.set_tracking_uri(uri)
    _exported_uri = None if user_uri else uri
    experiment = mlflow.get_experiment_by_name(config.mlflow.experiment)
    if experiment is not None:
        return experiment.experiment_id
    location = None if user_uri else artifact_root(config).as_uri()
    return mlflow.create_experiment(config.mlflow.experiment, artifact_location=location)


def model_requirements() -> list[str]:
    """Exact versions of the libraries a logged model needs."""
    return [f"{name}=={metadata.version(name)}" for name in _MODEL_REQUIREMENTS]


def point_alias(config: Config, name: str, alias: str, version: str) -> None:
    """Move ``alias`` of registered model ``name`` to ``version``."""
    from mlflow import MlflowClient

    MlflowClient(tracking_uri(config)).set_registered_model_alias(name, alias, version)


def load_version(config: Config, name: str, alias: str) -> ChampionModel | None:
    """The model version ``alias`` of registered model ``name`` points at, loaded; None when
    the model or the alias does not exist."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    configure(config)
    client = MlflowClient(tracking_uri(config))
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    model = mlflow.sklearn.load_model(f"models:/{name}/{version.version}")
    return ChampionModel(model=model, name=name, version=str(version.version), run_id=version.run_id)


def load_champion(config: Config, name: str | None = None) -> ChampionModel:
    """Load the model version the champion alias points at; a clear error when there is none."""
    name = name or config.mlflow.propensity_model_name
    alias = config.mlflow.champion_alias
    champion = load_version(config, name, alias)
    if champion is None:
        raise LookupError(
            f"no model '{name}' with alias '{alias}' in {tracking_uri(config)}: run `recover train` first"
        )
    return champion


def log_training_run(
    config: Config,
    outcome,
    *,
    as_of,
    data_source: str,
    params: dict,
    input_example,
    validation: dict | None = None,
    model_name: str | None = None,
    kind: str = "train",
    extra_params: dict | None = None,
    artifacts: dict[str, dict] | None = None,
) -> ChampionModel:
    """Log a training run (params, metrics, data window, input validation counts, catalog,
    model, and ``artifacts``: JSON documents by file name, e.g. the fairness check), register
    the model (``model_name``, default the propensity model) and point the champion alias at
    the new version."""
    import mlflow
    from mlflow.models import infer_signature

    from features.catalog import CATALOG_VERSION, FEATURES

    experiment_id = configure(config)
    name = model_name or config.mlflow.propensity_model_name
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{kind}-{as_of}") as run:
        mlflow.set_tags({"recover.kind": kind, "recover.as_of": str(as_of), "recover.model": name})
        if extra_params:
            mlflow.log_params(extra_params)
        mlflow.log_params({f"lgbm.{k}": v for k, v in params.items()})
        mlflow.log_params(
            {
                "as_of": str(as_of),
                "data_source": data_source,
                "label_window_days": config.label.window_days,
                "label_qualifying_amount": config.label.qualifying_amount,
                "feature_catalog_version": CATALOG_VERSION,
                "n_features": len(FEATURES),
                "random_state": config.training.seed,
            }
        )
        mlflow.log_metrics(outcome.metrics)
        mlflow.log_dict(outcome.data_summary, "data_window.json")
        if validation is not None:
            mlflow.log_dict(validation, "input_validation.json")
        for file_name, document in (artifacts or {}).items():
            mlflow.log_dict(document, file_name)
        mlflow.log_dict(
            {
                f.name: {"description": f.description, "unit": f.unit, "monotone": f.monotone}
                for f in FEATURES
            },
            "feature_catalog.json",
        )
        signature = infer_signature(input_example, outcome.model.predict_proba(input_example))
        info = mlflow.sklearn.log_model(
            outcome.model,
            name="model",
            registered_model_name=name,
            signature=signature,
            pip_requirements=model_requirements(),
            serialization_format="cloudpickle",
        )
    version = str(info.registered_model_version)
    point_alias(config, name, config.mlflow.champion_alias, version)
    return ChampionModel(model=outcome.model, name=name, version=version, run_id=run.info.run_id)


def log_policy_evaluation(config: Config, table, facts: dict, files: dict) -> str:
    """Log a policy evaluation: per-policy metrics, the seeds and settings, the table and plot."""
    import mlflow

    experiment_id = configure(config)
    book = facts["book"]
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"evaluate-policy-{book['as_of']}") as run:
        mlflow.set_tags({"recover.kind": "evaluate-policy", "recover.as_of": book["as_of"]})
        mlflow.log_params(
            {
                "n_loans": book["n_loans"],
                "horizon_days": book["horizon_days"],
                **{f"seed.{k}": v for k, v in facts["seeds"].items()},
                **{f"capacity.{k}": v for k, v in facts["capacity_per_day"].items()},
                **{f"cost.{k}": v for k, v in facts["channel_cost"].items()},
            }
        )
        metrics = {}
        for policy, row in table.iterrows():
            for column in (
                "net_recovery",
                "recovered",
                "contact_cost",
                "contacts",
                "cures",
                "share_of_oracle_gain",
            ):
                if column in row and row[column] == row[column]:  # skip NaN
                    metrics[f"{policy}.{column}"] = float(row[column])
        for model, report in facts.get("uplift_on_randomised_units", {}).items():
            for key, value in report.items():
                if value == value:
                    metrics[f"uplift.{model}.{key}"] = float(value)
        mlflow.log_metrics(metrics)
        mlflow.log_dict(facts, "policy_evaluation.json")
        for key in ("results", "daily", "plot"):
            mlflow.log_artifact(str(files[key]))
        return run.info.run_id


def load_run_document(config: Config, run_id: str | None, file_name: str) -> dict | None:
    """A JSON artifact of an MLflow run (e.g. the champion's fairness check); None when the run
    has no such file (a model trained before it was logged)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    configure(config)
    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{file_name}")
    except (MlflowException, OSError):
        return None


def log_scoring_review(config: Config, review: dict, files: list) -> str:
    """Log a nightly run's fair-practice review (run kind ``score``): coverage, flagged
    disparities and the report files."""
    import mlflow

    experiment_id = configure(config)
    run = review["run"]
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"score-{run['as_of']}") as active:
        mlflow.set_tags(
            {"recover.kind": "score", "recover.as_of": run["as_of"], "recover.run_id": run["run_id"]}
        )
        mlflow.log_params({"model": run["model"], "channel_model": run["channel_model"]})
        explanations = review["explanations"]
        mlflow.log_metrics(
            {
                "overdue": run["overdue"],
                "queued": run["queued"],
                "share_with_three_reasons": explanations["share_with_three_reasons"],
                "share_with_three_channel_reasons": explanations["share_with_three_channel_reasons"],
                "disparities_flagged": len(review["disparities"]["flagged"]),
            }
        )
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="review")
        return active.info.run_id
