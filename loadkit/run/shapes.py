"""Locust load shapes built from a scenario's ``load:`` section."""

from __future__ import annotations

from locust import LoadTestShape

from ..scenario.model import Stage

__all__ = ["StagesShape", "stage_at"]


def stage_at(stages: tuple[Stage, ...], t: float) -> Stage | None:
    """The stage in force ``t`` seconds into the run, or None once all stages are over."""
    end = 0.0
    for stage in stages:
        end += stage.duration
        if t < end:
            return stage
    return None


class StagesShape(LoadTestShape):
    """Users and spawn rate per stage, like k6's ``stages``: each stage ramps to its target and holds.

    After the last stage it holds the last stage's users: the run, not the shape, stops the load
    (both stopping it at once would cut the requests in flight short).
    """

    def __init__(self, stages: tuple[Stage, ...]):
        super().__init__()
        self.stages = stages

    def tick(self) -> tuple[int, float] | None:
        stage = stage_at(self.stages, self.get_run_time()) or self.stages[-1]
        return stage.users, stage.spawn_rate
