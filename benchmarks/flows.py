"""What a YAML flow costs against the same journey written by hand as a locustfile on FastHttpUser.

The same five-request journey, driven two ways, alternately, against one fast loopback target:

* **flow**: loadkit's own user class for a YAML ``flow:`` (login → extract a token; search →
  extract an id and expect a non-empty list; item → expect a text; add-to-cart with the token and
  an expected status; cart with the token), built by ``build_user_classes`` as ``loadkit run`` does;
* **locustfile**: a ``FastHttpUser`` doing the same by hand (``catch_response``, ``r.json()``, the
  same checks).

Each run is a fresh Python process driving Locust's local runner (no loadkit capture, which both
would pay alike, see ``overhead.py``): after a warm-up it counts the CPU time the process spends
(``time.process_time``: user + system, this process only) for a fixed number of requests. CPU per
request, not requests per second, is the figure: on a shared machine a neighbour's burst changes
throughput by a factor of two and CPU per request by a few percent. The ratio flow/locustfile of
alternating pairs, its median and spread, is the flow's overhead.

The target (asyncio, pinned to the other CPU) answers every request with the same small JSON body,
which holds everything the journey extracts and checks.

Usage: ``nice -n 10 python benchmarks/flows.py [--requests N] [--repeats N] [--users N]``
"""

from __future__ import annotations

import sys

if "--drive" in sys.argv:  # a driver process: gevent's patching first, as in every Locust process
    from gevent import monkey

    monkey.patch_all()

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import free_port as _free_port  # noqa: E402
from bench import machine, wait_for_quiet  # noqa: E402
from bench import pin as _pin  # noqa: E402

BODY = json.dumps({"token": "tok-1", "items": [{"id": 17, "price": 30}]}).encode()
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: keep-alive\r\n\r\n" % len(BODY)) + BODY
END = b"\r\n\r\n"
MAX_PENDING = 64 * 1024


class _Json(asyncio.Protocol):
    """One response per request head; the small JSON bodies of POSTs hold no blank line, so they never count."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport, self.pending = transport, b""

    def data_received(self, data: bytes) -> None:
        buf = self.pending + data if self.pending else data
        n = buf.count(END)
        if n:
            self.transport.write(RESPONSE * n)
            buf = buf[buf.rfind(END) + len(END):]
        self.pending = buf
        if len(self.pending) > MAX_PENDING:
            self.transport.close()


def serve(port: int, lifetime: float) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Json, "127.0.0.1", port, backlog=1024)
        print("ready", flush=True)
        async with server:
            await asyncio.sleep(lifetime)

    asyncio.run(main())


@contextlib.contextmanager
def start_target(port: int, cpu: int | None, lifetime: float) -> Iterator[psutil.Process]:
    cmd = [sys.executable, __file__, "--serve", str(port), "--serve-lifetime", str(lifetime)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, preexec_fn=_pin(cpu))
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"the target did not start (exit code {proc.poll()})")
        yield psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


HAND = textwrap.dedent("""\
    from locust import FastHttpUser, constant, task


    class Hand(FastHttpUser):
        wait_time = constant(0)

        @task
        def journey(self):
            with self.client.post("/login", json={"user": "ann"}, name="login", catch_response=True) as r:
                if r.status_code != 200:
                    r.failure(f"expected status 200, got {r.status_code}")
                    return
                token = r.json().get("token")
                if token is None:
                    r.failure("no token")
                    return
                r.success()
            with self.client.get("/search?q=lamp", name="search", catch_response=True) as r:
                items = r.json().get("items") if r.status_code == 200 else None
                if not items:
                    r.failure("no items")
                    return
                item = items[0]["id"]
                r.success()
            with self.client.get(f"/items/{item}", name="item", catch_response=True) as r:
                if r.status_code >= 400 or "price" not in r.text:
                    r.failure("response does not contain 'price'")
                else:
                    r.success()
            auth = {"Authorization": f"Bearer {token}"}
            with self.client.post("/cart", json={"item": item}, headers=auth, name="add-to-cart",
                                  catch_response=True) as r:
                if r.status_code != 200:
                    r.failure(f"expected status 200, got {r.status_code}")
                else:
                    r.success()
            self.client.get("/cart", headers=auth, name="cart")
""")


FLOW = textwrap.dedent("""\
    name: flows-bench
    target: {host: HOST, allowed_hosts: [127.0.0.1]}
    users:
      - name: shopper
        wait: {constant: 0}
        flow:
          - {name: login, method: POST, path: /login, json: {user: ann}, extract: {token: "json:$.token"},
             expect: {status: 200}}
          - {name: search, path: "/search?q=lamp", extract: {item: "json:$.items[0].id"},
             expect: {json: {"$.items": non-empty}}}
          - {name: item, path: "/items/{item}", expect: {body_contains: price}}
          - {name: add-to-cart, method: POST, path: /cart, json: {item: "{item}"},
             headers: {Authorization: "Bearer {token}"}, expect: {status: 200}}
          - {name: cart, path: /cart, headers: {Authorization: "Bearer {token}"}}
    load: {users: 1, spawn_rate: 1, duration: 1s}
""")


def user_class(kind: str, host: str, work: Path) -> type:
    if kind == "flow":
        from loadkit.run.users import build_user_classes
        from loadkit.scenario import parse_scenario

        return build_user_classes(parse_scenario(FLOW.replace("HOST", host), str(work / "flows.yaml")))[0]
    import importlib.util

    (work / "hand.py").write_text(HAND)
    spec = importlib.util.spec_from_file_location("hand", work / "hand.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Hand


def drive(kind: str, host: str, users: int, requests: int, warmup: int) -> dict:
    """Run ``users`` users of one kind; the CPU this process spends on ``requests`` requests after ``warmup``."""
    import gevent
    from locust.env import Environment

    work = Path(tempfile.mkdtemp(prefix="loadkit-flows-"))
    env = Environment(user_classes=[user_class(kind, host, work)], host=host)
    counts = {"all": 0, "failed": 0}

    def count(exception=None, **_kw):
        counts["all"] += 1
        if exception is not None:
            counts["failed"] += 1

    env.events.request.add_listener(count)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    deadline = time.monotonic() + 120
    while counts["all"] < warmup and time.monotonic() < deadline:
        gevent.sleep(0.005)
    n0, c0, t0 = counts["all"], time.process_time(), time.perf_counter()
    while counts["all"] - n0 < requests and time.monotonic() < deadline:
        gevent.sleep(0.005)
    n1, c1, t1 = counts["all"], time.process_time(), time.perf_counter()
    runner.quit()
    return {"requests": n1 - n0, "cpu_s": c1 - c0, "wall_s": t1 - t0, "failed": counts["failed"]}


def run_one(kind: str, port: int, args: argparse.Namespace, cpu: int | None) -> dict:
    cmd = [sys.executable, __file__, "--drive", kind, "--port", str(port), "--users", str(args.users),
           "--requests", str(args.requests)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180, preexec_fn=_pin(cpu), check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} driver failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--requests", type=int, default=20_000, help="measured requests per run (default 20000)")
    p.add_argument("--repeats", type=int, default=5, help="flow/locustfile pairs (default 5)")
    p.add_argument("--users", type=int, default=20, help="concurrent users (default 20)")
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    p.add_argument("--serve-lifetime", type=float, default=600.0, help=argparse.SUPPRESS)
    p.add_argument("--drive", choices=["flow", "locustfile"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args.serve, args.serve_lifetime)
        return 0
    if args.drive:
        print(json.dumps(drive(args.drive, f"http://127.0.0.1:{args.port}", args.users, args.requests,
                               warmup=max(500, args.requests // 10))))
        return 0
    cpus = sorted(os.sched_getaffinity(0))
    gen_cpu, target_cpu = (cpus[0], cpus[-1]) if len(cpus) >= 2 else (None, None)
    print(machine())
    print(f"{args.requests} measured requests per run, {args.repeats} pairs, {args.users} users, "
          f"generator on CPU {gen_cpu}, target on CPU {target_cpu}")
    port = _free_port()
    started = time.perf_counter()
    rows: list[tuple[int, str, dict]] = []
    with start_target(port, target_cpu, 60 + args.repeats * 2 * 180) as target:
        for i in range(1, args.repeats + 1):
            for kind in (("flow", "locustfile") if i % 2 else ("locustfile", "flow")):  # alternate who goes first
                others = wait_for_quiet([target], max_wait=5)
                r = run_one(kind, port, args, gen_cpu)
                rows.append((i, kind, r))
                print(f"  {kind:<10} #{i}: {r['requests']} requests, {r['cpu_s'] / r['requests'] * 1e6:.1f} us CPU "
                      f"each, {r['requests'] / r['wall_s']:.0f}/s, {r['failed']} failed "
                      f"(others used {others:.2f} cores before)", flush=True)
    us = {(i, k): r["cpu_s"] / r["requests"] * 1e6 for i, k, r in rows if r["requests"]}
    pairs = [us[(i, "flow")] / us[(i, "locustfile")] for i in range(1, args.repeats + 1)
             if (i, "flow") in us and (i, "locustfile") in us]
    med_f = statistics.median(v for (_, k), v in us.items() if k == "flow")
    med_h = statistics.median(v for (_, k), v in us.items() if k == "locustfile")
    print(f"\nmedian CPU per request: flow {med_f:.1f} us, locustfile {med_h:.1f} us, ratio {med_f / med_h:.3f} "
          f"({'within' if med_f / med_h <= 1.10 else 'BEYOND'} 10 %)")
    print(f"per-pair ratios: {', '.join(f'{x:.3f}' for x in pairs)} (median {statistics.median(pairs):.3f}, "
          f"spread {min(pairs):.3f}-{max(pairs):.3f})")
    print(f"total {time.perf_counter() - started:.0f} s")
    failed = sum(r["failed"] for _, _, r in rows)
    if failed:
        print(f"warning: {failed} requests failed: the two drivers did not do the same work")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
