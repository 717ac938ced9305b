//! The schema and its migrations, and the checks and pragmas applied on open.
//!
//! `PRAGMA user_version` is the schema version: the number of migrations applied. `MIGRATIONS[i]` takes a
//! store from version `i` to `i + 1`; opening applies the missing ones in one transaction. Migrations are
//! only ever appended, never edited. `PRAGMA application_id` is [`APPLICATION_ID`] for every store, so that
//! another application's `SQLite` file is refused instead of being written into.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::sql::Ctx;
use super::{StoreError, keys};

/// The schema version this build writes and reads (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 4;

/// `PRAGMA application_id` of every cosell store: `"CoSe"` in ASCII.
pub const APPLICATION_ID: i32 = 0x436F_5365;

/// The page size of a new store, in bytes (`SQLite`'s default is 4096). Links are keyed by random GUIDs, so each
/// transaction of new links writes index pages all over the file; bigger pages mean fewer pages and B-tree levels to
/// write and balance, but more bytes to search and copy per look-up. On the benchmark's rows alone (100,000 links,
/// 20,000 per transaction): 8.8 µs per link at 4 KB, 8.0 at 8 KB, 7.1 at 16 KB; on the whole benchmark, interleaved
/// with 4 KB, 8 KB linked 8–15% and planned 2–10% more pairs per second, while 16 KB planned 8% fewer. Existing
/// stores keep their page size.
pub(crate) const PAGE_SIZE: i64 = 8192;

/// How long a connection waits for another one's lock before failing with `Busy`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The migrations, in order; `MIGRATIONS.len()` is [`SCHEMA_VERSION`].
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4];

const _: () = assert!(MIGRATIONS.len() as i64 == SCHEMA_VERSION);

/// Version 1: every table, the append-only triggers and the `audit_log` view.
const V1: &str = r"
CREATE TABLE links (
    id              INTEGER PRIMARY KEY,
    referral_id     TEXT UNIQUE,
    crm_entity      TEXT NOT NULL,
    crm_id          TEXT,
    base            TEXT NOT NULL,
    pc_etag         TEXT,
    pc_modified     TEXT,
    pc_stamp        TEXT,
    crm_etag        TEXT,
    crm_modified    TEXT,
    crm_stamp       TEXT,
    status          TEXT NOT NULL,
    last_error_kind TEXT,
    last_error      TEXT,
    last_plan       TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    revision        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (crm_entity, crm_id)
);
CREATE INDEX links_status ON links (status, id);

CREATE TABLE audit (
    id            INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    link_id       INTEGER,
    referral_id   TEXT,
    crm_entity    TEXT,
    crm_id        TEXT,
    direction     TEXT NOT NULL,
    action        TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    reason        TEXT,
    error_kind    TEXT,
    error_message TEXT,
    cause         TEXT,
    dry_run       INTEGER NOT NULL,
    plan_id       TEXT
);
CREATE INDEX audit_referral ON audit (referral_id);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_link ON audit (link_id);

CREATE TABLE audit_field (
    audit_id INTEGER NOT NULL REFERENCES audit (id),
    field    TEXT NOT NULL,
    before   TEXT,
    after    TEXT
);
CREATE INDEX audit_field_audit ON audit_field (audit_id);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_field_no_update BEFORE UPDATE ON audit_field
BEGIN SELECT RAISE(ABORT, 'audit_field is append-only'); END;
CREATE TRIGGER audit_field_no_delete BEFORE DELETE ON audit_field
BEGIN SELECT RAISE(ABORT, 'audit_field is append-only'); END;

CREATE VIEW audit_log AS
SELECT a.id AS audit_id, a.at, a.link_id, a.referral_id, a.crm_entity, a.crm_id,
       a.direction, a.action, a.outcome, a.reason,
       f.field, f.before, f.after,
       a.error_kind, a.error_message, a.cause, a.dry_run, a.plan_id
FROM audit AS a
LEFT JOIN audit_field AS f ON f.audit_id = a.id;

CREATE TABLE review (
    id             INTEGER PRIMARY KEY,
    link_id        INTEGER REFERENCES links (id),
    referral_id    TEXT,
    field          TEXT NOT NULL,
    base           TEXT,
    partner_center TEXT,
    crm            TEXT,
    created_at     TEXT NOT NULL,
    status         TEXT NOT NULL,
    resolution     TEXT,
    resolved_at    TEXT,
    note           TEXT
);
CREATE UNIQUE INDEX review_one_open ON review (link_id, field) WHERE status = 'open';
CREATE INDEX review_status ON review (status, id);
CREATE INDEX review_referral ON review (referral_id);

CREATE TABLE inbox (
    id              INTEGER PRIMARY KEY,
    dedupe_key      TEXT NOT NULL UNIQUE,
    event_name      TEXT NOT NULL,
    referral_id     TEXT,
    resource_uri    TEXT,
    change_time     TEXT,
    body_sha256     TEXT,
    received_at     TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    done_at         TEXT
);
CREATE INDEX inbox_due ON inbox (status, id);

CREATE TABLE write_intent (
    id           INTEGER PRIMARY KEY,
    link_id      INTEGER REFERENCES links (id),
    referral_id  TEXT,
    side         TEXT NOT NULL,
    operation    TEXT NOT NULL,
    target_id    TEXT,
    payload      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    status       TEXT NOT NULL,
    completed_at TEXT,
    result       TEXT
);
CREATE INDEX write_intent_open ON write_intent (id) WHERE status = 'open';

CREATE TABLE cursors (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
";

/// Version 2: indexes that only hold the rows they are queried for, so that linking a pair writes two fewer
/// index entries (one of them on a random key).
///
/// * `links_attention` holds the links that need attention (every status but `synced`): the status lists
///   ask for those; listing the synced links, nearly all of them, reads the table in id order instead.
/// * `audit_unlinked` holds the audit rows of a referral that has no link (refusals before a first sync,
///   dry runs); the rows of a linked referral are found through its link (`audit_link`), which also finds the
///   rows written before the referral existed, such as the CRM record's first sync.
const V2: &str = r"
DROP INDEX links_status;
CREATE INDEX links_attention ON links (status, id) WHERE status <> 'synced';
DROP INDEX audit_referral;
CREATE INDEX audit_unlinked ON audit (referral_id) WHERE link_id IS NULL;
";

/// Version 3: links are found by 64-bit keys (`referral_key`, `crm_key`; see `store/keys.rs`) instead of unique
/// indexes on the GUID text. The text indexes were a third of the time to link a pair: two entries of 40–50
/// bytes at random places, each searched twice (once for the uniqueness check). The key indexes hold 8-byte
/// integers; the store itself checks, inside the write transaction, that no other link has the same referral or
/// CRM record (`links::write`), because two ids may share a hash.
///
/// `SQLite` cannot drop a table constraint, so the table is rebuilt (the documented twelve-step procedure: foreign
/// keys are off while [`migrate`] runs, and checked before it commits). The keys of stored links are computed
/// by the `cosell_*_key` SQL functions. Column order is kept, the two keys are appended.
const V3: &str = r"
CREATE TABLE links_v3 (
    id              INTEGER PRIMARY KEY,
    referral_id     TEXT,
    crm_entity      TEXT NOT NULL,
    crm_id          TEXT,
    base            TEXT NOT NULL,
    pc_etag         TEXT,
    pc_modified     TEXT,
    pc_stamp        TEXT,
    crm_etag        TEXT,
    crm_modified    TEXT,
    crm_stamp       TEXT,
    status          TEXT NOT NULL,
    last_error_kind TEXT,
    last_error      TEXT,
    last_plan       TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    revision        INTEGER NOT NULL DEFAULT 0,
    referral_key    INTEGER,
    crm_key         INTEGER,
    CHECK ((referral_id IS NULL) = (referral_key IS NULL)),
    CHECK ((crm_id IS NULL) = (crm_key IS NULL))
);
INSERT INTO links_v3
SELECT id, referral_id, crm_entity, crm_id, base, pc_etag, pc_modified, pc_stamp, crm_etag, crm_modified,
       crm_stamp, status, last_error_kind, last_error, last_plan, created_at, updated_at, revision,
       cosell_referral_key(referral_id), cosell_crm_key(crm_entity, crm_id)
FROM links ORDER BY id;
DROP TABLE links;
ALTER TABLE links_v3 RENAME TO links;
CREATE INDEX links_referral_key ON links (referral_key) WHERE referral_key IS NOT NULL;
CREATE INDEX links_crm_key ON links (crm_key) WHERE crm_key IS NOT NULL;
CREATE INDEX links_attention ON links (status, id) WHERE status <> 'synced';
";

/// Version 4: facts about the store itself. `crm` is the CRM its links are with, recorded by the first engine that
/// opens it, so that a store of Salesforce links is never planned with a Dynamics 365 mapping (see `store/meta.rs`).
const V4: &str = r"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// What the header of a database says before anything is written.
struct Header {
    application_id: i32,
    user_version: i64,
    objects: i64,
}

fn read_header(conn: &Connection) -> Result<Header, StoreError> {
    // The first read of a file that is not SQLite fails here with SQLITE_NOTADB.
    let not_ours = |e: rusqlite::Error| match StoreError::from_sqlite("reading the header", e) {
        StoreError::Corrupt { .. } => StoreError::NotAStore {
            path: String::new(),
        },
        other => other,
    };
    let application_id = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(not_ours)?;
    let user_version = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(not_ours)?;
    let objects = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(not_ours)?;
    Ok(Header {
        application_id,
        user_version,
        objects,
    })
}

/// Checks that the database is ours (or empty) and not newer, sets the pragmas, and migrates it.
///
/// Nothing is written to a file that is refused: the checks only read, and `journal_mode=WAL` (which
/// writes the header) comes after them. Returns the schema version.
pub(crate) fn prepare(
    conn: &mut Connection,
    file: bool,
    read_only: bool,
) -> Result<i64, StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx("setting the busy timeout")?;
    keys::register(conn)?;
    let header = read_header(conn)?;
    let fresh = header.application_id == 0 && header.user_version == 0 && header.objects == 0;
    if !fresh && header.application_id != APPLICATION_ID {
        return Err(StoreError::NotAStore {
            path: String::new(),
        });
    }
    check_not_newer(header.user_version, SCHEMA_VERSION)?;
    if read_only {
        if fresh {
            return Err(StoreError::NotAStore {
                path: String::new(),
            });
        }
        if header.user_version < SCHEMA_VERSION {
            return Err(StoreError::OutdatedSchema {
                path: String::new(),
                found: header.user_version,
                supported: SCHEMA_VERSION,
            });
        }
        conn.pragma_update(None, "foreign_keys", "ON")
            .ctx("enabling foreign keys")?;
        set_cache(conn)?;
        return Ok(header.user_version);
    }
    if fresh {
        // Before anything is written (and before WAL, which fixes it): see `PAGE_SIZE`.
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .ctx("setting the page size")?;
    }
    if file {
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
            .ctx("enabling WAL")?;
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .ctx("setting synchronous")?;
    set_cache(conn)?;
    // Off while migrating (a migration may rebuild a table others refer to); `migrate` checks them before it
    // commits.
    conn.pragma_update(None, "foreign_keys", "OFF")
        .ctx("disabling foreign keys for the migration")?;
    let version = migrate(conn, MIGRATIONS)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .ctx("enabling foreign keys")?;
    Ok(version)
}

/// Page cache, memory-mapped reads and checkpoint interval.
///
/// Planning looks up one link per pair at random; with the default page cache (2 MB) a store of 100,000 links
/// (~70 MB) is read page by page through `pread`. A 32 MB cache and up to 256 MB of memory-mapped I/O (read-only
/// mapping, shared with the OS page cache) make a lookup a few microseconds. Writes still go through the WAL.
///
/// Links are keyed by random `GUIDs`, so every batch of commits dirties index pages all over the file, and the
/// next batch dirties the same hot pages again. With the default automatic checkpoint, every 1,000 WAL pages
/// (4 MB) those pages are copied back (with an `fsync`) over and over; every 10,000 pages (~40 MB) linking 100,000
/// pairs is a third faster. Durability is unchanged: a commit is durable once in the WAL. The WAL file is cut
/// back to 64 MB after a checkpoint (`journal_size_limit`).
///
/// Temporary storage is in memory (`temp_store`): inside [`Store::transaction`](super::Store::transaction)
/// every commit is a savepoint, whose sub-journal keeps the first copy of each page it changes; in a temporary
/// file that was a quarter of the time to link a pair.
fn set_cache(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "cache_size", -32_768)
        .ctx("setting the page cache size")?;
    // These pragmas answer a row for files and none in memory: run them as a batch, which ignores rows.
    conn.execute_batch(
        "PRAGMA mmap_size = 268435456; PRAGMA wal_autocheckpoint = 10000; \
         PRAGMA journal_size_limit = 67108864; PRAGMA temp_store = MEMORY",
    )
    .ctx("setting the memory-map size and checkpoint interval")?;
    Ok(())
}

fn check_not_newer(found: i64, supported: i64) -> Result<(), StoreError> {
    if found > supported {
        return Err(StoreError::NewerSchema {
            path: String::new(),
            found,
            supported,
        });
    }
    if found < 0 {
        return Err(StoreError::NotAStore {
            path: String::new(),
        });
    }
    Ok(())
}

/// Applies `migrations[user_version..]` in one `BEGIN IMMEDIATE` transaction and returns the new version.
///
/// The version is read again inside the transaction, so two processes opening a new store at once apply
/// each migration once. A store at the last version is left unchanged.
pub(crate) fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<i64, StoreError> {
    let target = migrations.len() as i64;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx("beginning the migration")?;
    let current: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .ctx("reading the schema version")?;
    check_not_newer(current, target)?;
    if current == target {
        return Ok(current);
    }
    // `check_not_newer` refused negative versions.
    let applied = usize::try_from(current).unwrap_or_default();
    for script in migrations.iter().skip(applied) {
        tx.execute_batch(script).ctx("applying a migration")?;
    }
    let broken: Option<String> = tx
        .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .optional()
        .ctx("checking foreign keys after the migration")?;
    if let Some(table) = broken {
        return Err(StoreError::Corrupt {
            path: String::new(),
            detail: format!(
                "after migrating to version {target}, table {table} refers to a missing row"
            ),
        });
    }
    if current == 0 {
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .ctx("setting the application id")?;
    }
    tx.pragma_update(None, "user_version", target)
        .ctx("setting the schema version")?;
    tx.commit().ctx("committing the migration")?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("user_version is readable")
    }

    #[test]
    fn migrations_apply_in_order_and_only_once() {
        let mut conn = Connection::open_in_memory().expect("in-memory db");
        // The second step fails unless the first ran before it; the log proves each ran once.
        let first: &[&str] = &[
            "CREATE TABLE t (a INTEGER); CREATE TABLE log (step INTEGER); INSERT INTO log VALUES (1);",
            "ALTER TABLE t ADD COLUMN b INTEGER; INSERT INTO log VALUES (2);",
        ];
        assert_eq!(migrate(&mut conn, first).expect("migrates"), 2);
        assert_eq!(migrate(&mut conn, first).expect("idempotent"), 2);
        let more: Vec<&str> = first
            .iter()
            .copied()
            .chain(["INSERT INTO t (a, b) VALUES (1, 2); INSERT INTO log VALUES (3);"])
            .collect();
        assert_eq!(migrate(&mut conn, &more).expect("migrates the rest"), 3);
        assert_eq!(version(&conn), 3);
        let steps: Vec<i64> = conn
            .prepare("SELECT step FROM log ORDER BY rowid")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(steps, [1, 2, 3]);
        let app: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .expect("application_id");
        assert_eq!(app, APPLICATION_ID);
        // Fewer migrations than applied means a newer store.
        let err = migrate(&mut conn, first).expect_err("newer");
        assert!(matches!(
            err,
            StoreError::NewerSchema {
                found: 3,
                supported: 2,
                ..
            }
        ));
    }

    #[test]
    fn failed_migration_rolls_back_everything() {
        let mut conn = Connection::open_in_memory().expect("in-memory db");
        let bad: &[&str] = &["CREATE TABLE t (a INTEGER);", "THIS IS NOT SQL;"];
        assert!(migrate(&mut conn, bad).is_err());
        assert_eq!(version(&conn), 0);
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .expect("count");
        assert_eq!(tables, 0);
    }

    #[test]
    fn the_real_schema_applies_and_reapplies() {
        let mut conn = Connection::open_in_memory().expect("in-memory db");
        assert_eq!(
            prepare(&mut conn, false, false).expect("creates"),
            SCHEMA_VERSION
        );
        assert_eq!(
            prepare(&mut conn, false, false).expect("reopens"),
            SCHEMA_VERSION
        );
        for table in [
            "links",
            "audit",
            "audit_field",
            "review",
            "inbox",
            "write_intent",
            "cursors",
        ] {
            let n: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .expect("count");
            assert_eq!(n, 1, "table {table}");
        }
    }

    #[test]
    fn version_3_keys_the_stored_links_and_keeps_what_refers_to_them() {
        let path = std::env::temp_dir().join(format!("cosell-v3-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        {
            let mut conn = Connection::open(&path).expect("file db");
            assert_eq!(migrate(&mut conn, &MIGRATIONS[..2]).expect("version 2"), 2);
            conn.execute_batch(
                "INSERT INTO links (id, referral_id, crm_entity, crm_id, base, status, created_at, updated_at) \
                 VALUES (1, 'R-1', 'opportunity', 'O-1', '{}', 'synced', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z'), \
                        (7, NULL, 'lead', 'L-7', '{}', 'pending', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z'); \
                 INSERT INTO review (link_id, field, created_at, status) VALUES (7, 'name', '2025-01-01T00:00:00Z', 'open'); \
                 INSERT INTO write_intent (link_id, side, operation, payload, created_at, status) \
                 VALUES (1, 'crm', 'update', '{}', '2025-01-01T00:00:00Z', 'open');",
            )
            .expect("version 2 rows");
        }
        let mut store = super::super::Store::open(&path).expect("migrates");
        assert_eq!(store.schema_version(), SCHEMA_VERSION);
        let one = store.link_by_referral("R-1").expect("read").expect("found");
        assert_eq!(one.id, Some(1));
        let seven = store
            .link_by_crm(crate::model::CrmEntity::Lead, "L-7")
            .expect("read")
            .expect("found");
        assert_eq!(seven.id, Some(7));
        let conn = Connection::open(&path).expect("raw");
        let stored: Vec<(i64, Option<i64>, Option<i64>)> = conn
            .prepare("SELECT id, referral_key, crm_key FROM links ORDER BY id")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            stored,
            [
                (
                    1,
                    Some(keys::referral_key("R-1")),
                    Some(keys::crm_key(crate::model::CrmEntity::Opportunity, "O-1"))
                ),
                (
                    7,
                    None,
                    Some(keys::crm_key(crate::model::CrmEntity::Lead, "L-7"))
                ),
            ]
        );
        let references: i64 = conn
            .query_row(
                "SELECT (SELECT count(*) FROM review WHERE link_id = 7) + \
                 (SELECT count(*) FROM write_intent WHERE link_id = 1)",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(references, 2);
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_schema WHERE tbl_name = 'links' AND type = 'index' ORDER BY name")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            indexes,
            ["links_attention", "links_crm_key", "links_referral_key"],
            "no unique text index is left"
        );
        // The store still refuses a second link of R-1.
        let mut dup = one.clone();
        dup.id = None;
        dup.crm_id = Some("O-2".into());
        let err = store
            .commit(&[super::super::LinkCommit::new(dup)])
            .expect_err("duplicate");
        assert!(
            err.to_string().contains("link 1 already has referral_id"),
            "{err}"
        );
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
