"""scrape source against the stand-in's /metrics, and histogram quantiles as Prometheus computes them."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

import pytest
from helpers import free_port

from loadkit.collectors import MetricSpec, make_collector
from loadkit.collectors.buckets import bucket_quantile

INF = float("inf")


def scraper(url: str, interval: float = 0.001, **options):
    """A source sampled when the test says (a short interval: no rate is held back as too soon)."""
    return make_collector(MetricSpec("app", "scrape", {"url": url, **options}, interval), {}, time.time)


def get(url: str, path: str, n: int) -> None:
    p = urlsplit(url)
    conn = http.client.HTTPConnection(p.hostname, p.port, timeout=5)
    for _ in range(n):
        conn.request("GET", path)
        conn.getresponse().read()
    conn.close()


def test_counters_become_rates_labels_kept_histograms_quantiles(standin):
    c = scraper(standin.url + "/metrics")
    t0 = time.time()
    c.start(t0)
    get(standin.url, "/tickets?limit=3", 40)
    get(standin.url, "/health", 7)
    t1 = time.time()
    rows = c.sample(t1)
    assert c.missing is None
    by = {(m, lab): v for _, m, lab, v in rows}
    tickets = by[("app.standin_http_requests_total", 'endpoint="/tickets",method="GET",status="200"')]
    assert tickets * (t1 - t0) == pytest.approx(40)
    health = by[("app.standin_http_requests_total", 'endpoint="/health",method="GET",status="200"')]
    assert health * (t1 - t0) == pytest.approx(7)
    p50, p95, p99 = (by[(f"app.standin_request_duration_seconds_{q}", 'endpoint="/tickets"')]
                     for q in ("p50", "p95", "p99"))
    assert 0 < p50 <= p95 <= p99 <= 10.0
    count = by[("app.standin_request_duration_seconds_count", 'endpoint="/tickets"')]
    assert count * (t1 - t0) == pytest.approx(40)


def test_include_filters_families(standin):
    c = scraper(standin.url + "/metrics", include=["^standin_db_"])
    c.start(time.time())
    rows = c.sample(time.time() + 0.01)
    assert rows and {m for _, m, _, _ in rows} <= {"app.standin_db_queries_total", "app.standin_db_transactions_total"}


@pytest.mark.parametrize("path, reason", [("/nope", "HTTP 404"), ("/health", "not the Prometheus text format")])
def test_bad_endpoints_are_missing(standin, path, reason):
    c = scraper(standin.url + path)
    assert c.start(time.time()) == [] and reason in c.missing, c.missing


def test_connection_refused_is_missing_and_recovers_never_raises():
    url = f"http://user:pw-xyz@127.0.0.1:{free_port()}/metrics"
    c = scraper(url)
    assert c.start(time.time()) == [] and c.sample(time.time()) == [] and c.stop(time.time()) == []
    assert "Connection refused" in c.missing and "pw-xyz" not in c.missing


def test_histogram_quantile_matches_prometheus():
    # 100 observations: 10 ≤ 0.1, 80 in (0.1, 0.5], 10 in (0.5, 1]
    b = [(0.1, 10.0), (0.5, 90.0), (1.0, 100.0), (INF, 100.0)]
    assert bucket_quantile(0.5, b) == pytest.approx(0.1 + 0.4 * (40 / 80))
    assert bucket_quantile(0.05, b) == pytest.approx(0.05)  # lowest bucket starts at 0
    assert bucket_quantile(0.95, b) == pytest.approx(0.5 + 0.5 * 0.5)
    assert bucket_quantile(0.99, [(0.1, 10.0), (INF, 100.0)]) == 0.1  # in +Inf: the highest finite bound
    assert bucket_quantile(0.5, [(0.1, 0.0), (INF, 0.0)]) is None
    assert bucket_quantile(0.5, [(0.1, 3.0)]) is None  # no +Inf bucket


def test_a_short_last_scrape_is_merged_with_the_one_before(standin):
    """The last scrape 50 ms after the one before: its counts join that interval, at no rate over 50 ms."""
    c = scraper(standin.url + "/metrics", interval=1.0)
    t0 = time.time()
    rows = c.start(t0)
    get(standin.url, "/health", 40)
    time.sleep(max(0.0, t0 + 1.0 - time.time()))
    rows += c.sample(time.time())
    get(standin.url, "/health", 10)
    final = c.stop(time.time())
    rows = [r for r in rows if getattr(c, "superseded", {}).get((r[1], r[2])) != r[0]] + final
    key = 'endpoint="/health",method="GET",status="200"'
    health = sorted((t, v) for t, m, lab, v in rows if m == "app.standin_http_requests_total" and lab == key)
    times = [t0] + [t for t, _ in health]
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.5, health
    assert sum(v * (b - a) for (b, v), a in zip(health, times, strict=False)) == pytest.approx(50)


class _Site:
    """A loopback HTTP server whose paths are told: (status, headers, body); it records what it was sent."""

    def __init__(self, routes: dict[str, tuple[int, dict[str, str], bytes]]):
        import http.server
        import threading

        site = self
        self.routes, self.seen = routes, []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                site.seen.append((self.path, dict(self.headers)))
                status, headers, body = site.routes.get(self.path, (404, {}, b"no"))
                self.send_response(status)
                for k, v in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


METRICS = (200, {"Content-Type": "text/plain; version=0.0.4"}, b"# TYPE temp gauge\ntemp 1\n")


def test_a_redirect_off_the_allowed_hosts_is_refused_and_fails_the_source():
    other = _Site({"/metrics": METRICS})
    site = _Site({"/metrics": (302, {"Location": f"http://localhost:{other.port}/metrics"}, b"")})
    try:
        spec = MetricSpec("app", "scrape", {"url": f"http://127.0.0.1:{site.port}/metrics"}, 0.01)
        c = make_collector(spec, {}, time.time, allowed_hosts=("127.0.0.1",))
        assert c.start(time.time()) == [] and c.sample(time.time()) == []
    finally:
        site.close()
        other.close()
    assert c.missing.startswith(f"http://127.0.0.1:{site.port}/metrics: refused a redirect to "
                                f"http://localhost:{other.port}/metrics: host 'localhost' is not in "
                                "target.allowed_hosts (127.0.0.1)"), c.missing
    assert other.seen == []  # nothing was sent there
    assert len(site.seen) == 1  # failed for good: not asked again


def test_a_redirect_to_another_allowed_port_goes_without_credentials():
    other = _Site({"/metrics": METRICS})
    site = _Site({"/moved": (301, {"Location": f"http://127.0.0.1:{other.port}/metrics"}, b"")})
    try:
        spec = MetricSpec("app", "scrape", {"url": f"http://127.0.0.1:{site.port}/moved", "token_env": "TOK"}, 0.01)
        c = make_collector(spec, {"TOK": "tok-123"}, time.time, allowed_hosts=("127.0.0.1",))
        rows = c.start(time.time())
    finally:
        site.close()
        other.close()
    assert c.missing is None and [(m, v) for _, m, _, v in rows] == [("app.temp", 1.0)]
    assert site.seen[0][1]["Authorization"] == "Bearer tok-123"
    assert "Authorization" not in other.seen[0][1]


def test_a_body_that_is_not_metrics_is_never_echoed():
    site = _Site({"/env": (200, {"Content-Type": "text/plain"}, b"DB_PASSWORD=hunter2\nHOME=/root\n")})
    try:
        c = scraper(f"http://127.0.0.1:{site.port}/env")
        c.start(time.time())
    finally:
        site.close()
    assert c.missing == (f"http://127.0.0.1:{site.port}/env: not the Prometheus text format (text/plain, 31 bytes; "
                         "the content is not shown)"), c.missing
