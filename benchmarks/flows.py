"""What a YAML flow costs against the same journey written by hand as a locustfile on FastHttpUser.

Both run under ``loadkit run`` (same capture, same summary, same process), alternately, against
one fast loopback target, so the only difference is who drives the five requests of an iteration:

* **flow**: a YAML user with ``flow:`` (login → extract a token; search → extract an id and
  expect a non-empty list; item → expect a text; add-to-cart with the token; cart with the token);
* **locustfile**: a ``FastHttpUser`` doing the same by hand (``catch_response``, ``r.json()``, the
  same checks), given to loadkit as ``locust: hand.py:Hand``.

The generator is CPU-bound (no wait, many users), so requests per second is the inverse of the
per-request cost; the ratio flow/locustfile of alternating pairs, and its median, is the overhead.

The target (asyncio, pinned to the other CPU) answers every request with the same small JSON body,
which holds everything the journey extracts and checks.

Usage: ``nice -n 10 python benchmarks/flows.py [--duration S] [--repeats N] [--users N]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import Run, _free_port, _pin, machine, print_table, run_measured, wait_for_quiet  # noqa: E402

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


def scenario(host: str, users: int, duration: float, flow: bool) -> str:
    user = textwrap.dedent("""\
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
        """) if flow else "  - locust: hand.py:Hand\n"
    return (f"name: flows-bench\ntarget:\n  host: {host}\n  allowed_hosts: [127.0.0.1]\nusers:\n{user}"
            f"load: {{users: {users}, spawn_rate: {users}, duration: {duration:g}s}}\n")


def run_one(work: Path, host: str, users: int, duration: float, repeat: int, flow: bool, cpu: int | None,
            target: psutil.Process) -> Run:
    name = "flow" if flow else "locustfile"
    d = work / f"{name}-{repeat}"
    d.mkdir()
    (d / "hand.py").write_text(HAND)
    (d / "scenario.yaml").write_text(scenario(host, users, duration, flow))
    cmd = [sys.executable, "-m", "loadkit", "run", "scenario.yaml", "--out", "out", "--quiet", "--run-id", "run"]
    m = run_measured(cmd, d, d / "log.txt", duration, cpu, target)
    requests = failures = 0
    with contextlib.suppress(FileNotFoundError):
        requests = int(json.loads((d / "out/run/manifest.json").read_text()).get("samples") or 0)
        failures = int(json.loads((d / "out/run/summary.json").read_text())["run"]["failures"])
    return Run(name, repeat, requests, failures, requests / duration, m.cpu_s, m.gen_mid, m.target_mid,
               m.other_mid, m.wall_s, m.exit_code)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--duration", type=float, default=8.0, help="seconds of load per run (default 8)")
    p.add_argument("--repeats", type=int, default=3, help="flow/locustfile pairs (default 3)")
    p.add_argument("--users", type=int, default=20, help="concurrent users (default 20)")
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    p.add_argument("--serve-lifetime", type=float, default=600.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args.serve, args.serve_lifetime)
        return 0
    cpus = sorted(os.sched_getaffinity(0))
    gen_cpu, target_cpu = (cpus[0], cpus[-1]) if len(cpus) >= 2 else (None, None)
    print(machine())
    print(f"duration {args.duration:g}s, repeats {args.repeats}, users {args.users}, "
          f"generator on CPU {gen_cpu}, target on CPU {target_cpu}")
    port = _free_port()
    host = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="loadkit-flows-"))
    runs: list[Run] = []
    lifetime = 60 + args.repeats * 2 * (args.duration + 60)
    started = time.perf_counter()
    with start_target(port, target_cpu, lifetime) as target:
        for i in range(1, args.repeats + 1):
            order = (True, False) if i % 2 else (False, True)  # alternate which goes first
            for flow in order:
                others = wait_for_quiet([target], max_wait=10)
                r = run_one(work, host, args.users, args.duration, i, flow, gen_cpu, target)
                runs.append(r)
                print(f"  {r.config} #{i}: {r.requests} requests, {r.rps:.0f}/s, {r.failures} failed "
                      f"(others used {others:.2f} cores before, {r.other_cpu_mid:.2f} during)", flush=True)
    print()
    print_table(runs)
    flows = {r.repeat: r for r in runs if r.config == "flow"}
    hands = {r.repeat: r for r in runs if r.config == "locustfile"}
    pairs = [flows[i].rps / hands[i].rps for i in sorted(flows) if hands[i].rps]
    mf, mh = statistics.median(r.rps for r in flows.values()), statistics.median(r.rps for r in hands.values())
    print(f"\nmedian RPS flow {mf:.0f} vs locustfile {mh:.0f}: ratio {mf / mh:.3f} "
          f"({'within' if mf / mh >= 0.9 else 'BEYOND'} 10 %)")
    print(f"per-pair ratios: {', '.join(f'{x:.3f}' for x in pairs)} (median {statistics.median(pairs):.3f}, "
          f"spread {min(pairs):.3f}-{max(pairs):.3f})")
    print(f"total {time.perf_counter() - started:.0f} s")
    bad = [r for r in runs if r.exit_code != 0 or not r.requests or r.failures]
    if bad:
        print(f"warning: {len(bad)} run(s) failed, had failures or counted nothing; logs under {work}")
    else:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
