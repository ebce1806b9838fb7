"""Existing locustfiles: imported by path, once per process, and checked for usable ``User`` classes."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys

from ..errors import ConfigError

__all__ = ["import_locust_class", "locust_class_problem", "import_locustfile"]


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
