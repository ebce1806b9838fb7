"""Which requests an import leaves out: ``--exclude GLOB`` patterns and the ``--exclude-static`` preset.

Static assets (stylesheets, scripts, images, fonts) are usually served by a CDN or the web
server's file handler, not the application under test; replaying them as API calls would
be load the target never sees in production. Excluded requests leave the profile entirely
(rate, endpoint mix, status mix) and are counted, so the summary says how much was removed.

Patterns are matched against the *templated* endpoint (``/tickets/{id}``, as printed by the
import), with ``fnmatch`` rules (``*`` also crosses ``/``), case-sensitively:

- a pattern with a space is ``METHOD PATH`` and is matched against ``"GET /tickets/{id}"``;
- otherwise it is matched against the path alone;

and in both cases against the path with and without its query string, so ``*.js`` matches
``/wp-includes/js/jquery.js?ver={ver}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

__all__ = ["STATIC_EXTENSIONS", "NO_EXCLUSION", "Exclusion", "check_pattern"]

#: ``--exclude-static``: file extensions of the path (query string ignored, any case), plus favicon.* files
STATIC_EXTENSIONS = (".css", ".js", ".map", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp",
                     ".woff", ".woff2", ".ttf", ".eot", ".otf")
_METHOD = re.compile(r"[A-Z0-9_*?\[\]-]+")  # an upper-case method, wildcards allowed (P*)


def check_pattern(pattern: str) -> str:
    """The pattern if it can match an endpoint, else ValueError saying what one looks like."""
    text = pattern.strip()
    method, sep, path = text.partition(" ")
    target = path.strip() if sep else text
    if sep and not _METHOD.fullmatch(method):
        raise ValueError(f"expected METHOD /path (e.g. 'HEAD /') or a path pattern, got {pattern!r}")
    if not target.startswith(("/", "*", "?", "[")):
        raise ValueError(f"a path pattern starts with / or * (templated paths always start with /), "
                         f"e.g. '/feed/*' or '*.php'; got {pattern!r}")
    return text


def _is_static(path: str) -> bool:
    bare = path.partition("?")[0].lower()
    name = bare.rsplit("/", 1)[-1]
    return bare.endswith(STATIC_EXTENSIONS) or name.startswith("favicon.")


@dataclass(frozen=True)
class Exclusion:
    """The import's exclusion rules; calling it on ``(method, templated path)`` says whether to leave it out."""

    patterns: tuple[str, ...] = ()
    static: bool = False

    def __bool__(self) -> bool:
        return bool(self.patterns) or self.static

    def __call__(self, endpoint: tuple[str, str]) -> bool:
        method, path = endpoint
        if self.static and _is_static(path):
            return True
        bare = path.partition("?")[0]
        for p in self.patterns:
            if " " in p:
                if fnmatchcase(f"{method} {path}", p) or fnmatchcase(f"{method} {bare}", p):
                    return True
            elif fnmatchcase(path, p) or fnmatchcase(bare, p):
                return True
        return False

    def describe(self) -> list[str]:
        """As recorded in ``NAME.json`` and printed: ``static`` for the preset, then the patterns."""
        return (["static"] if self.static else []) + list(self.patterns)


NO_EXCLUSION = Exclusion()
