"""Before the load: is the target there, and what is its configuration (the environment fingerprint)."""

from __future__ import annotations

import shlex
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import gevent

from ..errors import ConfigError, Problem
from ..files import write_json
from ..fingerprint import Fingerprint, collect_fingerprint, command_source
from ..parity import values_hash
from ..redact import Redactor, strip_url
from ..scenario.model import EnvironmentSpec, Scenario

__all__ = ["probe_target", "read_environment", "capture_environment"]

#: A command that prints a configuration answers in seconds; one that hangs must not hold a CI job.
COMMAND_TIMEOUT_S = 30.0


def probe_target(host: str, timeout: float, clock: Callable[[], float] = time.monotonic) -> str | None:
    """Why the target cannot be reached (TCP connect, retried until ``timeout``), or None."""
    parts = urlsplit(host)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    deadline = clock() + timeout
    last = ""
    while True:
        try:
            with socket.create_connection((parts.hostname, port), timeout=min(2.0, timeout)):
                return None
        except OSError as exc:
            last = exc.strerror or str(exc)
        if clock() >= deadline:
            return f"target {strip_url(host)} unreachable: {last} (tried for {timeout:g}s)"
        gevent.sleep(0.25)


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (an allowed host, checked at load)
        return resp.read(1_000_000)


def read_environment(scenario: Scenario, pairs: Mapping[str, str], env: Mapping[str, str],
                     fetch: Callable[[str], bytes] = _fetch,
                     run_command: Callable[[str], bytes] | None = None) -> Fingerprint:
    """The target's configuration now (files, URLs, variables, ``--env-var`` pairs), secrets masked."""
    base = Path(scenario.file).resolve().parent
    run_command = run_command or _run_command

    def read(name: str) -> bytes:  # as the scenario resolves files: beside it, else from here
        return (base / name if (base / name).is_file() else Path(name)).read_bytes()

    return collect_fingerprint(scenario.environment, pairs, env, read, fetch, base_url=scenario.target.host,
                               commands=scenario.environment.commands, run_command=run_command)


def _run_command(command: str) -> bytes:
    """Run ``command`` (no shell: words as ``shlex`` splits them); its standard output, or ValueError."""
    try:
        done = subprocess.run(shlex.split(command), capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        raise ValueError(f"no answer within {COMMAND_TIMEOUT_S:g}s") from None
    if done.returncode != 0:
        first = next((x for x in done.stderr.decode(errors="replace").splitlines() if x.strip()), "")
        raise ValueError(f"exit status {done.returncode}" + (f": {first.strip()[:200]}" if first else ""))
    return done.stdout[:10_000_000]


def capture_environment(output: Path, *, files: Sequence[str] = (), urls: Sequence[str] = (),
                        env_names: Sequence[str] = (), commands: Sequence[str] = (), ignore: Sequence[str] = (),
                        env: Mapping[str, str], fetch: Callable[[str], bytes] = _fetch,
                        run_command: Callable[[str], bytes] = _run_command) -> Fingerprint:
    """``loadkit env capture``: production's configuration as a reference, secrets masked, written atomically.

    A reference is a yardstick: one with a source that failed would be compared as if the failed
    keys did not exist in production, so every failure is refused (one line each) and nothing is written."""
    for i, command in enumerate(commands):
        if not shlex.split(command_source(command)[1]):
            raise ConfigError(f"--command {i + 1}: empty command")
    spec = EnvironmentSpec(tuple(files), tuple(urls), tuple(env_names), tuple(ignore))
    fp = collect_fingerprint(spec, {}, env, lambda name: Path(name).read_bytes(), fetch,
                             commands=tuple(commands), run_command=run_command)
    problems = [Problem(e.split(": ", 1)[0], None, "", f"cannot capture: {e.split(': ', 1)[-1]}") for e in fp.errors]
    problems += [Problem("--env-var", None, name, "not set in the environment") for name in env_names if name not in env]
    if problems:
        raise ConfigError(problems=problems)
    if not fp.values:
        raise ConfigError("nothing captured: give --url, --file, --env-var or --command (and check --ignore)")
    doc = Redactor.from_environment(env).data(fp.to_json())  # a secret variable's value inside any value, too
    doc["hash"] = values_hash(doc["values"])
    write_json(Path(output), doc)
    return Fingerprint(doc["values"], doc["hash"], fp.errors, fp.sources)
