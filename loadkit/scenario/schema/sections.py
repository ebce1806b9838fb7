"""Scenario sections ``metrics:``, ``checks:``, ``compare:``, ``environment:`` and ``abort:``."""

from __future__ import annotations

import re
from typing import Any

from ...collectors.base import MetricSpec
from ...errors import ConfigError
from ...hosts import AllowList
from ...parity import ParityMode, ParitySpec, read_reference, unmatched
from ..checks import Check, CompareCheck, parse_check, parse_compare
from ..model import AbortRule, EnvironmentSpec, Load, LocustUserRef, Target, YamlUser
from ..source import Path
from .reader import Reader, _kind

_PARITY_KEYS = {"reference", "must_match", "scale", "map", "parity"}


class OtherSections(Reader):
    """What is measured and judged: ``metrics:`` first, since checks, compare and abort may name its fields."""

    def metrics(self, value: Any, path: Path, target: Target | None = None) -> tuple[MetricSpec, ...]:
        """The ``metrics:`` sources; what each accepts and yields comes from loadkit.collectors.SOURCES.

        ``scrape`` and ``prometheus`` URLs must be on the target's ``allowed_hosts``, as requests are:
        a metric source is a request too, and what it answers ends up in the results.
        """
        from ...collectors import SOURCES, check_spec
        from ...redact import redact

        self.metric_units: dict[str, str] = {}
        self.metric_prefixes: list[str] = []
        if not isinstance(value, list):
            self.err(path, f"expected a list of {{name, source, ...}} entries, got {_kind(value)}")
            return ()
        out: list[MetricSpec] = []
        for i, item in enumerate(value):
            p = path + (i,)
            if not isinstance(item, dict) or "name" not in item or "source" not in item:
                self.err(p, "expected a mapping with name and source (process, host, postgres, mysql, scrape, prometheus)")
                continue
            name, source = str(item["name"]), str(item["source"])
            interval = self.duration(item.get("interval", 1), p + ("interval",))
            if interval is None:
                continue
            options = {k: v for k, v in item.items() if k not in ("name", "source", "interval")}
            spec, problems = check_spec(MetricSpec(name, source, options, interval))
            for problem in problems:
                key = next((k for k in options if f" {k} " in problem or f"{k!r}" in problem), "")
                self.err(p + ((key,) if key else ()), problem)
            if any(m.name == name for m in out):
                self.err(p + ("name",), f"duplicate metrics name {name!r}")
            info = SOURCES.get(source)
            if info is not None:  # its fields are known even when a value is wrong: one error, not one per check
                for f in info.fields:
                    if f.name:
                        self.metric_units[f"{name}.{f.name}"] = f.unit
                if info.open_fields:
                    self.metric_prefixes.append(name)
            if problems:
                continue
            if source in ("scrape", "prometheus") and target is not None:
                why = AllowList(target.allowed_hosts).url_problem(str(spec.options["url"]))
                if why:
                    self.err(p + ("url",), f"metrics {name}: {redact(why)}")
                    continue
            out.append(spec)
        return tuple(out)

    def known_endpoints(self, users: tuple) -> set[str] | None:
        """What checks may name: request names, ``METHOD name`` and ``group=G``; None when Locust classes
        may name requests we cannot see."""
        if any(isinstance(u, LocustUserRef) for u in users):
            return None
        reqs = [r for u in users if isinstance(u, YamlUser) for r in u.all_requests]
        return ({r.name for r in reqs} | {f"{r.method} {r.name}" for r in reqs}
                | {f"group={r.group}" for r in reqs if r.group})

    def compare(self, value: Any, path: Path, users: tuple) -> tuple[CompareCheck, ...]:
        if not isinstance(value, list):
            self.err(path, f"expected a list of comparisons such as \"p95(latency) <= +10%\", got {_kind(value)}")
            return ()
        endpoints = self.known_endpoints(users)
        out = []
        for i, item in enumerate(value):
            try:
                c = parse_compare(item)
            except ValueError as exc:
                self.err(path + (i,), str(exc))
                continue
            if endpoints is not None and c.endpoint not in (None, "*") and c.endpoint not in endpoints:
                self.err(path + (i,), f"compare {c.text!r} names unknown endpoint {c.endpoint!r} "
                                      f"(known: {', '.join(sorted(endpoints)) or 'none'}; * means every endpoint)")
                continue
            base = c.metric.split("{", 1)[0]
            if c.metric not in ("latency", "error_rate", "rps") and base not in self.metric_units and not any(
                    base == p or base.startswith(p + ".") for p in self.metric_prefixes):
                self.err(path + (i,), f"compare {c.text!r}: unknown metric {c.metric!r} (expected latency, "
                                      f"error_rate, rps or a collected metric: {', '.join(sorted(self.metric_units)) or 'none'})")
                continue
            out.append(c)
        return tuple(out)

    def environment(self, value: Any, path: Path, target: Target | None) -> EnvironmentSpec:
        d = self.mapping(value, path, {"files", "urls", "env", "ignore", "commands", *_PARITY_KEYS})
        if d is None:
            return EnvironmentSpec()
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("files", "urls", "env", "ignore", "must_match"):
            items = d.get(key, [])
            if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
                self.err(path + (key,), f"expected a list of strings, got {_kind(items)}")
                items = []
            lists[key] = tuple(items)
        for i, url in enumerate(lists["urls"]):  # a path such as /config is read from the target itself
            reason = AllowList(target.allowed_hosts).url_problem(url) if target and not url.startswith("/") else None
            if reason:
                self.err(path + ("urls", i), reason)
        for i, f in enumerate(lists["files"]):
            if self.resolve_file(f) is None:
                self.err(path + ("files", i), f"file {f!r} not found (beside the scenario, in a folder above it, or in the current directory)")
        files = lists["files"]  # as written: fingerprint keys must not depend on where the checkout lives
        parity = self.parity(d, path, lists["must_match"], lists["ignore"])
        commands = []
        raw = d.get("commands") or {}
        if not isinstance(raw, dict):
            self.err(path + ("commands",), f"expected a mapping of source names to commands, e.g. {{db: \"psql -Atc "
                                           f"'show max_connections'\"}}, got {_kind(raw)}")
            raw = {}
        for name, cmd in raw.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", str(name)) or name in ("env", "cli"):
                self.err(path + ("commands", name), "expected a name of letters, digits, '_', '.' or '-' (not env "
                                                    "or cli): it names the keys, NAME#key")
            elif not isinstance(cmd, str) or not cmd.strip():
                self.err(path + ("commands", name), f"expected a command line, got {_kind(cmd)}")
            else:
                commands.append(f"{name}={cmd.strip()}")
        return EnvironmentSpec(files, lists["urls"], lists["env"], lists["ignore"], parity, tuple(commands))

    def parity(self, d: dict, path: Path, must_match: tuple[str, ...], ignore: tuple[str, ...]) -> ParitySpec | None:
        """``reference`` and what is asked of it: read now, so a bad reference stops ``validate`` too."""
        if "reference" not in d:
            for key in sorted(set(d) & (_PARITY_KEYS - {"reference"})):
                self.err(path + (key,), f"{key} compares with a reference: add reference: FILE (a fingerprint "
                                        "from `loadkit env capture`)")
            return None
        name = self.string(d["reference"], path + ("reference",))
        if name is None:
            return None
        scale: list[tuple[str, float]] = []
        raw_scale = d.get("scale") or {}
        if not isinstance(raw_scale, dict):
            self.err(path + ("scale",), f"expected a mapping of key globs to ratios, e.g. {{\"*#replicas\": 0.5}}, "
                                        f"got {_kind(raw_scale)}")
            raw_scale = {}
        for glob, ratio in raw_scale.items():
            n = self.number(ratio, path + ("scale", glob), minimum=1e-12)
            if n is not None:
                scale.append((str(glob), float(n)))
        raw_map = d.get("map") or {}
        if not isinstance(raw_map, dict) or not all(isinstance(v, str) for v in raw_map.values()):
            self.err(path + ("map",), "expected a mapping of the reference's source (or key) to this environment's, "
                                      f"e.g. {{\"prod.yaml\": \"staging.yaml\"}}, got {_kind(raw_map)}")
            raw_map = {}
        renames = [(str(a), b) for a, b in raw_map.items()]
        mode = d.get("parity", "fail")
        if mode not in ("fail", "warn"):
            self.err(path + ("parity",), f"expected fail or warn, got {mode!r}")
            mode = "fail"
        file = self.resolve_file(name)
        if file is None:
            self.err(path + ("reference",), f"reference {name!r} not found (beside the scenario, in a folder above "
                                            "it, or in the current directory)")
            return None
        try:
            reference = read_reference(file, name)
        except ConfigError as exc:
            self.err(path + ("reference",), str(exc))
            return None
        spec = ParitySpec(reference, must_match, tuple(scale), tuple(renames), ParityMode(mode), ignore)
        for section, entry, why in unmatched(spec):
            at = (section, must_match.index(entry)) if section == "must_match" else (section, entry)
            self.err(path + at, why)
        return spec

    def abort(self, value: Any, path: Path, users: tuple, load: Load | None) -> tuple[AbortRule, ...]:
        if not isinstance(value, list):
            self.err(path, f"expected a list of conditions such as \"error_rate > 20% for 10s\", got {_kind(value)}")
            return ()
        out = []
        for i, item in enumerate(value):
            m = re.match(r"^(?P<cond>.+?)\s+for\s+(?P<dur>\S+)\s*$", item) if isinstance(item, str) else None
            if not m:
                self.err(path + (i,), f"expected CONDITION for DURATION, e.g. \"error_rate > 20% for 10s\", got {item!r}")
                continue
            seconds = self.duration(m.group("dur"), path + (i,))
            try:
                check = parse_check(m.group("cond"), self.known_endpoints(users), metrics=self.metric_units,
                                    metric_prefixes=self.metric_prefixes)
            except ValueError as exc:
                self.err(path + (i,), str(exc))
                continue
            if check.kind == "metric" and check.stat == "per_request":
                self.err(path + (i,), f"abort {item!r}: per_request is known only after the run; use mean or max")
                continue
            if check.kind in ("requests", "failures"):
                self.err(path + (i,), f"abort {item!r}: use error_rate, rps or a latency statistic, not a count")
                continue
            if seconds is not None:
                out.append(AbortRule(item.strip(), check, max(seconds, 1.0)))
        return tuple(out)

    def checks(self, value: Any, path: Path, users: tuple) -> tuple[Check, ...]:
        if not isinstance(value, list):
            self.err(path, f"expected a list of checks, got {_kind(value)}")
            return ()
        endpoints = self.known_endpoints(users)
        out = []
        for i, item in enumerate(value):
            p = path + (i,)
            severity = nodata = "fail"
            if isinstance(item, dict):
                d = self.mapping(item, p, {"check", "severity", "nodata"}, {"check"})
                if d is None or "check" not in d:
                    continue
                severity, nodata = str(d.get("severity", "fail")), str(d.get("nodata", "fail"))
                bad = [k for k, v in (("severity", severity), ("nodata", nodata)) if v not in ("fail", "warn")]
                for k in bad:
                    self.err(p + (k,), f"expected fail or warn, got {d[k]!r}")
                if bad:
                    continue
                item = d["check"]
            try:
                out.append(parse_check(item, endpoints, severity, self.metric_units, self.metric_prefixes, nodata))
            except ValueError as exc:
                self.err(p, str(exc))
        return tuple(out)
