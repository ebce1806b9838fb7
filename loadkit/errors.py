"""The exception tree. The CLI catches :class:`LoadkitError` once and prints one line.

    LoadkitError                 base; ``exit_code`` says what the CLI returns
    ├── ConfigError (2)          bad scenario, bad flag, host not allowed
    │     carries a list of :class:`Problem` so every problem of a file is shown at once
    ├── RunError (3)             target unreachable, no request completed, internal failure
    │     └── DiskFullError      the disk filled while the results were written
    └── ResultsError (2)         a results folder that is missing or unreadable
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LoadkitError", "ConfigError", "RunError", "DiskFullError", "ResultsError", "Problem"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located as precisely as we can."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class LoadkitError(Exception):
    """Base of every error loadkit raises on purpose."""

    exit_code = 3

    def lines(self) -> list[str]:
        return [str(self)]


class ConfigError(LoadkitError):
    """Bad input: the user can fix it by editing a file or a flag."""

    exit_code = 2

    def __init__(self, message: str | None = None, problems: list[Problem] | None = None):
        self.problems = list(problems or [])
        super().__init__(message or "; ".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems] if self.problems else [str(self)]


class RunError(LoadkitError):
    """The run could not produce a meaningful result."""

    exit_code = 3


class DiskFullError(RunError):
    """The disk (or quota) filled while the run wrote its results; what was written is kept."""


class ResultsError(LoadkitError):
    """A results folder that cannot be read."""

    exit_code = 2
