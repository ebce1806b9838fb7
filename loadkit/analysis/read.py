"""Summarising a run folder: the thin I/O shell over :mod:`loadkit.analysis.summary`.

Endpoints are read dictionary-encoded and errors only as a null mask (their texts are grouped
by Arrow), so memory is a few numeric arrays, not a Python string per request.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..runfolder import RunPaths, failed_mask, read_samples
from .summary import Summary, summarize_coded

__all__ = ["summarize_run"]


def summarize_run(paths: RunPaths, window_start: float, window_end: float, top_errors: int = 20) -> Summary:
    """Read the columns the summary needs (not the whole table) and summarise."""
    table = read_samples(paths, ["ts", "endpoint", "latency_ms", "error"], dictionary=["endpoint"])
    if table.num_rows == 0:
        empty = np.empty(0)
        return summarize_coded(empty, empty.astype(np.int64), [], empty, empty.astype(bool), (), window_start,
                               window_end)
    endpoint = table.column("endpoint").combine_chunks()
    if not isinstance(endpoint, pa.DictionaryArray):
        endpoint = endpoint.dictionary_encode()
    failed = failed_mask(table.column("error"))
    failures = table.filter(pa.array(failed)).select(["endpoint", "error"])
    if failures.num_rows:
        failures = failures.set_column(0, "endpoint", pc.cast(failures.column("endpoint"), pa.string()))
        grouped = failures.group_by(["endpoint", "error"]).aggregate([([], "count_all")]).sort_by(
            [("count_all", "descending"), ("endpoint", "ascending")])
        errors = tuple((r["endpoint"], r["error"], int(r["count_all"]))
                       for r in grouped.slice(0, top_errors).to_pylist())
    else:
        errors = ()
    return summarize_coded(table.column("ts").to_numpy(),
                           endpoint.indices.to_numpy(zero_copy_only=False).astype(np.int64),
                           endpoint.dictionary.to_pylist(), table.column("latency_ms").to_numpy(), failed, errors,
                           window_start, window_end)
