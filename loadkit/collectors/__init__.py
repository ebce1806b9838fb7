"""Collectors: what the target felt during the run, as long-format rows
(timestamp, metric, labels, value) aligned with the request samples' clock."""

from .process import ProcessSampler, write_metrics

__all__ = ["ProcessSampler", "write_metrics"]
