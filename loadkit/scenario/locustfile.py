"""Existing locustfiles: imported by path, once per process, and checked for usable ``User`` classes."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import os
import socket
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..hosts import AllowList, HostNotAllowed, canonical_host

__all__ = ["import_locust_class", "locust_class_problem", "import_locustfile", "shape_classes", "locust_options",
           "locust_option_problems", "locust_config_files", "given_stop_timeout", "APPLIED_OPTIONS", "REPLACED"]


MODULE_PREFIX = "loadkit_user_"


def module_name(file: str) -> str:
    """The name a locustfile is imported under (one per path, so two files never share a module)."""
    return MODULE_PREFIX + hashlib.sha1(file.encode()).hexdigest()[:12]


@contextlib.contextmanager
def hooks_of(files: Iterable[str] | None, events: Any = None) -> Iterator[None]:
    """While in the block, the listeners that locustfiles added to Locust's global events are those of
    ``files`` only: a process that imported other locustfiles (validating several scenarios, a test
    suite) must not run their hooks or parse their options. Every listener is back after the block,
    and listeners added inside it are dropped. ``files`` None: nothing is filtered."""
    if files is None:
        yield
        return
    if events is None:
        import locust

        events = locust.events
    keep = {module_name(f) for f in files}
    saved = {name: hook._handlers for name, hook in vars(events).items() if hasattr(hook, "_handlers")}
    for name, handlers in saved.items():
        getattr(events, name)._handlers = [h for h in handlers if not (
            str(getattr(h, "__module__", "") or "").startswith(MODULE_PREFIX)
            and getattr(h, "__module__", "") not in keep)]
    try:
        yield
    finally:
        for name, handlers in saved.items():
            getattr(events, name)._handlers = handlers


class _ImportGuard:
    """While a locustfile's top-level code runs (its import, at validation as under ``locust -f``), the
    connections it opens may go only to ``allowed``; the run's own guard (``loadkit.run.guard``) takes
    over from the start of the run. It wraps the socket class Locust's gevent patching installs, so
    ``requests``, ``urllib``, ``http.client`` and raw sockets are all held."""

    def __init__(self, allowed: Iterable[str]):
        self.allow = AllowList.of(allowed).resolve()
        self.refused: list[str] = []

    def _check(self, address: Any) -> None:
        if not isinstance(address, tuple) or not address or not isinstance(address[0], str):
            return
        host = address[0]
        try:
            addresses = [i[4][0] for i in socket.getaddrinfo(host, None)]
        except OSError:
            return  # the connect itself fails and says why
        if not all(self.allow.allows_address(str(a)) for a in addresses):
            self.refused.append(canonical_host(host))
            raise HostNotAllowed(canonical_host(host), self.allow.entries)

    def __enter__(self) -> _ImportGuard:
        import locust  # noqa: F401  (gevent's patching first: the class wrapped is the one the file will use)

        self.cls = socket.socket
        self.saved = self.cls.connect, self.cls.connect_ex
        connect, connect_ex, check = *self.saved, self._check

        def guarded_connect(sock: Any, address: Any) -> Any:
            check(address)
            return connect(sock, address)

        def guarded_connect_ex(sock: Any, address: Any) -> Any:
            check(address)
            return connect_ex(sock, address)

        self.cls.connect, self.cls.connect_ex = guarded_connect, guarded_connect_ex
        return self

    def __exit__(self, *exc: object) -> None:
        self.cls.connect, self.cls.connect_ex = self.saved


def import_locustfile(file: str, allowed: Iterable[str] | None = None):
    """The module of a Locust file, imported by path once per process (the user's code runs here).

    With ``allowed`` (the scenario's ``target.allowed_hosts``), the file's top-level code may connect
    only to those hosts: a file that tries another is refused, and nothing is sent there.
    """
    name = module_name(file)
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot import {file}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        guard = _ImportGuard(allowed) if allowed is not None else None
        try:
            with guard or contextlib.nullcontext():
                spec.loader.exec_module(module)
        except Exception as exc:  # the user's code: any failure is a configuration problem
            del sys.modules[name]
            if guard is not None and guard.refused:
                raise ConfigError(_import_refusal(file, guard)) from None
            raise ConfigError(f"importing {file} failed: {type(exc).__name__}: {exc}") from None
        if guard is not None and guard.refused:  # the file caught the refusal itself: still refused
            del sys.modules[name]
            raise ConfigError(_import_refusal(file, guard))
    return module


def _import_refusal(file: str, guard: _ImportGuard) -> str:
    return (f"importing {file} failed: its top-level code connects to {guard.refused[0]!r}, which is not in "
            f"target.allowed_hosts ({', '.join(guard.allow.entries)}); nothing was sent")


def import_locust_class(file: str, class_name: str, allowed: Iterable[str] | None = None) -> type:
    """Import a Locust file by path (once per process) and return the named class."""
    module = import_locustfile(file, allowed)
    cls = getattr(module, class_name, None)
    if cls is None:
        names = [n for n, v in vars(module).items() if inspect.isclass(v) and v.__module__ == module.__name__]
        raise ConfigError(f"{file} has no class {class_name!r} (classes there: {', '.join(names) or 'none'})")
    return cls


def locust_class_problem(file: str, class_name: str, allowed: Iterable[str] | None = None) -> str | None:
    """Why ``class_name`` in ``file`` is not a usable Locust User class, or None if it is."""
    try:
        cls = import_locust_class(file, class_name, allowed)
    except ConfigError as exc:
        return str(exc)
    from locust import User

    if not (inspect.isclass(cls) and issubclass(cls, User)):
        return f"{class_name} in {file} is not a locust.User subclass"
    if getattr(cls, "abstract", False):
        return f"{class_name} in {file} is abstract (abstract = True); point at a concrete User class"
    return None


def shape_classes(file: str, allowed: Iterable[str] | None = None) -> list[str]:
    """The concrete ``LoadTestShape`` classes defined in a locustfile (not imported into it)."""
    from locust import LoadTestShape

    module = import_locustfile(file, allowed)
    return [n for n, v in vars(module).items()
            if inspect.isclass(v) and issubclass(v, LoadTestShape) and v is not LoadTestShape
            and v.__module__ == module.__name__ and not getattr(v, "abstract", False)]


#: Locust's own options that loadkit applies as ``locust`` does (the rest are refused, see REPLACED)
APPLIED_OPTIONS = ("tags", "exclude_tags", "stop_timeout")
#: options loadkit sets itself: their environment variables are overridden, as on Locust's command line
_SET_BY_LOADKIT = ("host", "headless", "locustfile")
_LOAD = "the load comes from load: (users and duration, stages, or a LoadTestShape)"
_UI = "loadkit always runs headless, without Locust's web UI"
_WORKERS = "loadkit run --workers N starts and drives the Locust workers"
_OUTPUT = "loadkit writes every request to samples.parquet, and summary.json, verdict.json and report.html"
#: Locust's own options loadkit does not apply, and what takes their place
REPLACED: dict[str, str] = {
    "locustfile": "the users: entries name the locustfiles and their classes",
    "config": "loadkit reads no Locust config file: give the settings in the scenario",
    "config_users": "the users: entries give the classes and their weights",
    "host": "the host is target.host (or loadkit run --host)",
    "num_users": _LOAD, "spawn_rate": _LOAD, "run_time": _LOAD,
    "list_commands": "loadkit validate checks the scenario and its classes",
    "show_task_ratio": "loadkit validate checks the scenario and its classes",
    "show_task_ratio_json": "loadkit validate checks the scenario and its classes",
    **dict.fromkeys(("web_host", "web_host_display_name", "web_port", "headless", "autostart", "autoquit", "headful",
                     "web_auth", "web_login", "tls_cert", "tls_key", "class_picker", "build_path", "legacy_ui",
                     "web_base_path"), _UI),
    **dict.fromkeys(("master", "master_bind_host", "master_bind_port", "expect_workers", "expect_workers_max_wait",
                     "enable_rebalancing", "expect_slaves", "worker", "processes", "slave", "master_host",
                     "master_port"), _WORKERS),
    **dict.fromkeys(("csv_prefix", "stats_history_enabled", "print_stats", "only_summary", "html_file", "json",
                     "json_file"), _OUTPUT),
    "reset_stats": "loadkit keeps every request; load.warmup leaves the start of the load out of the checks",
    **dict.fromkeys(("skip_log_setup", "loglevel", "logfile"), "loadkit --debug shows Locust's log"),
    "exit_code_on_error": "the verdict of the scenario's checks: sets loadkit's exit code",
    "equal_weights": "give each users: entry its weight:",
    "profile": "it names runs in Locust's web UI, which loadkit does not have",
    "otel": "loadkit does not set up OpenTelemetry",
}


def _argv(host: str, options: dict, files: Iterable[str] | None = None) -> list[str]:
    argv = ["--headless", "--host", host] + (["--locustfile", ",".join(files)] if files else [])
    for key, value in sorted(options.items()):
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, list):
            argv += [flag, *(str(v) for v in value)]
        else:
            argv += [flag, str(value)]
    return argv


def _refusal(flag: str, dest: str, variable: str = "") -> str:
    reason = REPLACED.get(dest, "loadkit does not apply it")
    what = f"the environment variable {variable} sets {flag}, " if variable else f"{flag} is "
    return f"{what}Locust's own option, which loadkit does not apply: {reason}"


def locust_option_problems(options: dict | None = None, environ: Mapping[str, str] | None = None
                           ) -> list[tuple[str, str]]:
    """(where, why) for each Locust option given that loadkit does not apply: ``where`` is the key in the
    scenario's ``options:``, or the name of the ``LOCUST_*`` environment variable that sets it."""
    from locust.argument_parser import get_empty_argument_parser, setup_parser_arguments

    parser = get_empty_argument_parser(add_help=False, default_config_files=[])
    setup_parser_arguments(parser)  # Locust's own options only: no locustfile's hook runs here
    by_flag = {f: a for a in parser._actions for f in a.option_strings}
    own = _locust_defaults()
    out: list[tuple[str, str]] = []
    for key in sorted(options or {}):
        flag = "--" + key.replace("_", "-")
        action = by_flag.get(flag)
        if action is not None and action.dest in own and action.dest not in APPLIED_OPTIONS:
            out.append((key, _refusal(flag, action.dest)))
    env = os.environ if environ is None else environ
    for action in parser._actions:
        name = getattr(action, "env_var", None)
        if (name and name in env and action.dest in own and action.dest not in APPLIED_OPTIONS
                and action.dest not in _SET_BY_LOADKIT):
            out.append((name, _refusal(action.option_strings[-1], action.dest, name)))
    return out


def locust_config_files(cwd: str | None = None) -> list[str]:
    """The Locust config files ``locust -f`` would read here (``~/.locust.conf``, ``locust.conf``, a
    ``pyproject.toml`` with ``[tool.locust]``), which loadkit does not read."""
    base = Path(cwd or os.getcwd())
    found = [str(p) for p in (Path("~/.locust.conf").expanduser(), base / "locust.conf") if p.is_file()]
    pyproject = base / "pyproject.toml"
    if pyproject.is_file():
        try:
            text = pyproject.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        if any(line.strip().replace(" ", "") == "[tool.locust]" for line in text.splitlines()):
            found.append(str(pyproject))
    return found


def given_stop_timeout(options: dict | None, environ: Mapping[str, str] | None = None) -> float | None:
    """``--stop-timeout`` when the scenario's options (or ``LOCUST_STOP_TIMEOUT``) give it, else None."""
    env = os.environ if environ is None else environ
    value = (options or {}).get("stop_timeout", env.get("LOCUST_STOP_TIMEOUT"))
    if value is None or value is False:
        return None
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return None


def locust_options(host: str, options: dict | None = None, environ: Mapping[str, str] | None = None,
                   files: Iterable[str] | None = None):
    """``environment.parsed_options`` as ``locust`` would parse them: Locust's own defaults, the
    arguments locustfiles add in ``init_command_line_parser``, ``--host`` and the scenario's ``options``
    (``LOCUST_*`` environment variables too, as Locust reads them). With ``files``, only the hooks of
    those locustfiles add arguments (:func:`hooks_of`).

    Config files (locust.conf, pyproject.toml) are not read: the scenario is the configuration.
    ``ConfigError`` names an option no locustfile defines, a value its parser refuses, or one of
    Locust's own options that loadkit does not apply (:func:`locust_option_problems`).
    """
    import io

    from locust.argument_parser import get_parser

    problems = locust_option_problems(options, environ)
    if problems:
        where, why = problems[0]
        raise ConfigError(f"locust options: {why}")
    with hooks_of(files):
        parser = get_parser(default_config_files=[])
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parsed, unknown = parser.parse_known_args(_argv(host, options or {}, files),
                                                      env_vars=os.environ if environ is None else environ)
    except SystemExit:
        last = next((ln for ln in reversed(err.getvalue().splitlines()) if ln.strip()), "bad value")
        raise ConfigError(f"locust options: {last.split(': error: ', 1)[-1]}") from None
    if unknown:
        known = sorted(a.dest for a in parser._actions if a.option_strings)
        custom = [d for d in known if d not in _locust_defaults() and d not in ('help', 'version')]
        raise ConfigError(f"locust options: no locustfile defines {' '.join(u for u in unknown if u.startswith('--'))} "
                          f"(their own options: {', '.join(custom) or 'none'})")
    return parsed


def _locust_defaults() -> set[str]:
    from locust.argument_parser import default_args_dict

    return set(default_args_dict())
