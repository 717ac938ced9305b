//! The audit trail: one append-only `audit` row per decision, applied or not, and one `audit_field` row per
//! field it changed. Triggers refuse every UPDATE and DELETE on both tables.
//!
//! # The `audit_log` view (a stable public interface)
//!
//! Analysis tools read the audit through the view `audit_log`, for example
//! `pandas.read_sql("SELECT * FROM audit_log ORDER BY audit_id", con)`. It has one row per field change; a
//! decision without field changes appears once, with `field`, `before` and `after` NULL. Its columns, in
//! order, are kept stable across schema versions (new columns are only ever appended):
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `audit_id` | INTEGER | the decision's id; rows of one decision share it |
//! | `at` | TEXT | when, RFC 3339 UTC (`2025-01-31T12:00:00Z`) |
//! | `link_id` | INTEGER | the link, NULL when none |
//! | `referral_id` | TEXT | the Partner Center referral id |
//! | `crm_entity` | TEXT | `opportunity` or `lead` |
//! | `crm_id` | TEXT | the CRM record id |
//! | `direction` | TEXT | `to_crm`, `to_partner_center`, `both` or `none` |
//! | `action` | TEXT | what was decided: `create_crm`, `update_crm`, `create_referral`, `update_partner_center`, `link`, `skip`, `conflict`, `orphan`, `review_resolved`, `review_dismissed`, ... |
//! | `outcome` | TEXT | `applied`, `failed`, `refused`, `skipped`, `planned` or `queued` |
//! | `reason` | TEXT | why, in words (for a refusal, the rule) |
//! | `field` | TEXT | the canonical field name, NULL for a decision without field changes |
//! | `before` | TEXT | the field's value before, as JSON text |
//! | `after` | TEXT | the field's value after, as JSON text |
//! | `error_kind` | TEXT | the stable error kind of a failure |
//! | `error_message` | TEXT | the error message of a failure |
//! | `cause` | TEXT | what triggered it: `event:<inbox id>`, `manual`, `reconcile`, ... |
//! | `dry_run` | INTEGER | 1 for a dry run, 0 otherwise |
//! | `plan_id` | TEXT | the plan the decision belongs to |
//!
//! The view does not define a row order: add `ORDER BY audit_id`.

use rusqlite::{CachedStatement, Connection, ToSql, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sql::{self, Ctx};
use super::{Store, StoreError};
use crate::model::CrmEntity;

/// The directions an audit row may record.
pub(crate) const DIRECTIONS: &[&str] = &["to_crm", "to_partner_center", "both", "none"];
/// The outcomes an audit row may record.
pub(crate) const OUTCOMES: &[&str] = &[
    "applied", "failed", "refused", "skipped", "planned", "queued",
];

/// One field's change within an audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The canonical field name.
    pub field: String,
    /// The value before (JSON `null` when absent).
    pub before: Value,
    /// The value after (JSON `null` when cleared or not applicable).
    pub after: Value,
}

/// One decision of the engine, as written to the audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When, RFC 3339 UTC.
    pub at: String,
    /// The link; filled by [`Store::commit`] with the committed link's id.
    pub link_id: Option<i64>,
    /// The referral id; [`Store::commit`] fills it from the link when `None`.
    pub referral_id: Option<String>,
    /// The CRM entity; [`Store::commit`] fills it from the link when `None`.
    pub crm_entity: Option<CrmEntity>,
    /// The CRM record id; [`Store::commit`] fills it from the link when `None`.
    pub crm_id: Option<String>,
    /// `to_crm`, `to_partner_center`, `both` or `none`.
    pub direction: String,
    /// What was decided (free text chosen by the engine, e.g. `update_crm`).
    pub action: String,
    /// `applied`, `failed`, `refused`, `skipped`, `planned` or `queued`.
    pub outcome: String,
    /// Why, in words.
    pub reason: Option<String>,
    /// The field changes, in order.
    pub changes: Vec<FieldChange>,
    /// The stable error kind of a failure.
    pub error_kind: Option<String>,
    /// The error message of a failure.
    pub error_message: Option<String>,
    /// What triggered it: `event:<inbox id>`, `manual`, `reconcile`, ...
    pub cause: Option<String>,
    /// True for a dry run.
    pub dry_run: bool,
    /// The plan the decision belongs to.
    pub plan_id: Option<String>,
}

/// A stored audit entry and its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// The `audit.id` (`audit_log.audit_id`).
    pub id: i64,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// A filter for [`Store::audit`]; the default returns everything. In JSON, unknown keys are refused (a misspelt
/// filter must not return everything).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries of this referral: those of its link (including rows written before the referral
    /// existed, such as its CRM record's first sync), and those written while it had no link.
    pub referral_id: Option<String>,
    /// Only entries of this link.
    pub link_id: Option<i64>,
    /// Only entries at or after this time (inclusive).
    pub since: Option<String>,
    /// Only entries before this time (exclusive).
    pub until: Option<String>,
    /// At most this many entries (the oldest first).
    pub limit: Option<usize>,
}

const INSERT_AUDIT: &str = "INSERT INTO audit (at, link_id, referral_id, crm_entity, crm_id, \
    direction, action, outcome, reason, error_kind, error_message, cause, dry_run, plan_id) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

const INSERT_FIELD: &str =
    "INSERT INTO audit_field (audit_id, field, before, after) VALUES (?1, ?2, ?3, ?4)";

/// Checks an entry's time, direction and outcome.
pub(crate) fn check(entry: &AuditEntry) -> Result<(), StoreError> {
    sql::check_time("audit at", &entry.at)?;
    if !DIRECTIONS.contains(&entry.direction.as_str()) {
        return Err(StoreError::InvalidInput {
            what: "audit direction",
            detail: format!("{:?} is not one of {DIRECTIONS:?}", entry.direction),
        });
    }
    if !OUTCOMES.contains(&entry.outcome.as_str()) {
        return Err(StoreError::InvalidInput {
            what: "audit outcome",
            detail: format!("{:?} is not one of {OUTCOMES:?}", entry.outcome),
        });
    }
    Ok(())
}

/// The link identity an entry is written under: explicit values win over the link's.
#[derive(Clone, Copy, Default)]
pub(crate) struct Subject<'a> {
    /// The link id, written instead of the entry's when `Some`.
    pub link_id: Option<i64>,
    /// Used when the entry has no referral id.
    pub referral_id: Option<&'a str>,
    /// Used when the entry has no CRM entity.
    pub crm_entity: Option<CrmEntity>,
    /// Used when the entry has no CRM id.
    pub crm_id: Option<&'a str>,
}

/// Appends audit entries with two cached statements, held for a whole batch.
pub(crate) struct AuditWriter<'c> {
    audit: CachedStatement<'c>,
    field: CachedStatement<'c>,
}

impl<'c> AuditWriter<'c> {
    /// Prepares (or takes from the cache) the two insert statements.
    pub(crate) fn new(conn: &'c Connection) -> Result<Self, StoreError> {
        Ok(AuditWriter {
            audit: conn
                .prepare_cached(INSERT_AUDIT)
                .ctx("preparing the audit insert")?,
            field: conn
                .prepare_cached(INSERT_FIELD)
                .ctx("preparing the audit field insert")?,
        })
    }

    /// Appends one entry (already [`check`]ed) and its field changes; returns its id.
    pub(crate) fn append(
        &mut self,
        entry: &AuditEntry,
        subject: Subject<'_>,
    ) -> Result<i64, StoreError> {
        let link_id = subject.link_id.or(entry.link_id);
        let referral_id = entry.referral_id.as_deref().or(subject.referral_id);
        let crm_entity = entry
            .crm_entity
            .or(subject.crm_entity)
            .map(CrmEntity::as_str);
        let crm_id = entry.crm_id.as_deref().or(subject.crm_id);
        let id = self
            .audit
            .insert(params![
                sql::canonical_time("audit at", &entry.at)?,
                link_id,
                referral_id,
                crm_entity,
                crm_id,
                entry.direction,
                entry.action,
                entry.outcome,
                entry.reason,
                entry.error_kind,
                entry.error_message,
                entry.cause,
                entry.dry_run,
                entry.plan_id,
            ])
            .ctx("appending an audit entry")?;
        for change in &entry.changes {
            let before = sql::to_json(&change.before, "audit_field.before")?;
            let after = sql::to_json(&change.after, "audit_field.after")?;
            self.field
                .execute(params![id, change.field, before, after])
                .ctx("appending an audit field")?;
        }
        Ok(id)
    }
}

/// Reads the entries matching `q` with their field changes, in one joined query.
fn query(conn: &Connection, q: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
    // Bounds in the stored form: any RFC 3339 time, any precision or offset, compares correctly.
    let since = q
        .since
        .as_deref()
        .map(|t| sql::canonical_time("audit query since", t))
        .transpose()?;
    let until = q
        .until
        .as_deref()
        .map(|t| sql::canonical_time("audit query until", t))
        .transpose()?;
    let mut conditions: Vec<(&str, &dyn ToSql)> = Vec::new();
    if let Some(r) = &q.referral_id {
        // Rows of a linked referral are found through its link (by its key, see `store/keys.rs`), the others by
        // the partial index `audit_unlinked`. `?` is replaced by the same numbered parameter in every place.
        conditions.push((
            "((link_id IS NULL AND referral_id = ?) \
             OR link_id IN (SELECT id FROM links \
                            WHERE referral_key = cosell_referral_key(?) AND referral_id = ?))",
            r,
        ));
    }
    if let Some(l) = &q.link_id {
        conditions.push(("link_id = ?", l));
    }
    if let Some(s) = &since {
        conditions.push(("at >= ?", s));
    }
    if let Some(u) = &until {
        conditions.push(("at < ?", u));
    }
    let mut filter = String::new();
    let mut args: Vec<&dyn ToSql> = Vec::new();
    for (clause, value) in conditions {
        filter.push_str(if args.is_empty() { " WHERE " } else { " AND " });
        args.push(value);
        filter.push_str(&clause.replace('?', &format!("?{}", args.len())));
    }
    let limit = sql::limit(q.limit);
    args.push(&limit);
    let text = format!(
        "SELECT a.id, a.at, a.link_id, a.referral_id, a.crm_entity, a.crm_id, a.direction, a.action, \
         a.outcome, a.reason, a.error_kind, a.error_message, a.cause, a.dry_run, a.plan_id, \
         f.field, f.before, f.after \
         FROM (SELECT * FROM audit{filter} ORDER BY id LIMIT ?{}) AS a \
         LEFT JOIN audit_field AS f ON f.audit_id = a.id ORDER BY a.id, f.rowid",
        args.len()
    );
    let mut stmt = conn
        .prepare_cached(&text)
        .ctx("preparing the audit query")?;
    let mut rows = stmt.query(args.as_slice()).ctx("reading the audit")?;
    let mut out: Vec<AuditRow> = Vec::new();
    while let Some(row) = rows.next().ctx("reading the audit")? {
        let id = sql::int(row, 0, "audit.id")?;
        if out.last().is_none_or(|last| last.id != id) {
            out.push(AuditRow {
                id,
                entry: AuditEntry {
                    at: sql::req_string(row, 1, "audit.at")?,
                    link_id: sql::opt_int(row, 2, "audit.link_id")?,
                    referral_id: sql::opt_string(row, 3, "audit.referral_id")?,
                    crm_entity: sql::opt_str(row, 4, "audit.crm_entity")?
                        .map(|t| sql::decode(t, "audit.crm_entity", CrmEntity::parse))
                        .transpose()?,
                    crm_id: sql::opt_string(row, 5, "audit.crm_id")?,
                    direction: sql::req_string(row, 6, "audit.direction")?,
                    action: sql::req_string(row, 7, "audit.action")?,
                    outcome: sql::req_string(row, 8, "audit.outcome")?,
                    reason: sql::opt_string(row, 9, "audit.reason")?,
                    changes: Vec::new(),
                    error_kind: sql::opt_string(row, 10, "audit.error_kind")?,
                    error_message: sql::opt_string(row, 11, "audit.error_message")?,
                    cause: sql::opt_string(row, 12, "audit.cause")?,
                    dry_run: sql::int(row, 13, "audit.dry_run")? != 0,
                    plan_id: sql::opt_string(row, 14, "audit.plan_id")?,
                },
            });
        }
        if let Some(field) = sql::opt_string(row, 15, "audit_field.field")? {
            let change = FieldChange {
                field,
                before: sql::json_value(row, 16, "audit_field.before")?,
                after: sql::json_value(row, 17, "audit_field.after")?,
            };
            if let Some(last) = out.last_mut() {
                last.entry.changes.push(change);
            }
        }
    }
    Ok(out)
}

impl Store {
    /// The audit entries matching `q`, oldest first, each with its field changes.
    pub fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        self.read(|conn| query(conn, q))
    }

    /// Appends entries that change no link (a refused plan, a dry run) in one transaction; returns their
    /// ids. Their `link_id` is written as given.
    pub fn append_audit(&mut self, entries: &[AuditEntry]) -> Result<Vec<i64>, StoreError> {
        for entry in entries {
            check(entry)?;
        }
        self.write_tx(|tx| {
            let mut writer = AuditWriter::new(tx)?;
            entries
                .iter()
                .map(|entry| writer.append(entry, Subject::default()))
                .collect()
        })
    }
}
