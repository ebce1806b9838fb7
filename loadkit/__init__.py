"""loadkit: pre-production load tests with Locust, full-resolution results and a CI verdict.

The library entry points, imported lazily so ``import loadkit`` stays light (and does not
apply Locust's gevent monkey patching until a run needs it)::

    scenario = loadkit.load_scenario("scenarios/example.yaml")
    outcome = loadkit.LoadRun(scenario, Path("results")).execute()
    print(outcome.verdict.status)
"""

from importlib import import_module
from typing import Any

from .errors import ConfigError, LoadkitError, Problem, ResultsError, RunError

__version__ = "0.1.0"

_LAZY = {
    "load_scenario": "loadkit.scenario",
    "Scenario": "loadkit.scenario",
    "LoadRun": "loadkit.run",
    "RunOptions": "loadkit.run",
    "RunOutcome": "loadkit.run",
    "BaselineStore": "loadkit.baseline",
    "judge_run": "loadkit.verdict",
    "write_report": "loadkit.report",
}

__all__ = ["__version__", "LoadkitError", "ConfigError", "RunError", "ResultsError", "Problem", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'loadkit' has no attribute {name!r}")
