//! Write intents: a row committed before each remote write and completed after it, so that a restarted
//! process knows which writes may have been applied and looks them up before planning again.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sql::{self, Ctx};
use super::{Store, StoreError};

text_enum! {
    /// Where a write intent is in its life.
    pub enum IntentStatus {
        /// Committed before the write; the write may or may not have happened.
        Open => "open",
        /// The write happened.
        Applied => "applied",
        /// The write was refused or failed, and changed nothing.
        Failed => "failed",
        /// Given up (for example, the plan changed after a restart).
        Abandoned => "abandoned",
    }
}

text_enum! {
    /// The system a write goes to.
    pub enum IntentSide {
        /// Partner Center.
        PartnerCenter => "partner_center",
        /// The CRM.
        Crm => "crm",
    }
}

/// An intent to record before a remote write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewIntent {
    /// The link, when it exists already.
    pub link_id: Option<i64>,
    /// The referral id, when known.
    pub referral_id: Option<String>,
    /// Where the write goes.
    pub side: IntentSide,
    /// `create`, `update`, `close`, ...
    pub operation: String,
    /// The id of the record written, when known (for a create, the client-chosen id if any).
    pub target_id: Option<String>,
    /// What is sent, as JSON (never secrets).
    pub payload: Value,
    /// When (RFC 3339 UTC).
    pub created_at: String,
}

/// A stored write intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// The row id.
    pub id: i64,
    /// The link.
    pub link_id: Option<i64>,
    /// The referral id.
    pub referral_id: Option<String>,
    /// Where the write goes.
    pub side: IntentSide,
    /// `create`, `update`, `close`, ...
    pub operation: String,
    /// The id of the record written.
    pub target_id: Option<String>,
    /// What is sent.
    pub payload: Value,
    /// When it was recorded.
    pub created_at: String,
    /// Where it is in its life.
    pub status: IntentStatus,
    /// When it was completed.
    pub completed_at: Option<String>,
    /// What the write returned, as JSON.
    pub result: Option<Value>,
}

const SELECT: &str = "SELECT id, link_id, referral_id, side, operation, target_id, payload, created_at, \
    status, completed_at, result FROM write_intent";

fn decode(row: &Row<'_>) -> Result<Intent, StoreError> {
    Ok(Intent {
        id: sql::int(row, 0, "write_intent.id")?,
        link_id: sql::opt_int(row, 1, "write_intent.link_id")?,
        referral_id: sql::opt_string(row, 2, "write_intent.referral_id")?,
        side: sql::decode(
            sql::req_str(row, 3, "write_intent.side")?,
            "write_intent.side",
            IntentSide::parse,
        )?,
        operation: sql::req_string(row, 4, "write_intent.operation")?,
        target_id: sql::opt_string(row, 5, "write_intent.target_id")?,
        payload: sql::json_value(row, 6, "write_intent.payload")?,
        created_at: sql::req_string(row, 7, "write_intent.created_at")?,
        status: sql::decode(
            sql::req_str(row, 8, "write_intent.status")?,
            "write_intent.status",
            IntentStatus::parse,
        )?,
        completed_at: sql::opt_string(row, 9, "write_intent.completed_at")?,
        result: sql::opt_json(row, 10, "write_intent.result")?,
    })
}

/// Completes an open intent as `status` (not `Open`) with `result` at `at`.
pub(crate) fn complete(
    conn: &Connection,
    id: i64,
    status: IntentStatus,
    result: &Value,
    at: &str,
) -> Result<(), StoreError> {
    if status == IntentStatus::Open {
        return Err(StoreError::InvalidInput {
            what: "intent status",
            detail: format!("intent {id} cannot be completed as open"),
        });
    }
    let changed = conn
        .prepare_cached(
            "UPDATE write_intent SET status = ?2, result = ?3, completed_at = ?4 \
             WHERE id = ?1 AND status = 'open'",
        )
        .ctx("preparing the intent update")?
        .execute(params![
            id,
            status.as_str(),
            sql::to_json(result, "write_intent.result")?,
            at
        ])
        .ctx("completing an intent")?;
    if changed == 1 {
        return Ok(());
    }
    let current: Option<String> = conn
        .prepare_cached("SELECT status FROM write_intent WHERE id = ?1")
        .ctx("preparing an intent read")?
        .query_row([id], |r| r.get(0))
        .optional()
        .ctx("reading an intent")?;
    match current {
        Some(current) => Err(StoreError::InvalidState {
            what: "intent",
            detail: format!("intent {id} is {current}, not open"),
        }),
        None => Err(StoreError::NotFound {
            what: "intent",
            key: id.to_string(),
        }),
    }
}

impl Store {
    /// Records an intent, committed at once (before the remote write); returns its id.
    pub fn begin_intent(&mut self, i: &NewIntent) -> Result<i64, StoreError> {
        sql::check_time("intent created_at", &i.created_at)?;
        let payload = sql::to_json(&i.payload, "write_intent.payload")?;
        self.write(|conn| {
            conn.prepare_cached(
                "INSERT INTO write_intent (link_id, referral_id, side, operation, target_id, payload, \
                 created_at, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open')",
            )
            .ctx("preparing the intent insert")?
            .insert(params![
                i.link_id,
                i.referral_id,
                i.side.as_str(),
                i.operation,
                i.target_id,
                payload,
                i.created_at,
            ])
            .ctx("recording an intent")
        })
    }

    /// Completes an open intent (`Applied`, `Failed` or `Abandoned`) with what the write returned.
    /// `NotFound` if there is no such intent, `InvalidState` if it is not open.
    pub fn complete_intent(
        &mut self,
        id: i64,
        status: IntentStatus,
        result: &Value,
        at: &str,
    ) -> Result<(), StoreError> {
        sql::check_time("intent completed_at", at)?;
        self.write(|conn| complete(conn, id, status, result, at))
    }

    /// Every open intent, oldest first: the writes that may have happened without their outcome committed.
    pub fn open_intents(&self) -> Result<Vec<Intent>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("{SELECT} WHERE status = 'open' ORDER BY id"))
                .ctx("preparing the open intents query")?;
            let mut rows = stmt.query([]).ctx("reading open intents")?;
            let mut intents = Vec::new();
            while let Some(row) = rows.next().ctx("reading open intents")? {
                intents.push(decode(row)?);
            }
            Ok(intents)
        })
    }

    /// The intent with this id, if any.
    pub fn intent(&self, id: i64) -> Result<Option<Intent>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("{SELECT} WHERE id = ?1"))
                .ctx("preparing an intent read")?;
            let mut rows = stmt.query([id]).ctx("reading an intent")?;
            rows.next()
                .ctx("reading an intent")?
                .map(decode)
                .transpose()
        })
    }
}
