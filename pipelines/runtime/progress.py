"""Stage timing and progress lines for long-running commands."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

logger = logging.getLogger("recover")

# Called with ("start" | "end", stage name) around every stage: how benchmarks attribute memory
# and time to stages without the flows knowing about them.
stage_listeners: list[Callable[[str, str], None]] = []


@contextmanager
def stage(name: str, timings: dict[str, float]) -> Iterator[None]:
    """Log the start and end of a stage and record its wall time (seconds) in ``timings``. The
    records carry ``event`` (stage_started / stage_finished), ``stage`` and ``seconds`` as fields,
    which the JSON log format (``operations.log_format: json``) emits as keys."""
    logger.info("%s ...", name, extra={"event": "stage_started", "stage": name})
    for listener in stage_listeners:
        listener("start", name)
    started = time.perf_counter()
    try:
        yield
    finally:
        for listener in stage_listeners:
            listener("end", name)
    timings[name] = round(time.perf_counter() - started, 3)
    logger.info(
        "%s done in %.1f s",
        name,
        timings[name],
        extra={"event": "stage_finished", "stage": name, "seconds": timings[name]},
    )
