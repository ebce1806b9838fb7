"""The validating builder behind :func:`loadkit.scenario.parse_scenario`, one mixin per group of sections.

It builds the frozen objects of :mod:`loadkit.scenario.model` and imports nothing above them.
"""

from __future__ import annotations

import hashlib
import re

from ...errors import ConfigError
from ..locustfile import locust_config_files, locust_option_problems, locust_options
from ..model import DEFAULT_TIMEOUT_S, Load, LocustUserRef, Scenario, YamlUser
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
        options = self.locust_user_options(d.get("users"))
        if any(isinstance(u, LocustUserRef) for u in users):
            for found in locust_config_files():
                self.err(("users",), f"{found} is a Locust config file, which locust -f would read and loadkit does "
                                     "not: give its settings in the scenario (options: of the locust: entries, "
                                     "load:), and move it out of the way")
        if options is not None and target is not None:
            try:
                locust_options(target.host, options, self.env, self.locustfiles(users, load))
            except ConfigError as exc:
                self.err(("users",), str(exc))
        if self.src.problems or not (name and target and load and timeout):
            return None
        digest = hashlib.sha256(text.encode()).hexdigest()
        return Scenario(name, str(d.get("description") or ""), self.src.file, digest, target, users, load, checks,
                        None if seed is None else int(seed), tuple(overrides), compare, environment, abort, metrics,
                        timeout, tuple(dict.fromkeys(self.src.secrets)))

    def locust_user_options(self, raw: object) -> dict | None:
        """The options of every ``locust:`` entry, merged into the one command line Locust parses for all of
        them, without those refused here (Locust's own options loadkit does not apply, a second value for an
        option); None when a ``LOCUST_*`` environment variable is refused, or no entry is a ``locust:`` one."""
        items = [(i, it) for i, it in enumerate(raw if isinstance(raw, list) else [])
                 if isinstance(it, dict) and "locust" in it]
        merged: dict = {}
        where: dict[str, int] = {}
        ok = True
        for i, item in items:
            inner = item["locust"] if isinstance(item["locust"], dict) and "options" in item["locust"] else None
            options = inner["options"] if inner is not None else item.get("options")
            if not isinstance(options, dict):
                continue
            at = ("users", i, "locust", "options") if inner is not None else ("users", i, "options")
            refused = dict(locust_option_problems(options, {}))
            for key, why in refused.items():
                self.err(at + (key,), why)
            for key, value in options.items():
                if key in refused:
                    continue
                if key in merged and merged[key] != value:
                    self.err(at + (key,), f"{value!r} differs from {merged[key]!r} given in users.{where[key]}: Locust "
                                          "parses one command line for all locustfiles, so an option has one value")
                merged.setdefault(key, value)
                where.setdefault(key, i)
        if items:  # LOCUST_* variables reach every locustfile's parsed_options, as under locust
            for _, why in locust_option_problems({}, self.env):
                self.err(("users",), why)
                ok = False
        return merged if ok and items else None

    @staticmethod
    def locustfiles(users: tuple, load: Load | None) -> list[str]:
        """The locustfiles a scenario runs: its users' and its load shape's."""
        files = [u.file for u in users if isinstance(u, LocustUserRef)]
        if load is not None and load.shape is not None:
            files.append(load.shape.file)
        return list(dict.fromkeys(files))
