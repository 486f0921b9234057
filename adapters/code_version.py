"""The version of the engine's code a run used: a digest of its source and rule packs."""

from __future__ import annotations

import hashlib

from recover.config import PROJECT_ROOT

# Every package whose source decides what a night computes.
PACKAGES = (
    "data_contracts",
    "features",
    "models",
    "scoring",
    "review",
    "monitoring",
    "adapters",
    "pipelines",
    "recover",
    "evaluation",
    "simulation",
)


def code_fingerprint() -> str:
    """A digest of the engine's source and rule packs: a failed night's stages are not reused by
    a different version of the code."""
    sha = hashlib.sha256()
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            sha.update(str(path.relative_to(PROJECT_ROOT)).encode())
            sha.update(path.read_bytes())
    for path in sorted((PROJECT_ROOT / "configs").rglob("*.yaml")):
        sha.update(path.read_bytes())
    return sha.hexdigest()[:20]
