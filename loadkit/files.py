"""Writing files so that a reader never sees half of one: temporary name in the same folder, then rename.

Every output of loadkit (run folder files, baselines, reports, JUnit, profiles) is written through here,
so "nothing the user had is lost or half-written" is kept in one place.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import DiskFullError, ResultsError

__all__ = ["atomic_path", "atomic_write", "write_json", "json_default", "disk_full"]


def disk_full(exc: BaseException) -> bool:
    """True when ``exc`` says the disk (or the quota) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def atomic_path(path: Path, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on failure it is removed.

    An ``OSError`` becomes a :class:`ResultsError` naming the file (and saying so when the disk is full).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if disk_full(exc):
            raise DiskFullError(f"{path}: cannot write: the disk is full") from exc
        raise ResultsError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write(path: Path, data: bytes | str, fsync: bool = False) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path, fsync) as tmp:
        tmp.write_bytes(payload)


def json_default(value: Any) -> Any:
    """numpy scalars and enums as plain JSON values."""
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(path: Path, data: Any, compact: bool = False, fsync: bool = True) -> None:
    """``data`` as JSON (indented unless ``compact``), atomically and durably."""
    if compact:
        text = json.dumps(data, separators=(",", ":"), default=json_default)
    else:
        text = json.dumps(data, indent=2, default=json_default) + "\n"
    atomic_write(path, text, fsync=fsync)
