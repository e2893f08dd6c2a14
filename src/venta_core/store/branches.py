"""Plugins own tables: each plugin's migrations are an Alembic branch of their own.

A plugin answers ``venta_migrations(settings)`` with ``PluginMigrations``: its name, which is
the branch label, the directory holding its revision files and, to autogenerate revisions, the
``MetaData`` of its tables. The first revision of a branch has no ``down_revision``, the
plugin's name as ``branch_labels`` and, as ``depends_on``, the venta revision whose tables it
needs (a foreign key to ``users``, say); later ones follow it as usual.

All branches share one version table, which holds the heads applied: Alembic drops a revision a
stored one depends on, so a database at ``favourites_0001`` (which depends on ``0005``) stores
just that. ``branch_state`` therefore reads the stored heads back as one revision per branch,
walking down each head through its dependencies. Upgrading to ``heads`` runs venta's revisions
first, as far as a plugin depends on them; downgrading venta below a revision a plugin depends
on downgrades that plugin's dependent revisions first (their tables go too): Alembic's
dependency rules, which keep a plugin's foreign keys from ever pointing at a dropped table.
venta's own revisions carry no branch label; they are the branch ``venta``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory
    from sqlalchemy import MetaData

__all__ = ["CORE", "PluginMigrations", "branch_of", "branch_state"]

#: The name of venta's own branch (its revisions carry no label).
CORE = "venta"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True, slots=True)
class PluginMigrations:
    """A plugin's own migrations: the Alembic branch ``name`` in ``directory``.

    ``name`` is the branch label (lower case letters, digits and ``_``), and prefixes the ids of
    the revisions ``venta db revision --plugin NAME`` writes (``favourites_0001``). ``metadata``
    holds the plugin's tables, compared with the database by autogenerate and left out of
    venta's own comparisons.
    """

    name: str
    directory: Path
    metadata: MetaData | None = None

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name) or self.name == CORE:
            raise ValueError(
                f"migration branch {self.name!r}: a name of lower case letters, digits and _ "
                f"(up to 40, not {CORE!r})"
            )


def branch_of(script: ScriptDirectory, revision: str) -> str:
    """The branch a known revision belongs to: its (inherited) label, else ``venta``."""
    labels = script.get_revision(revision).branch_labels
    return sorted(labels)[0] if labels else CORE


def branch_state(
    script: ScriptDirectory, stored: Sequence[str], names: Iterable[str]
) -> dict[str, str | None]:
    """The revision each branch of ``names`` is at (``None``: base), from the stored heads.
    Every stored head must be known to ``script``."""
    applied: dict[str, set[str]] = {name: set() for name in names}
    downs: set[str] = set()
    for head in stored:
        for rev in script.iterate_revisions(head, "base"):
            applied.setdefault(branch_of(script, rev.revision), set()).add(rev.revision)
            downs.update(_tuple(rev.down_revision))
    return {name: ",".join(sorted(revs - downs)) or None for name, revs in applied.items()}


def _tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)
