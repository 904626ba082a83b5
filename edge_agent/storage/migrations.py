"""Append-only schema migrations (sqlite-utils ``Migrations``). Never edit a released step; add one to
:data:`STEPS`.

sqlite-utils (with the ~50 modules it loads, 2.3 MiB of memory for the daemon's whole life) is imported
only when a step is pending: opening an up-to-date database reads the applied names with one query.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

MIGRATION_SET = "edge_agent"
_APPLIED_TABLE = "_sqlite_migrations"  # where sqlite-utils records the applied steps


def m001_core(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        CREATE TABLE profiles (
            uid TEXT PRIMARY KEY,
            custom TEXT UNIQUE,
            attributes TEXT NOT NULL DEFAULT '{}',
            first_seen REAL NOT NULL,
            last_seen REAL NOT NULL,
            current_ses TEXT,
            central_uid TEXT,
            visits INTEGER NOT NULL DEFAULT 0,
            events INTEGER NOT NULL DEFAULT 0
        );

        CREATE TABLE devices (
            device_id TEXT PRIMARY KEY,
            uid TEXT NOT NULL REFERENCES profiles(uid),
            last_seen REAL NOT NULL
        );

        CREATE TABLE sessions (
            ses TEXT PRIMARY KEY,
            uid TEXT NOT NULL REFERENCES profiles(uid),
            device_id TEXT,
            started_at REAL NOT NULL,
            last_seen REAL NOT NULL,
            is_first INTEGER NOT NULL DEFAULT 0,
            traffic_source TEXT,
            pageviews INTEGER NOT NULL DEFAULT 0,
            events INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX sessions_uid ON sessions(uid, started_at);

        CREATE TABLE history (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL,
            ses TEXT NOT NULL,
            type TEXT NOT NULL,
            at REAL NOT NULL,
            event TEXT NOT NULL DEFAULT '{}',
            ctx TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX history_uid_at ON history(uid, at);
        CREATE INDEX history_type_at ON history(type, at);

        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            sec TEXT NOT NULL,
            method TEXT NOT NULL,
            path TEXT NOT NULL,
            body TEXT NOT NULL,
            uid TEXT,
            bytes INTEGER NOT NULL,
            received_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'pending',
            last_error TEXT,
            last_status INTEGER,
            delivered_at REAL
        );
        CREATE INDEX outbox_state_seq ON outbox(state, seq);
        CREATE INDEX outbox_uid_state ON outbox(uid, state, seq);

        CREATE TABLE engagements (
            id INTEGER PRIMARY KEY,
            type TEXT NOT NULL,
            decision_id TEXT NOT NULL,
            content_id TEXT NOT NULL DEFAULT '',
            slot_id TEXT NOT NULL DEFAULT '',
            str_id TEXT,
            query TEXT NOT NULL,
            received_at REAL NOT NULL,
            known_decision INTEGER NOT NULL
        );
        CREATE INDEX engagements_key ON engagements(type, decision_id, content_id, slot_id, received_at);

        CREATE TABLE decisions (
            decision_id TEXT NOT NULL,
            campaign_id TEXT NOT NULL,
            experience_id TEXT NOT NULL,
            variation_id TEXT NOT NULL,
            uid TEXT NOT NULL,
            ses TEXT NOT NULL,
            at REAL NOT NULL,
            control INTEGER NOT NULL DEFAULT 0,
            impressed_at REAL,
            PRIMARY KEY (decision_id, campaign_id)
        );
        CREATE INDEX decisions_uid ON decisions(uid, campaign_id, at);

        CREATE TABLE decision_contents (
            decision_id TEXT NOT NULL,
            content_id TEXT NOT NULL,
            campaign_id TEXT NOT NULL,
            PRIMARY KEY (decision_id, content_id)
        );

        CREATE TABLE assignments (
            uid TEXT NOT NULL,
            experience_id TEXT NOT NULL,
            variation_id TEXT NOT NULL,
            assigned_at REAL NOT NULL,
            PRIMARY KEY (uid, experience_id)
        );

        CREATE TABLE bundles (
            slot TEXT PRIMARY KEY CHECK (slot IN ('current', 'previous')),
            version TEXT NOT NULL,
            source TEXT NOT NULL,
            loaded_at REAL NOT NULL,
            etag TEXT,
            body TEXT NOT NULL
        );
        """
    )


def m002_outbox_delivered_index(db: sqlite_utils.Database) -> None:
    # Pruning delivered rows by age runs every minute; a partial index keeps it off a full-table scan.
    db.execute("CREATE INDEX outbox_delivered_at ON outbox(delivered_at) WHERE state = 'delivered'")


def m003_profile_state(db: sqlite_utils.Database) -> None:
    """Cart, purchases and product affinity per profile, kept as events arrive (``storage/profile_state``)."""
    db.executescript(
        """
        CREATE TABLE profile_state (
            uid TEXT PRIMARY KEY,
            cart TEXT NOT NULL DEFAULT '[]',
            purchase_value REAL NOT NULL DEFAULT 0,
            purchases INTEGER NOT NULL DEFAULT 0,
            last_purchase_at REAL,
            affinity TEXT NOT NULL DEFAULT '{}',
            updated_at REAL NOT NULL
        );
        """
    )


def m004_scores(db: sqlite_utils.Database) -> None:
    """Recommendation scores kept up to date as events arrive (``storage/scores.py``).

    Daily buckets (UTC day numbers) so a window is a range scan and old days can be pruned;
    ``pair_scores`` holds both directions of a pair so an anchor's partners are one index seek.
    """
    db.executescript(
        """
        CREATE TABLE item_scores (
            day INTEGER NOT NULL,
            product_id TEXT NOT NULL,
            views INTEGER NOT NULL DEFAULT 0,
            carts INTEGER NOT NULL DEFAULT 0,
            purchases INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (day, product_id)
        ) WITHOUT ROWID;

        CREATE TABLE pair_scores (
            kind TEXT NOT NULL,
            a TEXT NOT NULL,
            day INTEGER NOT NULL,
            b TEXT NOT NULL,
            n INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (kind, a, day, b)
        ) WITHOUT ROWID;

        CREATE TABLE profile_views (
            uid TEXT NOT NULL,
            product_id TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (uid, product_id)
        ) WITHOUT ROWID;
        CREATE INDEX profile_views_at ON profile_views(uid, at);

        CREATE TABLE session_views (
            ses TEXT NOT NULL,
            product_id TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (ses, product_id)
        ) WITHOUT ROWID;
        CREATE INDEX session_views_at ON session_views(at);
        """
    )


def m005_decision_route(db: sqlite_utils.Database) -> None:
    """Which route made a decision: ``/choose`` allocates a variation; ``/visit`` and ``/event`` record the
    campaigns their triggers fire (no variation yet), so the status page lists every route's decisions."""
    db.execute("ALTER TABLE decisions ADD COLUMN route TEXT NOT NULL DEFAULT '/choose'")
    db.execute("CREATE INDEX decisions_at ON decisions(at)")


STEPS = (m001_core, m002_outbox_delivered_index, m003_profile_state, m004_scores, m005_decision_route)


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations on ``conn``; return the names applied."""
    if {step.__name__ for step in STEPS} <= _applied(conn):
        return []
    import sqlite_utils
    from sqlite_utils.migrations import Migrations

    migrations = Migrations(MIGRATION_SET)
    for step in STEPS:
        migrations()(step)
    db = sqlite_utils.Database(conn)
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending


def _applied(conn: sqlite3.Connection) -> set[str]:
    try:
        rows = conn.execute(f"SELECT name FROM {_APPLIED_TABLE} WHERE migration_set = ?", (MIGRATION_SET,))
    except sqlite3.OperationalError:  # no such table: a new database
        return set()
    return {row[0] for row in rows}
