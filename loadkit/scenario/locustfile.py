"""Existing locustfiles: imported by path, once per process, and checked for usable ``User`` classes."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys

from ..errors import ConfigError

__all__ = ["import_locust_class", "locust_class_problem", "import_locustfile", "shape_classes", "locust_options"]


def import_locustfile(file: str):
    """The module of a Locust file, imported by path once per process (the user's code runs here)."""
    module_name = "loadkit_user_" + hashlib.sha1(file.encode()).hexdigest()[:12]
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, file)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot import {file}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's code: any failure is a configuration problem
            del sys.modules[module_name]
            raise ConfigError(f"importing {file} failed: {type(exc).__name__}: {exc}") from None
    return module


def import_locust_class(file: str, class_name: str) -> type:
    """Import a Locust file by path (once per process) and return the named class."""
    module = import_locustfile(file)
    cls = getattr(module, class_name, None)
    if cls is None:
        names = [n for n, v in vars(module).items() if inspect.isclass(v) and v.__module__ == module.__name__]
        raise ConfigError(f"{file} has no class {class_name!r} (classes there: {', '.join(names) or 'none'})")
    return cls


def locust_class_problem(file: str, class_name: str) -> str | None:
    """Why ``class_name`` in ``file`` is not a usable Locust User class, or None if it is."""
    try:
        cls = import_locust_class(file, class_name)
    except ConfigError as exc:
        return str(exc)
    from locust import User

    if not (inspect.isclass(cls) and issubclass(cls, User)):
        return f"{class_name} in {file} is not a locust.User subclass"
    if getattr(cls, "abstract", False):
        return f"{class_name} in {file} is abstract (abstract = True); point at a concrete User class"
    return None


def shape_classes(file: str) -> list[str]:
    """The concrete ``LoadTestShape`` classes defined in a locustfile (not imported into it)."""
    from locust import LoadTestShape

    module = import_locustfile(file)
    return [n for n, v in vars(module).items()
            if inspect.isclass(v) and issubclass(v, LoadTestShape) and v is not LoadTestShape
            and v.__module__ == module.__name__ and not getattr(v, "abstract", False)]


def locust_options(host: str, options: dict | None = None):
    """``environment.parsed_options`` as ``locust`` would parse them: Locust's own defaults, the
    arguments locustfiles add in ``init_command_line_parser``, ``--host`` and the scenario's ``options``.

    Config files (locust.conf, pyproject.toml) are not read: the scenario is the configuration.
    ``ConfigError`` names an option no locustfile defines, or a value its parser refuses.
    """
    import contextlib
    import io

    from locust.argument_parser import get_parser

    parser = get_parser(default_config_files=[])
    argv = ["--headless", "--host", host]
    for key, value in sorted((options or {}).items()):
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, list):
            argv += [flag, *(str(v) for v in value)]
        else:
            argv += [flag, str(value)]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parsed, unknown = parser.parse_known_args(argv)
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
