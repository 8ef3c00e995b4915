"""A trainer callback that times every optimizer step (for the reports in training.json)."""

from __future__ import annotations

import statistics
import time

from transformers import TrainerCallback


class StepTimer(TrainerCallback):
    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._started: float | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._started is not None:
            self.seconds.append(time.perf_counter() - self._started)

    def summary(self) -> dict[str, float]:
        if not self.seconds:
            return {}
        # the first step pays one-off costs (allocations, thread pools); report it apart
        rest = self.seconds[1:] or self.seconds
        return {
            "steps": len(self.seconds),
            "first": round(self.seconds[0], 3),
            "mean": round(statistics.fmean(rest), 3),
            "median": round(statistics.median(rest), 3),
            "total": round(sum(self.seconds), 1),
        }
