"""Scenarios: YAML validated once, at load time, into frozen objects the runner trusts.

``model`` (the objects), ``source`` (YAML with lines), ``read`` (interpolation, ``--set``, the
entry points), ``checks`` (the check and compare languages), ``locustfile`` (existing Locust
files), ``schema/`` (section-by-section validation). Nothing here knows how a run is driven.
"""

from .checks import Check, CompareCheck, metric_key, parse_check, parse_compare
from .locustfile import import_locust_class, locust_class_problem
from .model import (
    AbortRule,
    Auth,
    EnvironmentSpec,
    Load,
    LocustUserRef,
    MixBlock,
    OpenLoad,
    Request,
    Scenario,
    Segment,
    ShapeRef,
    Stage,
    Target,
    Var,
    Wait,
    YamlUser,
)
from .read import load_scenario, parse_scenario

__all__ = [
    "Scenario", "Target", "Auth", "Var", "Request", "Wait", "YamlUser", "LocustUserRef", "Stage", "Load", "AbortRule",
    "Segment", "OpenLoad", "MixBlock", "ShapeRef", "EnvironmentSpec", "Check", "CompareCheck", "parse_check", "parse_compare", "metric_key",
    "load_scenario", "parse_scenario", "import_locust_class", "locust_class_problem",
]
