"""The validating builder behind :func:`loadkit.scenario.parse_scenario`, one mixin per group of sections.

It builds the frozen objects of :mod:`loadkit.scenario.model` and imports nothing above them.
"""

from __future__ import annotations

import hashlib
import re

from ...errors import ConfigError
from ..locustfile import locust_options
from ..model import DEFAULT_TIMEOUT_S, LocustUserRef, Scenario, YamlUser
from .load import LoadSection
from .reader import Reader
from .sections import OtherSections
from .users import UsersSection

__all__ = ["Builder", "Reader"]


class Builder(UsersSection, LoadSection, OtherSections):
    """Walks the raw data, recording problems instead of stopping at the first one."""

    def scenario(self, text: str, overrides: list[str]) -> Scenario | None:
        d = self.mapping(self.src.data, (), {"name", "description", "target", "users", "load", "checks", "seed",
                                             "compare", "environment", "abort", "metrics", "timeout"},
                         {"name", "target", "users"})
        if d is None:
            return None
        name = self.string(d.get("name"), ("name",)) if "name" in d else None
        if name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            self.err(("name",), f"expected letters, digits, '-', '_' or '.' (it names folders), got {name!r}")
        target = self.target(d["target"], ("target",)) if "target" in d else None
        users = self.users(d["users"], ("users",)) if "users" in d else ()
        if target is not None:
            for user in users:
                if isinstance(user, YamlUser):
                    self.placeholders(target.headers, ("target", "headers"), {v.name: v for v in user.vars})
        load = self.load(d["load"], ("load",), users) if "load" in d else self.locust_shape_load(users)
        metrics = self.metrics(d.get("metrics") or [], ("metrics",), target)
        checks = self.checks(d.get("checks") or [], ("checks",), users)
        compare = self.compare(d.get("compare") or [], ("compare",), users)
        environment = self.environment(d.get("environment") or {}, ("environment",), target)
        abort = self.abort(d.get("abort") or [], ("abort",), users, load)
        seed = self.number(d["seed"], ("seed",), integer=True, maximum=2**32 - 1) if "seed" in d else None
        timeout = self.timeout(d["timeout"], ("timeout",)) if "timeout" in d else DEFAULT_TIMEOUT_S
        if load is not None and "load" in d:
            self.shape_not_ignored(users, load)
        options = {k: v for u in users if isinstance(u, LocustUserRef) for k, v in u.options}
        if options and target is not None:
            try:
                locust_options(target.host, options)
            except ConfigError as exc:
                self.err(("users",), str(exc))
        if self.src.problems or not (name and target and load and timeout):
            return None
        digest = hashlib.sha256(text.encode()).hexdigest()
        return Scenario(name, str(d.get("description") or ""), self.src.file, digest, target, users, load, checks,
                        None if seed is None else int(seed), tuple(overrides), compare, environment, abort, metrics,
                        timeout, tuple(dict.fromkeys(self.src.secrets)))
