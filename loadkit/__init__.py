"""loadkit: pre-production load tests with Locust, full-resolution results and a CI verdict."""

__version__ = "0.1.0"

from .errors import ConfigError, LoadkitError, Problem, ResultsError, RunError  # noqa: E402

__all__ = ["__version__", "LoadkitError", "ConfigError", "RunError", "ResultsError", "Problem"]
