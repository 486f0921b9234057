"""Running the per-loan work on a Dask cluster (the default stays in process, no cluster).

A flow runs on a cluster when its Prefect task runner is prefect-dask's ``DaskTaskRunner``
(:func:`on_cluster` sets it from ``--cluster`` or ``cluster.address``). Its stages then cut the
night's loans into partitions (pipelines/runtime/partitions.py) and map the same pure functions the
in-process run calls over them, as Prefect task runs on the Dask workers; the flow process
keeps what needs every loan at once (contact rules, capacity allocation, ranking, review).
Training fits its boosters through ``lightgbm.dask`` on the same client.

Each Dask worker should have one thread per core it owns and run one task at a time: LightGBM
and TreeSHAP use the worker's threads, and nesting their OpenMP pools under more Dask threads
oversubscribes the cores (``dask worker --nthreads 1 --nworkers N`` on an N-core machine, or
``--nthreads N --nworkers 1``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


def task_runner(address: str):
    """prefect-dask's task runner connected to the Dask scheduler at ``address``."""
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=address)


def on_cluster(flow_, address: str | None):
    """``flow_`` with its tasks run on the Dask cluster at ``address``; unchanged when None."""
    if not address:
        return flow_
    return flow_.with_options(task_runner=task_runner(address))


def needs_cluster_run(address: str | None) -> bool:
    """True inside a flow run that should run on the cluster at ``address`` but does not: a
    flow started without the Dask task runner (a served deployment, a call from Python)."""
    return bool(address) and cluster_client() is None


def run_on_cluster(flow_, address: str, *args, **kwargs):
    """``flow_(*args, **kwargs)`` as a subflow on the cluster at ``address``. The outer run
    notifies; the subflow's own hooks are dropped so a failure is reported once."""
    inner = on_cluster(flow_, address).with_options(on_failure=[], on_crashed=[], on_completion=[])
    return inner(*args, **kwargs)


def cluster_client():
    """The Dask client of the running flow's ``DaskTaskRunner``, or None in process."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.task_runner is None:
        return None
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:  # pragma: no cover - prefect-dask is a dependency
        return None
    if not isinstance(context.task_runner, DaskTaskRunner):
        return None
    return context.task_runner.client


def worker_count(client) -> int:
    """Workers the scheduler knows of now (at least one)."""
    return max(1, len(client.scheduler_info(n_workers=-1)["workers"]))


def partition_count(client, per_worker: int) -> int:
    """How many partitions to cut the loans into for ``client``'s cluster."""
    return worker_count(client) * per_worker


def map_partitions(fn: Callable, *pieces: Iterable, name: str, **shared) -> list:
    """``fn(piece_1, piece_2, ..., **shared)`` for each partition, as Prefect task runs on the
    flow's Dask task runner, in partition order. ``pieces`` are equal-length lists (one item per
    partition); ``shared`` goes whole to every call. A failed partition fails the stage."""
    from prefect import task, unmapped
    from prefect.cache_policies import NO_CACHE

    # No cache and no persisted result: the stage around it persists the combined result.
    partition_task = task(fn, name=name, cache_policy=NO_CACHE, persist_result=False)
    futures = partition_task.map(*pieces, **{key: unmapped(value) for key, value in shared.items()})
    return [future.result() for future in futures]


def local_cluster(workers: int = 2, threads_per_worker: int = 1):
    """A Dask ``LocalCluster`` of worker processes on this machine (tests, trying it out)."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        dashboard_address=None,
        # Workers inherit this process's environment; keep their OpenMP pools to their threads.
        env={"OMP_NUM_THREADS": str(threads_per_worker)},
    )
