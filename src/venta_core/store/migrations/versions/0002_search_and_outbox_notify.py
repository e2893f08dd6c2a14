"""vendor search index (PostgreSQL full text, SQLite FTS5) and outbox insert notifications

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

``search_vendors`` is the built-in search index the worker feeds from vendor events. Its
full-text part differs per database, so it is not modelled in ``tables.py`` (``env.py``
leaves ``search_vendors*`` out of autogenerate):

- PostgreSQL: a generated ``tsvector`` column (``simple`` configuration; name weighted A,
  description B) with a GIN index; and a trigger that sends ``NOTIFY venta_outbox`` after
  rows are added to ``outbox`` so relays wake at once.
- SQLite: an FTS5 table with external content (``search_vendors`` by its integer ``docid``),
  kept in step by triggers; diacritics are folded.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRESQL_UP = [
    """
    CREATE TABLE search_vendors (
        id VARCHAR(36) NOT NULL,
        name VARCHAR(100) NOT NULL DEFAULT '',
        description TEXT,
        doc JSON NOT NULL,
        version TIMESTAMP WITH TIME ZONE NOT NULL,
        deleted BOOLEAN NOT NULL DEFAULT false,
        indexed_at TIMESTAMP WITH TIME ZONE NOT NULL,
        document TSVECTOR GENERATED ALWAYS AS (
            setweight(to_tsvector('simple', coalesce(name, '')), 'A')
            || setweight(to_tsvector('simple', coalesce(description, '')), 'B')
        ) STORED,
        CONSTRAINT pk_search_vendors PRIMARY KEY (id)
    )
    """,
    "CREATE INDEX ix_search_vendors_document ON search_vendors USING gin (document)",
    """
    CREATE OR REPLACE FUNCTION venta_outbox_notify() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('venta_outbox', '');
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION venta_outbox_notify()
    """,
]

POSTGRESQL_DOWN = [
    "DROP TRIGGER IF EXISTS outbox_notify ON outbox",
    "DROP FUNCTION IF EXISTS venta_outbox_notify()",
    "DROP TABLE IF EXISTS search_vendors",
]

SQLITE_UP = [
    """
    CREATE TABLE search_vendors (
        docid INTEGER NOT NULL,
        id VARCHAR(36) NOT NULL,
        name VARCHAR(100) NOT NULL DEFAULT '',
        description TEXT,
        doc JSON NOT NULL,
        version DATETIME NOT NULL,
        deleted BOOLEAN NOT NULL DEFAULT 0,
        indexed_at DATETIME NOT NULL,
        CONSTRAINT pk_search_vendors PRIMARY KEY (docid),
        CONSTRAINT uq_search_vendors_id UNIQUE (id)
    )
    """,
    """
    CREATE VIRTUAL TABLE search_vendors_fts USING fts5(
        name, description,
        content='search_vendors', content_rowid='docid',
        tokenize='unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER search_vendors_ai AFTER INSERT ON search_vendors BEGIN
        INSERT INTO search_vendors_fts(rowid, name, description)
        VALUES (new.docid, new.name, new.description);
    END
    """,
    """
    CREATE TRIGGER search_vendors_ad AFTER DELETE ON search_vendors BEGIN
        INSERT INTO search_vendors_fts(search_vendors_fts, rowid, name, description)
        VALUES ('delete', old.docid, old.name, old.description);
    END
    """,
    """
    CREATE TRIGGER search_vendors_au AFTER UPDATE ON search_vendors BEGIN
        INSERT INTO search_vendors_fts(search_vendors_fts, rowid, name, description)
        VALUES ('delete', old.docid, old.name, old.description);
        INSERT INTO search_vendors_fts(rowid, name, description)
        VALUES (new.docid, new.name, new.description);
    END
    """,
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS search_vendors_au",
    "DROP TRIGGER IF EXISTS search_vendors_ad",
    "DROP TRIGGER IF EXISTS search_vendors_ai",
    "DROP TABLE IF EXISTS search_vendors_fts",
    "DROP TABLE IF EXISTS search_vendors",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _run(POSTGRESQL_UP)
    else:
        _run(SQLITE_UP)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _run(POSTGRESQL_DOWN)
    else:
        _run(SQLITE_DOWN)
