"""MLflow adapter: where runs go, how models are registered, how the champion is loaded."""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from data_contracts.artifacts import (
    BEST_PARAMS_ARTIFACT,
    DATA_WINDOW_ARTIFACT,
    FEATURE_CATALOG_ARTIFACT,
    INPUT_VALIDATION_ARTIFACT,
    POLICY_EVALUATION_ARTIFACT,
    PROMOTION_GATE_ARTIFACT,
    PROMOTION_GATE_TABLE_ARTIFACT,
    TRIALS_ARTIFACT,
)
from recover.config import PROJECT_ROOT, Config

if TYPE_CHECKING:
    import datetime as dt

    from monitoring.outcomes import BackfillReport
    from review.report import ReviewDocument

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


def run_link(config: Config, mlflow_run_id: str) -> dict:
    """Where to find an MLflow run: its id, the experiment and tracking URI, and with
    ``mlflow.ui_url`` a URL of the run's page in the MLflow UI."""
    experiment_id = configure(config)
    url = None
    if config.mlflow.ui_url:
        url = f"{config.mlflow.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{mlflow_run_id}"
    return {
        "run_id": mlflow_run_id,
        "experiment": config.mlflow.experiment,
        "experiment_id": experiment_id,
        "tracking_uri": tracking_uri(config),
        "url": url,
    }


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


def load_version_number(config: Config, name: str, version: str) -> ChampionModel:
    """Registered model ``name`` at ``version``, loaded."""
    import mlflow
    from mlflow import MlflowClient

    configure(config)
    found = MlflowClient(tracking_uri(config)).get_model_version(name, str(version))
    model = mlflow.sklearn.load_model(f"models:/{name}/{found.version}")
    return ChampionModel(model=model, name=name, version=str(found.version), run_id=found.run_id)


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


_PROJECT_ROOT = PROJECT_ROOT


def _git(*args: str) -> str | None:
    """``git -C <project root> args`` output, or None (no git, not a checkout, any error)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(_PROJECT_ROOT), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.cache
def code_version() -> str:
    """Which code trains: ``git:<commit>`` (``+dirty`` with uncommitted changes to tracked files)
    when the project is a git checkout of its own, else ``recover <package version>``. Never
    fails: without git or a checkout it falls back to the version. Read once per process (the
    code a process runs is the code it imported)."""
    top = _git("rev-parse", "--show-toplevel")
    if top and Path(top).resolve() == _PROJECT_ROOT:  # not a repository that merely holds the venv
        commit = _git("rev-parse", "HEAD")
        if commit:
            dirty = _git("status", "--porcelain", "--untracked-files=no")
            return f"git:{commit}{'+dirty' if dirty else ''}"
    try:
        return f"recover {metadata.version('recover')}"
    except metadata.PackageNotFoundError:
        return "recover (unknown version)"


def code_tags() -> dict[str, str]:
    """The run tags naming the code: ``recover.code_version`` (:func:`code_version`) and
    ``recover.code_fingerprint`` (a digest of the engine's source and configs)."""
    from adapters.code_version import code_fingerprint

    return {"recover.code_version": code_version(), "recover.code_fingerprint": code_fingerprint()}


def _dataset_source(data_source: str):
    """The MLflow dataset source of ``data_source``: a folder as its absolute path (MLflow makes it
    a local source); a database URL (password hidden) or the engine's store as a source of its own
    kind (MLflow has none for them)."""
    from mlflow.data.dataset_source import DatasetSource

    from adapters.io import STORE_SOURCE
    from adapters.sources import is_database_url

    if not is_database_url(data_source) and data_source != STORE_SOURCE:
        return str(Path(data_source).resolve())
    uri = data_source
    if is_database_url(data_source):
        import sqlalchemy as sa

        with contextlib.suppress(Exception):
            uri = sa.engine.make_url(data_source).render_as_string(hide_password=True)

    class RecoverTablesSource(DatasetSource):
        """The six input tables as `recover` read them (a database or the engine's store)."""

        def __init__(self, uri: str):
            self.uri = uri

        @staticmethod
        def _get_source_type() -> str:
            return "recover_tables"

        def load(self, **kwargs):
            raise NotImplementedError("read the tables with adapters.io.read_source")

        @staticmethod
        def _can_resolve(raw_source) -> bool:
            return False

        @classmethod
        def _resolve(cls, raw_source):
            raise NotImplementedError

        def to_dict(self) -> dict:
            return {"uri": self.uri}

        @classmethod
        def from_dict(cls, source_dict: dict):
            return cls(source_dict["uri"])

    return RecoverTablesSource(uri)


def log_book(tables: Mapping[str, object], data_source: str) -> str:
    """On the active run: the validated input tables it learned from as an MLflow dataset (rows,
    columns and digest per table, context ``training``; its digest is the first 32 hex digits of
    the book's, MLflow keeps at most 36) and the tag ``recover.data_digest`` (the whole SHA-256).
    Returns the digest."""
    import warnings

    import mlflow

    from data_contracts.digest import book_profile, tables_digest

    digest = tables_digest(tables)
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values: these counts never do.
        warnings.filterwarnings("ignore", message=".*integer column.*")
        # A local folder matches MLflow's local source twice over; it says so, and takes it.
        warnings.filterwarnings("ignore", message=".*can be interpreted in multiple ways.*")
        dataset = mlflow.data.from_pandas(
            book_profile(tables), source=_dataset_source(data_source), name="input-tables", digest=digest[:32]
        )
        mlflow.log_input(dataset, context="training")
    mlflow.set_tag("recover.data_digest", digest)
    return digest


def baseline_verdict(config: Config, metrics: Mapping[str, float]) -> list[str]:
    """The warnings of a propensity run's test metrics against its baselines (the gate's margins,
    ``promotion.limit``): empty when it beats them, or when the run measured no baseline."""
    from models.gate import baseline_warnings, training_baseline_excess

    if "test_plain_lightgbm_auc" not in metrics and "test_heuristic_dpd_auc" not in metrics:
        return []
    excess = training_baseline_excess(metrics)
    return baseline_warnings(excess, config.promotion.limit.given())


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
    frames: dict[str, object] | None = None,
    files: dict[str, bytes | str] | None = None,
    tables: Mapping[str, object] | None = None,
) -> ChampionModel:
    """Log a training run (tags, params, metrics, ``tables`` as its dataset with their digest, the
    documents of :func:`_log_training_documents`) and register its model (``model_name``, default
    the propensity model) as the challenger, and as the champion when it has none yet."""
    import mlflow

    experiment_id = configure(config)
    name = model_name or config.mlflow.propensity_model_name
    shortfalls = baseline_verdict(config, outcome.metrics)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{kind}-{as_of}") as run:
        _tag_training_run(outcome, kind=kind, as_of=as_of, name=name, shortfalls=shortfalls)
        if tables is not None:
            log_book(tables, data_source)
        _log_training_params(config, outcome, as_of, data_source, params, extra_params)
        mlflow.log_metrics(outcome.metrics)
        _log_training_documents(outcome, validation, artifacts, frames, files)
        version = _log_and_register_model(outcome, input_example, name)
    point_alias(config, name, config.mlflow.challenger_alias, version)
    if alias_version(config, name, config.mlflow.champion_alias) is None:
        _bootstrap_champion(config, name, version, shortfalls)
    return ChampionModel(model=outcome.model, name=name, version=version, run_id=run.info.run_id)


def _tag_training_run(outcome, *, kind: str, as_of, name: str, shortfalls: list[str]) -> None:
    """The run's kind, date, model and code version; how the model was fitted; and, when the run
    measured its baselines, whether the model beats them."""
    import mlflow

    mlflow.set_tags({"recover.kind": kind, "recover.as_of": str(as_of), "recover.model": name})
    mlflow.set_tags(code_tags())
    fitted_with = getattr(outcome.model, "fitted_with_", None)
    if fitted_with:  # in process, or lightgbm.dask on a cluster
        mlflow.set_tag("recover.fitted_with", fitted_with)
    if "test_plain_lightgbm_auc" in outcome.metrics:
        mlflow.set_tag("recover.beats_baselines", "no" if shortfalls else "yes")


def _log_training_params(
    config: Config, outcome, as_of, data_source: str, params: dict, extra_params: dict | None
) -> None:
    """The caller's extra params, what training decided on the book, the LightGBM parameters
    (``lgbm.*``) and the run's settings: date, data source, label, feature catalog, seed."""
    import mlflow

    from features.catalog import CATALOG_VERSION, FEATURES

    if extra_params:
        mlflow.log_params(extra_params)
    decided = getattr(outcome, "params", None)
    if decided:  # what training decided on the book: monotone constraints, dropped inputs
        mlflow.log_params(decided)
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


def _log_training_documents(
    outcome,
    validation: dict | None,
    artifacts: dict[str, dict] | None,
    frames: dict[str, object] | None,
    files: dict[str, bytes | str] | None,
) -> None:
    """The data window, the input validation counts (``validation``), ``artifacts`` (JSON
    documents by file name, e.g. the fairness check), ``frames`` (DataFrames saved as Parquet or
    CSV by file name, e.g. the evaluation block the promotion gate reuses), ``files`` (bytes or
    text by file name, e.g. plots and the model card) and the feature catalog."""
    import mlflow

    from features.catalog import FEATURES

    mlflow.log_dict(outcome.data_summary, DATA_WINDOW_ARTIFACT)
    if validation is not None:
        mlflow.log_dict(validation, INPUT_VALIDATION_ARTIFACT)
    for file_name, document in (artifacts or {}).items():
        mlflow.log_dict(document, file_name)
    for file_name, frame in (frames or {}).items():
        _log_frame(frame, file_name)
    for file_name, content in (files or {}).items():
        _log_file(content, file_name)
    mlflow.log_dict(
        {f.name: {"description": f.description, "unit": f.unit, "monotone": f.monotone} for f in FEATURES},
        FEATURE_CATALOG_ARTIFACT,
    )


def _log_and_register_model(outcome, input_example, name: str) -> str:
    """The fitted model with its signature and pinned requirements, registered as a new version
    of ``name``; returns the version."""
    import mlflow
    from mlflow.models import infer_signature

    signature = infer_signature(input_example, outcome.model.predict_proba(input_example))
    info = mlflow.sklearn.log_model(
        outcome.model,
        name="model",
        registered_model_name=name,
        signature=signature,
        pip_requirements=model_requirements(),
        serialization_format="cloudpickle",
    )
    return str(info.registered_model_version)


def _bootstrap_champion(config: Config, name: str, version: str, shortfalls: list[str]) -> None:
    """A model's first version becomes its champion (the nightly run needs one; later versions
    reach it through the promotion gate); a first version that does not beat its baselines says
    so in its tags."""
    point_alias(config, name, config.mlflow.champion_alias, version)
    verdict = "first version"
    if shortfalls:
        verdict += ", not judged; warning: it " + "; it ".join(shortfalls)
    set_version_tags(config, name, version, {"recover.gate": "bootstrap", "recover.gate_verdict": verdict})


def _log_frame(frame, file_name: str) -> None:
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / file_name
        if path.suffix == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        mlflow.log_artifact(str(path))


def _log_file(content: bytes | str, file_name: str) -> None:
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(file_name).name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        parent = str(Path(file_name).parent)
        mlflow.log_artifact(str(path), artifact_path=None if parent == "." else parent)


def load_run_frame(config: Config, run_id: str, file_name: str):
    """A Parquet artifact of an MLflow run as a DataFrame; None when the run has no such file."""
    import tempfile

    import mlflow
    import pandas as pd
    from mlflow.exceptions import MlflowException

    configure(config)
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/{file_name}", dst_path=folder)
        except (MlflowException, OSError):
            return None
        return pd.read_parquet(path)


def alias_version(config: Config, name: str, alias: str) -> str | None:
    """The version number ``alias`` points at, without loading the model; None if unset."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    configure(config)
    try:
        return str(MlflowClient(tracking_uri(config)).get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def delete_alias(config: Config, name: str, alias: str) -> None:
    """Remove ``alias`` from registered model ``name`` (nothing happens when it is unset)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):
        MlflowClient(tracking_uri(config)).delete_registered_model_alias(name, alias)


def set_version_tags(config: Config, name: str, version: str, tags: dict[str, str]) -> None:
    """Tag a registered model version (e.g. the promotion gate's verdict)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri(config))
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value))


def model_versions(config: Config, names: list[str]):
    """Every registered version of ``names``: version, aliases, as-of, run, creation time, test
    metrics and the promotion gate's verdict (a DataFrame, newest first per model)."""
    import datetime as dt

    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    configure(config)
    client = MlflowClient(tracking_uri(config))
    rows = []
    for name in names:
        try:
            # Versions found by search carry no aliases in MLflow 3; the registered model does.
            aliases = client.get_registered_model(name).aliases
        except MlflowException:
            continue
        for version in client.search_model_versions(f"name = '{name}'"):
            run = mlflow.get_run(version.run_id) if version.run_id else None
            metrics = run.data.metrics if run else {}
            rows.append(
                {
                    "model": name,
                    "version": int(version.version),
                    "aliases": ", ".join(
                        sorted(a for a, v in aliases.items() if str(v) == str(version.version))
                    ),
                    "as_of": run.data.tags.get("recover.as_of", "") if run else "",
                    "created": dt.datetime.fromtimestamp(version.creation_timestamp / 1000, dt.UTC).strftime(
                        "%Y-%m-%d %H:%M"
                    ),
                    "test_auc": metrics.get("test_auc"),
                    "test_brier": metrics.get("test_brier"),
                    "test_ece": metrics.get("test_ece"),
                    "gate": version.tags.get("recover.gate", ""),
                    "gate_verdict": version.tags.get("recover.gate_verdict", ""),
                    "gate_run_id": version.tags.get("recover.gate_run_id", ""),
                    "run_id": version.run_id,
                }
            )
    columns = [
        "model",
        "version",
        "aliases",
        "as_of",
        "created",
        "test_auc",
        "test_brier",
        "test_ece",
        "gate",
        "gate_verdict",
        "gate_run_id",
        "run_id",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["model", "version"], ascending=[True, False]).reset_index(drop=True)


def log_gate(config: Config, name: str, version: str, result, facts: dict) -> str:
    """Log one promotion-gate decision as a run of kind ``promotion-gate`` (its table as JSON and
    CSV, each metric of both models, the verdict) and tag the challenger version with it."""
    import mlflow

    experiment_id = configure(config)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"gate-{name}-v{version}") as run:
        mlflow.set_tags(
            {
                "recover.kind": "promotion-gate",
                "recover.model": name,
                "recover.version": version,
                "recover.gate": "passed" if result.passed else "refused",
            }
        )
        mlflow.log_params({k: v for k, v in facts.items() if not isinstance(v, dict | list)})
        metrics = {"passed": float(result.passed)}
        for row in result.table.itertuples(index=False):
            for who in ("champion", "challenger"):
                value = getattr(row, who)
                if value == value:  # skip NaN
                    metrics[f"{who}.{row.metric}"] = float(value)
        mlflow.log_metrics(metrics)
        mlflow.log_dict({**result.to_dict(), **facts}, PROMOTION_GATE_ARTIFACT)
        _log_frame(result.table, PROMOTION_GATE_TABLE_ARTIFACT)
    set_version_tags(
        config,
        name,
        version,
        {
            "recover.gate": "passed" if result.passed else "refused",
            "recover.gate_verdict": result.verdict,
            "recover.gate_run_id": run.info.run_id,
        },
    )
    return run.info.run_id


@contextlib.contextmanager
def search_run(config: Config, as_of, settings: dict):
    """An MLflow run of kind ``search`` for a hyperparameter search; yields (its run id, a
    callback logging each trial as a nested run with its parameters and validation metrics)."""
    import mlflow

    experiment_id = configure(config)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"search-{as_of}") as parent:
        mlflow.set_tags({"recover.kind": "search", "recover.as_of": str(as_of)})
        mlflow.log_params(settings)

        def log_trial(number: int, params: dict, metrics: dict) -> None:
            with mlflow.start_run(experiment_id=experiment_id, run_name=f"trial-{number}", nested=True):
                mlflow.set_tags({"recover.kind": "search-trial", "recover.trial": str(number)})
                mlflow.log_params({f"lgbm.{k}": v for k, v in params.items()})
                mlflow.log_metrics({f"valid_{k}": float(v) for k, v in metrics.items()})

        yield parent.info.run_id, log_trial


def log_search_result(result) -> None:
    """The search's outcome on the active search run (inside :func:`search_run`): best trial,
    its validation AUC and parameters, and the table of every trial."""
    import mlflow

    mlflow.log_metrics(
        {"best_valid_auc": result.best_value, "trials": float(len(result.trials)), "seconds": result.seconds}
    )
    mlflow.log_dict(
        {"best_trial": result.best_trial, "best_params": result.best_params}, BEST_PARAMS_ARTIFACT
    )
    _log_frame(result.trials, TRIALS_ARTIFACT)


class _EvaluatedBook(Protocol):
    @property
    def n_loans(self) -> int: ...
    @property
    def as_of(self) -> dt.date: ...
    @property
    def horizon_days(self) -> int: ...


class _EvaluationSeeds(Protocol):
    @property
    def simulation(self) -> int: ...
    @property
    def random_policy(self) -> int: ...
    @property
    def oracle(self) -> int: ...
    @property
    def decisions_salt(self) -> str: ...


class EvaluationFacts(Protocol):
    """What :func:`log_policy_evaluation` reads of a policy evaluation's facts
    (evaluation.policy_results.PolicyEvaluationFacts: the evaluation sits above the adapters)."""

    @property
    def book(self) -> _EvaluatedBook: ...
    @property
    def seeds(self) -> _EvaluationSeeds: ...
    @property
    def capacity_per_day(self) -> Mapping[str, int]: ...
    @property
    def channel_cost(self) -> Mapping[str, float]: ...
    @property
    def uplift_on_randomised_units(self) -> Mapping[str, Mapping[str, float]]: ...
    def to_dict(self) -> dict: ...


def log_policy_evaluation(config: Config, table, facts: EvaluationFacts, files: dict) -> str:
    """Log a policy evaluation: per-policy metrics, the seeds and settings, the table and plot."""
    import mlflow

    experiment_id = configure(config)
    book, seeds = facts.book, facts.seeds
    as_of = str(book.as_of)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"evaluate-policy-{as_of}") as run:
        mlflow.set_tags({"recover.kind": "evaluate-policy", "recover.as_of": as_of})
        mlflow.log_params(
            {
                "n_loans": book.n_loans,
                "horizon_days": book.horizon_days,
                "seed.simulation": seeds.simulation,
                "seed.random_policy": seeds.random_policy,
                "seed.oracle": seeds.oracle,
                "seed.decisions_salt": seeds.decisions_salt,
                **{f"capacity.{k}": v for k, v in facts.capacity_per_day.items()},
                **{f"cost.{k}": v for k, v in facts.channel_cost.items()},
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
        for model, report in facts.uplift_on_randomised_units.items():
            for key, value in report.items():
                if value == value:
                    metrics[f"uplift.{model}.{key}"] = float(value)
        mlflow.log_metrics(metrics)
        mlflow.log_dict(facts.to_dict(), POLICY_EVALUATION_ARTIFACT)
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


def log_scoring_review(config: Config, review: ReviewDocument, files: list) -> str:
    """Log a nightly run's fair-practice review (run kind ``score``): coverage, flagged
    disparities and the report files."""
    import mlflow

    experiment_id = configure(config)
    run, explanations = review.run, review.explanations
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"score-{run.as_of}") as active:
        mlflow.set_tags({"recover.kind": "score", "recover.as_of": run.as_of, "recover.run_id": run.run_id})
        mlflow.log_params({"model": run.model, "channel_model": run.channel_model})
        mlflow.log_metrics(
            {
                "overdue": run.overdue,
                "queued": run.queued,
                "share_with_three_reasons": explanations.share_with_three_reasons,
                "share_with_three_channel_reasons": explanations.share_with_three_channel_reasons,
                "disparities_flagged": len(review.disparities.flagged),
            }
        )
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="review")
        return active.info.run_id


def log_backfill(config: Config, report: BackfillReport, files: list) -> str:
    """Log a backfill (run kind ``backfill``): the outcome window and archive counts as params,
    realized recovery, uplift, calibration and champion / challenger numbers as metrics, and the
    report files (CSV and JSON)."""
    import mlflow

    experiment_id = configure(config)
    facts = report.facts
    as_of = str(facts.backfill_as_of)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"backfill-{as_of}") as active:
        mlflow.set_tags({"recover.kind": "backfill", "recover.as_of": as_of})
        mlflow.log_params(
            {
                "window_days": facts.window_days,
                # As backfill.json has them (BackfillFacts.to_dict): YYYY-MM-DD, or None.
                "first_closed_as_of": _iso(facts.first_closed_as_of),
                "last_closed_as_of": _iso(facts.last_closed_as_of),
                "archived_rows": facts.archived_rows,
            }
        )
        mlflow.log_metrics(report.metrics)
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="backfill")
        return active.info.run_id


def _iso(day: dt.date | None) -> str | None:
    return str(day) if day is not None else None


def log_report(
    config: Config, first_day: dt.date, last_day: dt.date, metrics: Mapping[str, float], files: list
) -> str:
    """Log a month's report (run kind ``report``): the window as params, the window's KPIs and
    the audit's adherence as metrics, and the report files (JSON, HTML, workbook, breaches)."""
    import math

    import mlflow

    experiment_id = configure(config)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"report-{first_day}-{last_day}") as active:
        mlflow.set_tags({"recover.kind": "report", "recover.as_of": str(last_day)})
        mlflow.log_params({"from": str(first_day), "to": str(last_day)})
        # MLflow refuses NaN metrics on some stores: a rate with no denominator is left out.
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if not math.isnan(float(v))})
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="report")
        return active.info.run_id
