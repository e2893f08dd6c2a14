"""Headings, anchors and links of the Markdown documents, as GitHub renders them."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["anchor", "headings", "links"]

_HEADING = re.compile(r"^#{1,6} (.+?)\s*$")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (``_`` and ``-`` kept),
    spaces turned into ``-``."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def headings(path: Path) -> dict[str, str]:
    """Anchor -> heading text, for every heading outside code blocks."""
    found: dict[str, str] = {}
    fenced = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        match = _HEADING.match(line)
        if match and not fenced:
            found[anchor(match.group(1))] = match.group(1)
    return found


def links(path: Path) -> list[str]:
    """The targets of the inline links of a document."""
    return _LINK.findall(path.read_text())
