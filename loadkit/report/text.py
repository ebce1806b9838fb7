"""Text from outside, made safe for each medium: the terminal, Markdown, XML and HTML.

Names, error texts and configuration values come from the scenario and from the target (its
``/config``, its response bodies). Each medium has its own dangers: the terminal obeys ANSI and
OSC escape sequences (clear the screen, set the window title), Markdown renders HTML, loads
remote images, links URLs and notifies ``@mentions``, XML 1.0 has characters it cannot hold
at all (one ESC makes a JUnit file unreadable), HTML runs markup. Every function here first
masks secrets (:mod:`loadkit.redact`) and shows invisible characters as escapes (``\\x1b``), so
what a reader sees is what was there.
"""

from __future__ import annotations

import html
import re
import unicodedata

from ..redact import Redactor

__all__ = ["visible", "plain", "md_text", "md_code", "xml_text", "html_text"]

#: Control (Cc), format (Cf: bidi overrides, zero-width characters), surrogate and line/paragraph
#: separator characters: invisible, or acting on the display instead of being shown.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NONCHAR = frozenset({"\ufffe", "\uffff"})  # not characters at all (and not allowed in XML)
_REDACT = Redactor()


def _escape(c: str) -> str:
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def visible(value: object, keep: str = "") -> str:
    """``value`` with every control, format and separator character shown as an escape (``\\x1b``,
    ``\\u202e``), except those in ``keep`` (e.g. ``"\\n\\t"`` for a traceback)."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return "".join(_escape(c) if c not in keep and (unicodedata.category(c) in _HIDDEN or c in _NONCHAR) else c
                   for c in text)


def plain(value: object, keep: str = "") -> str:
    """Secrets masked, invisible characters shown: the text for a terminal line (and the base of the others)."""
    if value is None:
        return ""
    return visible(_REDACT.text(value if isinstance(value, str) else str(value)), keep)


def xml_text(value: object, keep: str = "\n\t") -> str:
    """Text that XML 1.0 can hold whatever it contained (ElementTree escapes ``<``, ``&`` and quotes)."""
    return plain(value, keep)


def html_text(value: object, keep: str = "") -> str:
    """Text for HTML: :func:`plain`, then ``html.escape`` with quotes, so it is safe in elements and attributes."""
    return html.escape(plain(value, keep), quote=True)


def md_code(value: object, table: bool = True) -> str:
    """``value`` as a Markdown code span: nothing in it is rendered (no HTML, image, link or mention).

    The fence is one backtick longer than any run of backticks inside; ``|`` is escaped in a
    table cell (GitHub and GitLab read ``\\|`` inside a code span in a table as ``|``).
    """
    text = plain(value)
    if not text:
        return "*(empty)*"
    if table:
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


#: What Markdown would act on inside prose: URLs (links, and images with ``![]``), ``@mentions``
#: and ``#123`` / ``!123`` references (notifications and cross-links on GitHub and GitLab).
_ACTIVE = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)[^\s<>`|]+|(?<![\w`])[@#!][\w][\w./-]*", re.I)
_INLINE = re.compile(r"([\\`*_\[\]!|~])")  # emphasis, code, links and images, table cells, strikethrough
_LINE_START = re.compile(r"^(\s*)(?:([#>+=-])|(\d+)([.)]))")  # a heading, quote, list or rule at a line's start


def md_text(value: object, line_start: bool = True) -> str:
    """Prose for Markdown (a reason, a note): every character shown as written, nothing rendered.

    ``&`` and ``<`` become entities (no HTML), Markdown punctuation is backslash-escaped (no
    emphasis, link or image), and URLs, ``@mentions`` and ``#123`` references are put in code
    spans, where neither GitHub nor GitLab links or notifies. Newlines become spaces: one
    value stays on one line of a list or a table. ``line_start`` escapes what would start a
    heading, quote or list at the start of a line (not needed in a table cell).
    """
    text = plain(value, keep="\n").replace("\n", " ")
    out, last = [], 0
    for m in _ACTIVE.finditer(text):
        out.append(_md_escape(text[last:m.start()]))
        out.append(md_code(m.group(0)))
        last = m.end()
    out.append(_md_escape(text[last:]))
    text = "".join(out)
    return _LINE_START.sub(_unstart, text, count=1) if line_start else text


def _unstart(m: re.Match[str]) -> str:
    if m.group(2):
        return f"{m.group(1)}\\{m.group(2)}"
    return f"{m.group(1)}{m.group(3)}\\{m.group(4)}"


def _md_escape(text: str) -> str:
    return _INLINE.sub(r"\\\1", text.replace("&", "&amp;").replace("<", "&lt;"))
