"""Sample capture: chunked Parquet parts, merge, and what a hard kill leaves behind."""

import pandas as pd

from loadkit.run.capture import PartWriter, SampleBuffer
from loadkit.run.progress import Progress, render_bar, render_line


class Resp:
    def __init__(self, status_code):
        self.status_code = status_code


def fill(buffer: SampleBuffer, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        buffer.on_request(request_type="GET", name=f"ep{i % 3}", response_time=1.0 + i / 1000, response_length=10,
                          response=Resp(200 if i % 10 else 500), exception=None if i % 10 else RuntimeError("boom"),
                          start_time=1000.0 + i)


def test_parts_are_written_in_chunks_and_merged(tmp_path):
    writer = PartWriter(tmp_path, chunk_rows=100)
    buffer = SampleBuffer()
    for batch in range(10):
        fill(buffer, 35, start=batch * 35)
        writer.add(buffer.take())
    assert len(buffer) == 0 and buffer.count == 350
    assert len(writer.parts) == 3  # 105, 105, 105 rows written; 35 still pending
    assert all(p.exists() for p in writer.parts)
    rows = writer.finish(tmp_path / "samples.parquet")
    assert rows == 350 and not (tmp_path / "samples.parts").exists()
    df = pd.read_parquet(tmp_path / "samples.parquet")
    assert len(df) == 350 and df.ts.is_monotonic_increasing
    assert df.latency_ms.iloc[7] == 1.007
    failed = df[df.error.notna()]
    assert len(failed) == 35 and set(failed.status) == {500}
    assert failed.error.iloc[0] == "RuntimeError: boom"


def test_parts_survive_a_hard_kill(tmp_path):
    writer = PartWriter(tmp_path, chunk_rows=10)
    buffer = SampleBuffer()
    fill(buffer, 25)
    writer.add(buffer.take())
    # no finish(): the process died here; what was written is readable as one table
    df = pd.read_parquet(tmp_path / "samples.parts")
    assert len(df) == 25


def test_empty_run_gives_an_empty_readable_file(tmp_path):
    writer = PartWriter(tmp_path)
    assert writer.finish(tmp_path / "samples.parquet") == 0
    df = pd.read_parquet(tmp_path / "samples.parquet")
    assert len(df) == 0 and list(df.columns)[:4] == ["ts", "endpoint", "method", "latency_ms"]


def test_progress_renderings():
    p = Progress(elapsed=12.0, total=30.0, users=40, rps=123.4, p95_ms=87.0, requests=1000, failures=5, inflight=7)
    line = render_line(p)
    assert line == "[   12s/30s] users=40 rps=123.4 p95=87ms requests=1000 errors=5 (0.50%) in-flight=7"
    bar = render_bar(p)
    assert bar.startswith("\r[#########---------------]") and "p95    87ms" in bar
    assert "p95=-" in render_line(Progress(0.5, 30, 0, 0.0, None, 0, 0))


def test_a_recorded_failed_request_holds_no_exception_object():
    """Issue 14: the buffer kept each failure's live exception (with its traceback, frames and response, in a
    reference cycle through Locust's ``resp.error``) until ``take()``, and full collections stalled the load."""
    import gc
    import weakref

    class Failure(Exception):
        pass

    buffer = SampleBuffer()
    resp = Resp(500)

    def fail():
        try:
            raise Failure("HTTP 500: server error")
        except Failure as exc:
            resp.error = exc  # the cycle Locust makes: the response holds its error, the error its frames
            buffer.on_request(request_type="GET", name="x", response_time=1.0, response_length=0, response=resp,
                              exception=exc, start_time=1000.0)
            return weakref.ref(exc)

    gone = fail()
    del resp.error
    assert gone() is None, "the buffer still references the exception"  # freed at once: no collection needed
    gc.collect()
    assert not any(isinstance(o, Failure) for o in gc.get_objects())
    batch = buffer.take()
    assert batch.column("error").to_pylist() == ["Failure('HTTP 500: server error')"] or \
        "HTTP 500: server error" in batch.column("error").to_pylist()[0]
