//! The review queue: field conflicts held by the `review` policy until a person resolves or dismisses them.
//!
//! A link has at most one open review per field (a partial unique index): queuing the same conflict again
//! refreshes the open row's values. A review moves `open` → `resolved` (a value was chosen) or `dismissed`,
//! and `open`/`resolved` → `applied` when a commit writes the outcome. Resolving and dismissing append an
//! audit row in the same transaction.

use rusqlite::{Connection, Row, ToSql, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::audit::{AuditEntry, AuditWriter, FieldChange, Subject};
use super::sql::{self, Ctx};
use super::{Store, StoreError};
use crate::model::CrmEntity;

text_enum! {
    /// Where a review is in its life.
    pub enum ReviewStatus {
        /// Waiting for a person.
        Open => "open",
        /// A value was chosen; the next sync writes it.
        Resolved => "resolved",
        /// Dropped without a value.
        Dismissed => "dismissed",
        /// The resolution (or the conflict's disappearance) was committed.
        Applied => "applied",
    }
}

/// A conflict in the review queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// The row id.
    pub id: i64,
    /// The link.
    pub link_id: Option<i64>,
    /// The referral id.
    pub referral_id: Option<String>,
    /// The canonical field.
    pub field: String,
    /// The base value.
    pub base: Value,
    /// The Partner Center value.
    pub partner_center: Value,
    /// The CRM value.
    pub crm: Value,
    /// When it was first queued.
    pub created_at: String,
    /// Where it is in its life.
    pub status: ReviewStatus,
    /// The chosen value, once resolved.
    pub resolution: Option<Value>,
    /// When it was resolved, dismissed or applied.
    pub resolved_at: Option<String>,
    /// The person's note.
    pub note: Option<String>,
}

/// A conflict to queue, part of a [`LinkCommit`](super::LinkCommit); the link id and the time (the link's
/// `updated_at`) come from the commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewReview {
    /// The referral id; the link's when `None`.
    pub referral_id: Option<String>,
    /// The canonical field.
    pub field: String,
    /// The base value.
    pub base: Value,
    /// The Partner Center value.
    pub partner_center: Value,
    /// The CRM value.
    pub crm: Value,
}

/// What a person chose for a review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewChoice {
    /// Keep the Partner Center value.
    PartnerCenter,
    /// Keep the CRM value.
    Crm,
    /// Use this value.
    Value(Value),
}

const SELECT: &str = "SELECT id, link_id, referral_id, field, base, partner_center, crm, created_at, \
    status, resolution, resolved_at, note FROM review";

fn decode(row: &Row<'_>) -> Result<Review, StoreError> {
    Ok(Review {
        id: sql::int(row, 0, "review.id")?,
        link_id: sql::opt_int(row, 1, "review.link_id")?,
        referral_id: sql::opt_string(row, 2, "review.referral_id")?,
        field: sql::req_string(row, 3, "review.field")?,
        base: sql::json_value(row, 4, "review.base")?,
        partner_center: sql::json_value(row, 5, "review.partner_center")?,
        crm: sql::json_value(row, 6, "review.crm")?,
        created_at: sql::req_string(row, 7, "review.created_at")?,
        status: sql::decode(
            sql::req_str(row, 8, "review.status")?,
            "review.status",
            ReviewStatus::parse,
        )?,
        resolution: sql::opt_json(row, 9, "review.resolution")?,
        resolved_at: sql::opt_string(row, 10, "review.resolved_at")?,
        note: sql::opt_string(row, 11, "review.note")?,
    })
}

fn by_id(conn: &Connection, id: i64) -> Result<Review, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("{SELECT} WHERE id = ?1"))
        .ctx("preparing a review read")?;
    let mut rows = stmt.query([id]).ctx("reading a review")?;
    match rows.next().ctx("reading a review")? {
        Some(row) => decode(row),
        None => Err(StoreError::NotFound {
            what: "review",
            key: id.to_string(),
        }),
    }
}

/// Queues `review` for a link, or refreshes the values of the open review of the same field.
pub(crate) fn queue(
    conn: &Connection,
    link_id: i64,
    link_referral: Option<&str>,
    at: &str,
    review: &NewReview,
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO review (link_id, referral_id, field, base, partner_center, crm, created_at, status) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open') \
             ON CONFLICT (link_id, field) WHERE status = 'open' DO UPDATE SET \
             referral_id = excluded.referral_id, base = excluded.base, \
             partner_center = excluded.partner_center, crm = excluded.crm",
        )
        .ctx("preparing the review insert")?;
    stmt.execute(params![
        link_id,
        review.referral_id.as_deref().or(link_referral),
        review.field,
        sql::to_json(&review.base, "review.base")?,
        sql::to_json(&review.partner_center, "review.partner_center")?,
        sql::to_json(&review.crm, "review.crm")?,
        at,
    ])
    .ctx("queuing a review")?;
    Ok(())
}

/// Marks an open or resolved review of `link_id` applied.
pub(crate) fn mark_applied(
    conn: &Connection,
    id: i64,
    link_id: i64,
    at: &str,
) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE review SET status = 'applied', resolved_at = coalesce(resolved_at, ?3) \
             WHERE id = ?1 AND link_id = ?2 AND status IN ('open', 'resolved')",
        )
        .ctx("preparing the review update")?
        .execute(params![id, link_id, at])
        .ctx("applying a review")?;
    if changed == 1 {
        return Ok(());
    }
    let review = by_id(conn, id)?;
    let detail = if review.link_id == Some(link_id) {
        format!("review {id} is {}, not open or resolved", review.status)
    } else {
        format!(
            "review {id} belongs to link {:?}, not link {link_id}",
            review.link_id
        )
    };
    Err(StoreError::InvalidState {
        what: "review",
        detail,
    })
}

/// Closes an open review as `status` and appends its audit row; returns the updated review.
fn close(
    conn: &Connection,
    id: i64,
    status: ReviewStatus,
    choice: Option<ReviewChoice>,
    at: &str,
    note: Option<&str>,
) -> Result<Review, StoreError> {
    let mut review = by_id(conn, id)?;
    if review.status != ReviewStatus::Open {
        return Err(StoreError::InvalidState {
            what: "review",
            detail: format!("review {id} is {}, not open", review.status),
        });
    }
    let resolution = choice.map(|choice| match choice {
        ReviewChoice::PartnerCenter => review.partner_center.clone(),
        ReviewChoice::Crm => review.crm.clone(),
        ReviewChoice::Value(value) => value,
    });
    let stored = resolution
        .as_ref()
        .map(|v| sql::to_json(v, "review.resolution"))
        .transpose()?;
    conn.prepare_cached(
        "UPDATE review SET status = ?2, resolution = ?3, resolved_at = ?4, note = ?5 WHERE id = ?1",
    )
    .ctx("preparing the review update")?
    .execute(params![id, status.as_str(), stored, at, note])
    .ctx("closing a review")?;
    review.status = status;
    review.resolution = resolution;
    review.resolved_at = Some(at.to_owned());
    review.note = note.map(str::to_owned);

    let (crm_entity, crm_id) = match review.link_id {
        Some(link_id) => link_target(conn, link_id)?,
        None => (None, None),
    };
    let action = match status {
        ReviewStatus::Resolved => "review_resolved",
        _ => "review_dismissed",
    };
    let entry = AuditEntry {
        at: at.to_owned(),
        link_id: review.link_id,
        referral_id: review.referral_id.clone(),
        crm_entity,
        crm_id,
        direction: "none".to_owned(),
        action: action.to_owned(),
        outcome: "applied".to_owned(),
        reason: review.note.clone(),
        changes: vec![FieldChange {
            field: review.field.clone(),
            before: review.base.clone(),
            after: review.resolution.clone().unwrap_or(Value::Null),
        }],
        error_kind: None,
        error_message: None,
        cause: Some("manual".to_owned()),
        dry_run: false,
        plan_id: None,
    };
    AuditWriter::new(conn)?.append(&entry, Subject::default())?;
    Ok(review)
}

/// The CRM entity and id of a link, for the audit row of a review.
fn link_target(
    conn: &Connection,
    link_id: i64,
) -> Result<(Option<CrmEntity>, Option<String>), StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT crm_entity, crm_id FROM links WHERE id = ?1")
        .ctx("preparing a link read")?;
    let mut rows = stmt.query([link_id]).ctx("reading a link")?;
    let Some(row) = rows.next().ctx("reading a link")? else {
        return Ok((None, None));
    };
    let entity = sql::decode(
        sql::req_str(row, 0, "links.crm_entity")?,
        "links.crm_entity",
        CrmEntity::parse,
    )?;
    Ok((Some(entity), sql::opt_string(row, 1, "links.crm_id")?))
}

impl Store {
    /// The review with this id; `NotFound` if there is none.
    pub fn review(&self, id: i64) -> Result<Review, StoreError> {
        self.read(|conn| by_id(conn, id))
    }

    /// The reviews, oldest first, optionally only those in `status` and/or of one referral.
    pub fn reviews(
        &self,
        status: Option<ReviewStatus>,
        referral_id: Option<&str>,
    ) -> Result<Vec<Review>, StoreError> {
        self.read(|conn| {
            let status = status.map(ReviewStatus::as_str);
            let (text, args): (String, Vec<&dyn ToSql>) = match (&status, &referral_id) {
                (None, None) => (format!("{SELECT} ORDER BY id"), vec![]),
                (Some(s), None) => (format!("{SELECT} WHERE status = ?1 ORDER BY id"), vec![s]),
                (None, Some(r)) => (
                    format!("{SELECT} WHERE referral_id = ?1 ORDER BY id"),
                    vec![r],
                ),
                (Some(s), Some(r)) => (
                    format!("{SELECT} WHERE status = ?1 AND referral_id = ?2 ORDER BY id"),
                    vec![s, r],
                ),
            };
            let mut stmt = conn
                .prepare_cached(&text)
                .ctx("preparing the review list")?;
            let mut rows = stmt.query(args.as_slice()).ctx("reading reviews")?;
            let mut reviews = Vec::new();
            while let Some(row) = rows.next().ctx("reading reviews")? {
                reviews.push(decode(row)?);
            }
            Ok(reviews)
        })
    }

    /// Resolves an open review with the chosen side's stored value or the given value, and appends a
    /// `review_resolved` audit row, in one transaction. `NotFound` if there is no such review,
    /// `InvalidState` if it is not open.
    pub fn resolve_review(
        &mut self,
        id: i64,
        choice: ReviewChoice,
        at: &str,
        note: Option<&str>,
    ) -> Result<Review, StoreError> {
        sql::check_time("review resolved_at", at)?;
        self.write_tx(|tx| close(tx, id, ReviewStatus::Resolved, Some(choice), at, note))
    }

    /// Dismisses an open review and appends a `review_dismissed` audit row, in one transaction.
    pub fn dismiss_review(
        &mut self,
        id: i64,
        at: &str,
        note: Option<&str>,
    ) -> Result<Review, StoreError> {
        sql::check_time("review resolved_at", at)?;
        self.write_tx(|tx| close(tx, id, ReviewStatus::Dismissed, None, at, note))
    }
}
