"""Examples in ``--help``: each command's epilog lists a few command lines, which help prints
as typed and docs/cli.md shows as a code block (``example_lines`` reads them back)."""

from __future__ import annotations

__all__ = ["example_lines", "examples"]

_HEADING = "Examples:"
_KEEP = "\b"  # click: print the next paragraph as it is, without re-wrapping it


def examples(*lines: str) -> str:
    """An epilog listing ``lines``, one command line each."""
    return "\n".join([_HEADING, "", _KEEP, *(f"  {line}" for line in lines)])


def example_lines(epilog: str | None) -> list[str]:
    """The command lines of an epilog written by ``examples`` (none for any other epilog)."""
    if not epilog or not epilog.startswith(_HEADING):
        return []
    body = epilog.partition(_KEEP)[2]
    return [line.strip() for line in body.splitlines() if line.strip()]
