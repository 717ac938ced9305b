//! The inbox: Partner Center webhook events stored durably by `ingest` and worked off by `process_pending`.
//!
//! Events are deduplicated by a key the caller derives. An event is `pending` until processed (`done`); a
//! failed attempt makes it `failed` with a time for the next attempt, and `poison` once it has failed
//! `max_attempts` times. Poison events are no longer returned as pending.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::sql::{self, Ctx};
use super::{Store, StoreError};

text_enum! {
    /// Where an inbox event is in its life.
    pub enum InboxStatus {
        /// Received, not processed yet.
        Pending => "pending",
        /// Processed.
        Done => "done",
        /// The last attempt failed; retried at `next_attempt_at`.
        Failed => "failed",
        /// Failed too often; no longer retried.
        Poison => "poison",
    }
}

/// An event to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    /// The key that makes two deliveries the same event.
    pub dedupe_key: String,
    /// The Partner Center `EventName`.
    pub event_name: String,
    /// The referral id parsed from the resource URI.
    pub referral_id: Option<String>,
    /// The `ResourceUri`.
    pub resource_uri: Option<String>,
    /// The `ResourceChangeUtcDate`, as sent.
    pub change_time: Option<String>,
    /// The SHA-256 of the raw body, hex.
    pub body_sha256: Option<String>,
    /// When it was received (RFC 3339 UTC).
    pub received_at: String,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEvent {
    /// The row id.
    pub id: i64,
    /// The dedupe key.
    pub dedupe_key: String,
    /// The Partner Center `EventName`.
    pub event_name: String,
    /// The referral id.
    pub referral_id: Option<String>,
    /// The `ResourceUri`.
    pub resource_uri: Option<String>,
    /// The `ResourceChangeUtcDate`, as sent.
    pub change_time: Option<String>,
    /// The SHA-256 of the raw body, hex.
    pub body_sha256: Option<String>,
    /// When it was received.
    pub received_at: String,
    /// Where it is in its life.
    pub status: InboxStatus,
    /// How many attempts failed.
    pub attempts: u32,
    /// When a failed event is due again.
    pub next_attempt_at: Option<String>,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// When it was processed.
    pub done_at: Option<String>,
}

/// The result of [`Store::enqueue_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enqueued {
    /// A new event, with its id.
    New(i64),
    /// An event with the same dedupe key was already stored; its id.
    Duplicate(i64),
}

impl Enqueued {
    /// The event's id, new or not.
    pub fn id(self) -> i64 {
        match self {
            Enqueued::New(id) | Enqueued::Duplicate(id) => id,
        }
    }
}

const SELECT: &str = "SELECT id, dedupe_key, event_name, referral_id, resource_uri, change_time, \
    body_sha256, received_at, status, attempts, next_attempt_at, last_error, done_at FROM inbox";

fn decode(row: &Row<'_>) -> Result<InboxEvent, StoreError> {
    Ok(InboxEvent {
        id: sql::int(row, 0, "inbox.id")?,
        dedupe_key: sql::req_string(row, 1, "inbox.dedupe_key")?,
        event_name: sql::req_string(row, 2, "inbox.event_name")?,
        referral_id: sql::opt_string(row, 3, "inbox.referral_id")?,
        resource_uri: sql::opt_string(row, 4, "inbox.resource_uri")?,
        change_time: sql::opt_string(row, 5, "inbox.change_time")?,
        body_sha256: sql::opt_string(row, 6, "inbox.body_sha256")?,
        received_at: sql::req_string(row, 7, "inbox.received_at")?,
        status: sql::decode(
            sql::req_str(row, 8, "inbox.status")?,
            "inbox.status",
            InboxStatus::parse,
        )?,
        attempts: u32::try_from(sql::int(row, 9, "inbox.attempts")?)
            .map_err(|_| StoreError::corrupt("inbox.attempts is out of range".to_owned()))?,
        next_attempt_at: sql::opt_string(row, 10, "inbox.next_attempt_at")?,
        last_error: sql::opt_string(row, 11, "inbox.last_error")?,
        done_at: sql::opt_string(row, 12, "inbox.done_at")?,
    })
}

fn status_of(conn: &Connection, id: i64) -> Result<InboxStatus, StoreError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT status FROM inbox WHERE id = ?1")
        .ctx("preparing an event read")?
        .query_row([id], |r| r.get(0))
        .optional()
        .ctx("reading an event")?;
    match text {
        Some(text) => sql::decode(&text, "inbox.status", InboxStatus::parse),
        None => Err(StoreError::NotFound {
            what: "event",
            key: id.to_string(),
        }),
    }
}

/// Marks an event done at `at`. Marking a done event again keeps its first `done_at` (duplicates of one
/// event may be processed twice); `NotFound` when there is no such event.
pub(crate) fn mark_done(conn: &Connection, id: i64, at: &str) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE inbox SET status = 'done', done_at = ?2, next_attempt_at = NULL \
             WHERE id = ?1 AND status <> 'done'",
        )
        .ctx("preparing the event update")?
        .execute(params![id, at])
        .ctx("marking an event done")?;
    if changed == 0 {
        status_of(conn, id)?;
    }
    Ok(())
}

impl Store {
    /// Stores an event unless one with the same dedupe key exists; either way returns its id.
    pub fn enqueue_event(&mut self, e: &NewEvent) -> Result<Enqueued, StoreError> {
        sql::check_time("event received_at", &e.received_at)?;
        self.write(|conn| {
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO inbox (dedupe_key, event_name, referral_id, resource_uri, change_time, \
                     body_sha256, received_at, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending') \
                     ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                )
                .ctx("preparing the event insert")?
                .query_row(
                    params![
                        e.dedupe_key,
                        e.event_name,
                        e.referral_id,
                        e.resource_uri,
                        e.change_time,
                        e.body_sha256,
                        e.received_at,
                    ],
                    |r| r.get(0),
                )
                .optional()
                .ctx("storing an event")?;
            if let Some(id) = inserted {
                return Ok(Enqueued::New(id));
            }
            conn.prepare_cached("SELECT id FROM inbox WHERE dedupe_key = ?1")
                .ctx("preparing an event read")?
                .query_row([&e.dedupe_key], |r| r.get(0))
                .ctx("reading a duplicate event")
                .map(Enqueued::Duplicate)
        })
    }

    /// Up to `limit` events to process now, oldest first: every pending event, and every failed one whose
    /// `next_attempt_at` is absent or at or before `now`.
    pub fn pending_events(&self, now: &str, limit: usize) -> Result<Vec<InboxEvent>, StoreError> {
        sql::check_time("now", now)?;
        let limit = sql::limit(Some(limit));
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "{SELECT} WHERE status = 'pending' OR (status = 'failed' \
                     AND (next_attempt_at IS NULL OR next_attempt_at <= ?1)) ORDER BY id LIMIT ?2"
                ))
                .ctx("preparing the pending events query")?;
            let mut rows = stmt
                .query(params![now, limit])
                .ctx("reading pending events")?;
            let mut events = Vec::new();
            while let Some(row) = rows.next().ctx("reading pending events")? {
                events.push(decode(row)?);
            }
            Ok(events)
        })
    }

    /// Records a failed attempt: `attempts + 1`, the error, and the next attempt time (`None`: due at once).
    /// The event becomes `poison` once `attempts >= max_attempts`, else `failed`; returns the new status.
    /// `InvalidState` for an event already done or poison.
    pub fn mark_event_failed(
        &mut self,
        id: i64,
        error: &str,
        next_attempt_at: Option<&str>,
        max_attempts: u32,
    ) -> Result<InboxStatus, StoreError> {
        sql::check_opt_time("event next_attempt_at", next_attempt_at)?;
        self.write(|conn| {
            let status: Option<String> = conn
                .prepare_cached(
                    "UPDATE inbox SET attempts = attempts + 1, last_error = ?2, \
                     status = CASE WHEN attempts + 1 >= ?4 THEN 'poison' ELSE 'failed' END, \
                     next_attempt_at = CASE WHEN attempts + 1 >= ?4 THEN NULL ELSE ?3 END \
                     WHERE id = ?1 AND status IN ('pending', 'failed') RETURNING status",
                )
                .ctx("preparing the event update")?
                .query_row(params![id, error, next_attempt_at, max_attempts], |r| {
                    r.get(0)
                })
                .optional()
                .ctx("marking an event failed")?;
            match status {
                Some(text) => sql::decode(&text, "inbox.status", InboxStatus::parse),
                None => Err(StoreError::InvalidState {
                    what: "event",
                    detail: format!(
                        "event {id} is {}, not pending or failed",
                        status_of(conn, id)?
                    ),
                }),
            }
        })
    }

    /// Marks an event done at `at` (idempotent: a done event keeps its first `done_at`).
    pub fn mark_event_done(&mut self, id: i64, at: &str) -> Result<(), StoreError> {
        sql::check_time("event done_at", at)?;
        self.write(|conn| mark_done(conn, id, at))
    }

    /// The event with this id, if any.
    pub fn event(&self, id: i64) -> Result<Option<InboxEvent>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("{SELECT} WHERE id = ?1"))
                .ctx("preparing an event read")?;
            let mut rows = stmt.query([id]).ctx("reading an event")?;
            rows.next().ctx("reading an event")?.map(decode).transpose()
        })
    }
}
