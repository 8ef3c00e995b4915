"""The environment of the child processes a memory benchmark measures, in one place so
that every such benchmark measures under the same conditions."""

from __future__ import annotations

import os


def child_env(profile: str) -> dict[str, str]:
    """One OpenMP thread unless the caller chose otherwise (thread pools add memory that
    varies from run to run), and no hub access for tiny models, which are built locally."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if profile == "tiny":
        env.setdefault("HF_HUB_OFFLINE", "1")
    return env
