"""Scenario key ``load.replay``: a window of a recorded profile becomes an open-model schedule and request mix.

What a replay sends must be what was recorded, or it must say where it is not:

- every block of the window is replayed with the endpoint mix it had (``OpenLoad.mixes``, starts in
  replay seconds), and ``OpenLoad.mix`` is the mix of the whole window, not of the whole log;
- traffic of endpoints no ``map:`` line covers is redistributed over the mapped requests or dropped,
  as ``load.unmapped`` says; without that key a window whose unmapped share is above 5 % is refused,
  naming its biggest unmapped endpoints and the ``map:`` lines that would cover them;
- a format-1 profile (no mix per block) replays the whole log's mix and says so in ``OpenLoad.warnings``.

Weights are shares of the requests that had a method and path, the denominator of every endpoint
share a profile shows. ``drop`` sends exactly the mapped endpoints' recorded requests: the rate of
each block times (mapped requests / all requests of the block), so requests without a method/path
are dropped too.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigError
from ..model import MixBlock, OpenLoad, Segment, YamlUser
from ..source import Path
from .reader import Reader, _kind

__all__ = ["ReplaySection", "MixPlan", "plan_mix", "UNMAPPED_LIMIT", "UNMAPPED_MODES"]

#: Above this unmapped share of a window, a replay must say what to do with it (load.unmapped).
UNMAPPED_LIMIT = 0.05
UNMAPPED_MODES = ("redistribute", "drop")
OTHER_LABEL = "(endpoints beyond the import's --max-endpoints)"


@dataclass(frozen=True)
class MixPlan:
    """A window's request mix through ``map:``; shares are of the requests with a method and path."""

    mix: tuple[tuple[str, float], ...]  # request name -> share of the window
    blocks: tuple[tuple[tuple[str, float], ...], ...]  # per window part: request name -> share of the part
    kept: tuple[float, ...]  # per window part: mapped requests / all requests of the part (what drop sends)
    unmapped: tuple[tuple[str, float], ...]  # endpoint -> share of the window, biggest first
    unmapped_share: float
    unclassified_share: float  # requests without a method/path, of all the window's requests


def _label(ep: tuple[str, str]) -> str:
    return OTHER_LABEL if ep == ("*", "*") else f"{ep[0]} {ep[1]}"


def plan_mix(parts: Sequence[Any], mapping: Mapping[str, str]) -> MixPlan:
    """Request weights per part and for the whole window, from ``WindowPart`` counts and ``map:``.

    A part in which no mapped endpoint was seen (or nothing at all) takes the window's mix, so
    every block has positive weights to draw from.
    """
    totals: dict[str, float] = {}
    part_weights: list[dict[str, float]] = []
    kept: list[float] = []
    classified_sum = requests_sum = 0.0
    for part in parts:
        weights: dict[str, float] = {}
        for ep, n in part.counts:
            label = _label(ep)
            totals[label] = totals.get(label, 0.0) + n
            name = mapping.get(label)
            if name is not None:
                weights[name] = weights.get(name, 0.0) + n
        mapped = math.fsum(weights.values())
        classified = part.classified
        kept.append(mapped / part.requests if part.requests > 0 else 0.0)
        part_weights.append({k: v / classified for k, v in weights.items() if v > 0} if mapped > 0 else {})
        classified_sum += classified
        requests_sum += part.requests
    by_name: dict[str, float] = {}
    for label, n in totals.items():
        if label in mapping and n > 0:
            by_name[mapping[label]] = by_name.get(mapping[label], 0.0) + n / classified_sum
    mix = tuple(sorted(by_name.items()))
    unmapped = tuple(sorted(((label, n / classified_sum) for label, n in totals.items()
                             if label not in mapping and n > 0), key=lambda kv: (-kv[1], kv[0])))
    return MixPlan(
        mix=mix, blocks=tuple(tuple(sorted(w.items())) or mix for w in part_weights), kept=tuple(kept),
        unmapped=unmapped, unmapped_share=math.fsum(s for _, s in unmapped),
        unclassified_share=(requests_sum - classified_sum) / requests_sum if requests_sum > 0 else 0.0,
    )


def refusal(plan: MixPlan, window: str, top: int = 5) -> str:
    """Why a replay with too much unmapped traffic is refused, and the exact lines that would fix it."""
    biggest = plan.unmapped[:top]
    listed = ", ".join(f"{label} {share:.1%}" for label, share in biggest)
    lines = [f"{json.dumps(label)}: REQUEST-NAME" for label, _ in biggest if label != OTHER_LABEL]
    msg = (f"{plan.unmapped_share:.1%} of the requests in the {window} window are of endpoints no map line covers "
           f"(more than {UNMAPPED_LIMIT:.0%}); the biggest: {listed}")
    if lines:
        msg += f"; cover them with map lines such as {', '.join(lines)}"
    if any(label == OTHER_LABEL for label, _ in biggest):
        msg += "; re-import with a larger --max-endpoints to name the endpoints beyond the cap"
    return msg + ("; or state load.unmapped: redistribute (send the full rate over the mapped requests) "
                  "or drop (send only the mapped share)")


@dataclass(frozen=True)
class _Mapped:
    """What ``map:`` and ``unmapped:`` make of a window: the mix, each part's weights, the rates to send."""

    plan: MixPlan
    rates: list[float]
    mode: str
    warnings: tuple[str, ...]


class ReplaySection(Reader):
    """``load: {replay: PROFILE, window, scale, speedup, map, unmapped}``."""

    def load_replay(self, d: dict, path: Path, users: tuple) -> OpenLoad | None:
        from ...profiles import select_window, window_parts
        from ...profiles.timestamps import format_duration

        found = self._replay_profile(d["replay"], path + ("replay",))
        scale = self.number(d.get("scale", 1), path + ("scale",), 0.000001, maximum=10_000)
        speedup = self.number(d.get("speedup", 1), path + ("speedup",), 0.000001, maximum=10_000)
        mode = self._unmapped_mode(d, path)
        if found is None or scale is None or speedup is None or mode is False:
            return None
        name, profile = found
        try:
            window = select_window(profile, d.get("window", "full"))
        except ValueError as exc:
            self.err(path + ("window",), str(exc))
            return None
        rates = [r * scale for r in profile.rates[window.first:window.last]]
        if not rates or sum(rates) <= 0:
            self.err(path + ("replay",), f"the {window.name} window of the profile holds no requests")
            return None
        parts = window_parts(profile, window)
        per_block = profile.mix_interval is not None and bool(profile.blocks)
        if "map" not in d:  # the scenario's own weights; every endpoint of the window is unmapped
            mapped = _Mapped(plan_mix(parts, {}), rates, "", ())
            mix: tuple[tuple[str, float], ...] = ()
        else:
            found_map = self._mapped(d["map"], path + ("map",), profile, users, window.name, parts, rates, mode)
            if found_map is None:
                return None
            mapped, mix = found_map, found_map.plan.mix
        mixes = tuple(MixBlock(part.offset * profile.interval / speedup, weights)
                      for part, weights in zip(parts, mapped.plan.blocks, strict=True)) if mix and per_block else ()
        warnings = list(mapped.warnings)
        if mix and not per_block:
            warnings.append(f"profile {name} is format {profile.format.rsplit('/', 1)[-1]} and has no mix per block: "
                            f"the whole log's endpoint mix is replayed for the {window.name} window; re-import it "
                            "with loadkit profile import for the window's own mix")
        opts = self.open_options(d, path, max(mapped.rates))
        if opts is None:
            return None
        how = (f"mix per {format_duration(profile.mix_interval)} block" if mixes  # type: ignore[arg-type]
               else "whole-log mix" if mix else "the scenario's weights")
        source = (f"{name} {window.name} x{scale:g} speedup {speedup:g}, {how}"
                  + (f", unmapped {mapped.mode}" if mapped.mode else ""))
        segments = tuple(Segment(profile.interval / speedup, r, r) for r in mapped.rates)
        return OpenLoad(segments, opts[0], opts[1], mix, source, mapped.plan.unmapped, mixes, mapped.mode,
                        tuple(warnings))

    def _replay_profile(self, value: Any, path: Path) -> tuple[str, Any] | None:
        """The profile named by ``load.replay``, looked up like a locust file, and its file name."""
        from ...profiles import load_profile

        resolved = self.resolve_file(str(value))
        if resolved is None:
            self.err(path, f"profile {value!r} not found (make one with loadkit profile import)")
            return None
        try:
            return resolved.name, load_profile(resolved)
        except ConfigError as exc:
            self.err(path, f"cannot read profile: {exc}")
            return None

    def _unmapped_mode(self, d: dict, path: Path) -> str | None | bool:
        """``load.unmapped`` as stated (None: not stated); False after an error."""
        mode = d.get("unmapped")
        if mode is not None and mode not in UNMAPPED_MODES:
            self.err(path + ("unmapped",), f"expected redistribute or drop, got {_kind(mode)}")
            return False
        if mode is not None and "map" not in d:
            self.err(path + ("unmapped",), "applies with load.map: without map the scenario's own request weights "
                                           "take the whole rate, so nothing is unmapped")
            return False
        return mode

    def _mapped(self, value: Any, path: Path, profile: Any, users: tuple, window: str, parts: Sequence[Any],
                rates: list[float], mode: str | None) -> _Mapped | None:
        """The window through ``map:``; refused when too much is unmapped and ``unmapped:`` does not say what to do."""
        mapping = self.replay_map(value, path, profile, users)
        if mapping is None:
            return None
        plan = plan_mix(parts, mapping)
        if not plan.mix:
            self.err(path, f"none of the mapped endpoints has requests in the {window} window")
            return None
        if mode is None and plan.unmapped_share > UNMAPPED_LIMIT:
            self.err(path, refusal(plan, window))
            return None
        warnings = []
        if mode is None and plan.unmapped_share > 0:
            warnings.append(f"{plan.unmapped_share:.1%} of the {window} window's requests are of unmapped endpoints "
                            "and are redistributed over the mapped requests (state load.unmapped to choose)")
        if mode == "drop":
            rates = self._dropped(rates, parts, plan.kept)
            if sum(rates) <= 0:
                self.err(path, f"the mapped endpoints have no requests in the {window} window")
                return None
            if plan.unclassified_share > 0:
                warnings.append(f"unmapped: drop also leaves out the {plan.unclassified_share:.1%} of the {window} "
                                "window's requests that had no method/path")
        recorded = mode or ("redistribute" if plan.unmapped_share > 0 else "")
        return _Mapped(plan, rates, recorded, tuple(warnings))

    @staticmethod
    def _dropped(rates: list[float], parts: Sequence[Any], kept: Sequence[float]) -> list[float]:
        """Each interval's rate times its block's mapped share: segments follow the blocks."""
        out = list(rates)
        for part, factor in zip(parts, kept, strict=True):
            for i in range(part.offset, part.offset + part.intervals):
                out[i] *= factor
        return out

    def replay_map(self, value: Any, path: Path, profile: Any, users: tuple) -> dict[str, str] | None:
        """``map: {"GET /x/{id}": request-name}`` checked against the profile's endpoints and the scenario's requests."""
        names = {r.name for u in users if isinstance(u, YamlUser) for r in u.all_requests}
        known = [f"{e.method} {e.path}" for e in profile.endpoints]
        if not isinstance(value, dict) or not value:
            got = "an empty mapping" if value == {} else _kind(value)
            self.err(path, f'expected a mapping of profile endpoints to request names ("GET /x/{{id}}": '
                           f"REQUEST-NAME), got {got}")
            return None
        mapping: dict[str, str] = {}
        ok = True
        for endpoint, name in value.items():
            if str(endpoint) not in known:
                close = difflib.get_close_matches(str(endpoint), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else (
                    "" if known else " (the profile has no endpoints: it records only a rate)")
                self.err(path + (endpoint,), f"endpoint {endpoint!r} is not in the profile{hint}")
                ok = False
            elif not isinstance(name, str) or name not in names:
                self.err(path + (endpoint,), f"request {name!r} is not defined (requests: {', '.join(sorted(names))})")
                ok = False
            else:
                mapping[str(endpoint)] = name
        return mapping if ok else None
