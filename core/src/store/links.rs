//! Links: one row per linked pair (a Partner Center referral and a CRM record), with the base snapshot of
//! canonical values the three-way merge compares against, the last seen version of each side, and the
//! pair's sync status. Links are written only through [`Store::commit`](super::Store::commit).

use rusqlite::{CachedStatement, Connection, OptionalExtension, Row, Statement, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::keys::{crm_key, referral_key};
use super::link_index::{Hint, LinkIndex};
use super::sql::{self, Ctx};
use super::{Store, StoreError};
use crate::model::{CrmEntity, Version};

text_enum! {
    /// The sync state of a link.
    pub enum LinkStatus {
        /// Both sides agree with the base.
        Synced => "synced",
        /// A change is planned or waiting to be applied.
        Pending => "pending",
        /// The last attempt failed; `last_error` says why.
        Error => "error",
        /// A conflict is held in the review queue.
        Conflict => "conflict",
        /// One side's record is gone.
        Orphaned => "orphaned",
    }
}

/// One linked pair and its merge state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// The row id; `None` for a link not stored yet.
    pub id: Option<i64>,
    /// The Partner Center referral id; `None` while the referral of a CRM record is not created yet.
    pub referral_id: Option<String>,
    /// The kind of CRM record.
    pub crm_entity: CrmEntity,
    /// The CRM record id; `None` while the CRM record of a referral is not created yet.
    pub crm_id: Option<String>,
    /// The base snapshot: canonical field values both sides agreed on at the last sync.
    pub base: Map<String, Value>,
    /// The Partner Center version last seen.
    pub partner_center_version: Version,
    /// The CRM version last seen.
    pub crm_version: Version,
    /// The sync state.
    pub status: LinkStatus,
    /// The error kind of the last failure, when `status` is `error`.
    pub last_error_kind: Option<String>,
    /// The message of the last failure.
    pub last_error: Option<String>,
    /// The last plan, as JSON.
    pub last_plan: Option<Value>,
    /// When the link was created (RFC 3339 UTC); kept as first written on later updates.
    pub created_at: String,
    /// When the link last changed (RFC 3339 UTC).
    pub updated_at: String,
    /// How many times the link was updated. An update names the revision it read and fails with
    /// [`StoreError::StaleLink`] when another commit came first (optimistic concurrency, also between
    /// processes). New links start at 0.
    #[serde(default)]
    pub revision: i64,
}

/// The link look-ups of [`Store::link_reader`]: [`Store::link_by_referral`] and [`Store::link_by_crm`] without
/// preparing (finding the cached statement) on every call, guided by the in-memory link index (see
/// `store/link_index.rs`): a hash probe and a row read instead of a key-index search.
pub struct LinkReader<'s> {
    by_id: CachedStatement<'s>,
    by_referral: CachedStatement<'s>,
    by_crm: CachedStatement<'s>,
    /// `None` when another reader of this store holds the index (look-ups then search SQL).
    index: Option<std::cell::RefMut<'s, LinkIndex>>,
    path: &'s str,
}

impl std::fmt::Debug for LinkReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkReader")
            .field("store", &self.path)
            .finish_non_exhaustive()
    }
}

impl LinkReader<'_> {
    /// The link of a Partner Center referral, if any.
    pub fn by_referral(&mut self, referral_id: &str) -> Result<Option<Link>, StoreError> {
        let key = referral_key(referral_id);
        let hint = self
            .index
            .as_ref()
            .map_or(Hint::Unknown, |i| i.referral(key));
        let found = self.find(
            hint,
            |l| l.referral_id.as_deref() == Some(referral_id),
            |r| first(&mut r.by_referral, &[&key, &referral_id]),
        );
        found.map_err(|e| e.in_store(self.path))
    }

    /// The link of a CRM record, if any.
    pub fn by_crm(&mut self, entity: CrmEntity, crm_id: &str) -> Result<Option<Link>, StoreError> {
        let key = crm_key(entity, crm_id);
        let hint = self.index.as_ref().map_or(Hint::Unknown, |i| i.crm(key));
        let found = self.find(
            hint,
            |l| l.crm_entity == entity && l.crm_id.as_deref() == Some(crm_id),
            |r| first(&mut r.by_crm, &[&key, &entity.as_str(), &crm_id]),
        );
        found.map_err(|e| e.in_store(self.path))
    }

    /// Follows the index's hint: the row it names if that row has the key, no link when the index knows there is
    /// none, else the SQL search (whose answer the index then learns).
    fn find(
        &mut self,
        hint: Hint,
        has_key: impl Fn(&Link) -> bool,
        search: impl FnOnce(&mut Self) -> Result<Option<Link>, StoreError>,
    ) -> Result<Option<Link>, StoreError> {
        match hint {
            Hint::Absent => return Ok(None),
            Hint::Row(id) => {
                if let Some(link) = first(&mut self.by_id, &[&id])? {
                    if has_key(&link) {
                        return Ok(Some(link));
                    }
                }
            }
            Hint::Unknown => {}
        }
        let found = search(self)?;
        if let (Some(l), Some(index)) = (&found, self.index.as_mut()) {
            if let Some(id) = l.id {
                let (referral, crm) = keys_of(l);
                index.note(id, referral, crm);
            }
        }
        Ok(found)
    }
}

/// Builds a SELECT of every link column, in the order [`decode`] reads them.
macro_rules! select_links {
    ($tail:literal) => {
        concat!(
            "SELECT id, referral_id, crm_entity, crm_id, base, pc_etag, pc_modified, pc_stamp, ",
            "crm_etag, crm_modified, crm_stamp, status, last_error_kind, last_error, last_plan, ",
            "created_at, updated_at, revision FROM links ",
            $tail
        )
    };
}

/// Inserts a link. Both statements take the same parameters: `?1`-`?15` the columns, `?16` `created_at` here (the
/// link id in [`UPDATE`]), `?17` the revision, `?18` and `?19` the referral and CRM keys.
pub(crate) const INSERT: &str = "INSERT INTO links (referral_id, crm_entity, crm_id, base, \
    pc_etag, pc_modified, pc_stamp, crm_etag, crm_modified, crm_stamp, status, last_error_kind, \
    last_error, last_plan, updated_at, created_at, revision, referral_key, crm_key) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";

/// Updates a link if it is still at the revision read (`?17`), and moves its revision on.
pub(crate) const UPDATE: &str = "UPDATE links SET referral_id = ?1, crm_entity = ?2, crm_id = ?3, \
    base = ?4, pc_etag = ?5, pc_modified = ?6, pc_stamp = ?7, crm_etag = ?8, crm_modified = ?9, \
    crm_stamp = ?10, status = ?11, last_error_kind = ?12, last_error = ?13, last_plan = ?14, \
    updated_at = ?15, revision = revision + 1, referral_key = ?18, crm_key = ?19 \
    WHERE id = ?16 AND revision = ?17";

/// The look-up of a link by referral id: `?1` its key, `?2` the id.
const BY_REFERRAL: &str = select_links!("WHERE referral_key = ?1 AND referral_id = ?2");
/// The look-up of a link by CRM record: `?1` its key, `?2` the entity, `?3` the id.
const BY_CRM: &str = select_links!("WHERE crm_key = ?1 AND crm_entity = ?2 AND crm_id = ?3");

/// Decodes one row of [`select_links!`].
fn decode(row: &Row<'_>) -> Result<Link, StoreError> {
    let base = sql::from_json(sql::req_str(row, 4, "links.base")?, "links.base")?;
    let version = |first: usize, names: [&'static str; 3]| -> Result<Version, StoreError> {
        Ok(Version {
            etag: sql::opt_string(row, first, names[0])?,
            modified: sql::opt_string(row, first + 1, names[1])?,
            stamp: sql::opt_string(row, first + 2, names[2])?,
        })
    };
    Ok(Link {
        id: Some(sql::int(row, 0, "links.id")?),
        referral_id: sql::opt_string(row, 1, "links.referral_id")?,
        crm_entity: sql::decode(
            sql::req_str(row, 2, "links.crm_entity")?,
            "links.crm_entity",
            CrmEntity::parse,
        )?,
        crm_id: sql::opt_string(row, 3, "links.crm_id")?,
        base,
        partner_center_version: version(
            5,
            ["links.pc_etag", "links.pc_modified", "links.pc_stamp"],
        )?,
        crm_version: version(
            8,
            ["links.crm_etag", "links.crm_modified", "links.crm_stamp"],
        )?,
        status: sql::decode(
            sql::req_str(row, 11, "links.status")?,
            "links.status",
            LinkStatus::parse,
        )?,
        last_error_kind: sql::opt_string(row, 12, "links.last_error_kind")?,
        last_error: sql::opt_string(row, 13, "links.last_error")?,
        last_plan: sql::opt_json(row, 14, "links.last_plan")?,
        created_at: sql::req_string(row, 15, "links.created_at")?,
        updated_at: sql::req_string(row, 16, "links.updated_at")?,
        revision: sql::int(row, 17, "links.revision")?,
    })
}

/// Runs a prepared link query and decodes every row.
fn collect(
    stmt: &mut Statement<'_>,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Link>, StoreError> {
    let mut rows = stmt.query(params).ctx("reading links")?;
    let mut links = Vec::new();
    while let Some(row) = rows.next().ctx("reading links")? {
        links.push(decode(row)?);
    }
    Ok(links)
}

/// Runs a prepared link query expected to match at most one row.
fn first(
    stmt: &mut Statement<'_>,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Option<Link>, StoreError> {
    let mut rows = stmt.query(params).ctx("reading a link")?;
    rows.next().ctx("reading a link")?.map(decode).transpose()
}

/// The link with this id, if any.
pub(crate) fn by_id(conn: &Connection, id: i64) -> Result<Option<Link>, StoreError> {
    let mut stmt = conn
        .prepare_cached(select_links!("WHERE id = ?1"))
        .ctx("preparing a link read")?;
    first(&mut stmt, &[&id])
}

/// Checks what an insert or update of `link` needs before it reaches `SQLite`.
pub(crate) fn check(link: &Link) -> Result<(), StoreError> {
    sql::check_time("link created_at", &link.created_at)?;
    sql::check_time("link updated_at", &link.updated_at)
}

/// The referral and CRM keys of a link (see `store/keys.rs`).
pub(crate) fn keys_of(link: &Link) -> (Option<i64>, Option<i64>) {
    (
        link.referral_id.as_deref().map(referral_key),
        link.crm_id.as_deref().map(|c| crm_key(link.crm_entity, c)),
    )
}

/// Writes `link` with the cached [`INSERT`] (id `None`) or [`UPDATE`] statement and returns its id.
///
/// A link whose referral id, or CRM entity and id, another link holds is refused with
/// [`StoreError::InvalidState`] naming the key (see [`check_unique`]).
pub(crate) fn write(
    statements: &mut Writer<'_>,
    mut index: Option<&mut LinkIndex>,
    link: &Link,
) -> Result<i64, StoreError> {
    let (referral_key, crm_key) = keys_of(link);
    check_unique(statements, index.as_deref(), link, referral_key, crm_key)?;
    let base = sql::to_json(&link.base, "links.base")?;
    let plan = link
        .last_plan
        .as_ref()
        .map(|p| sql::to_json(p, "links.last_plan"))
        .transpose()?;
    let pc = &link.partner_center_version;
    let crm = &link.crm_version;
    let key: &dyn rusqlite::ToSql = match &link.id {
        None => &link.created_at,
        Some(id) => id,
    };
    let values = params![
        link.referral_id,
        link.crm_entity.as_str(),
        link.crm_id,
        base,
        pc.etag,
        pc.modified,
        pc.stamp,
        crm.etag,
        crm.modified,
        crm.stamp,
        link.status.as_str(),
        link.last_error_kind,
        link.last_error,
        plan,
        link.updated_at,
        key,
        link.revision,
        referral_key,
        crm_key,
    ];
    let result = match link.id {
        None => statements.insert.insert(values).map(Some),
        Some(id) => statements
            .update
            .execute(values)
            .map(|changed| (changed == 1).then_some(id)),
    };
    match result {
        Ok(Some(id)) => {
            if let Some(i) = index.as_mut() {
                i.note(id, referral_key, crm_key);
            }
            Ok(id)
        }
        Ok(None) => {
            let id = link.id.unwrap_or_default();
            let exists = statements.exists.exists([id]).ctx("reading a link")?;
            Err(if exists {
                StoreError::StaleLink {
                    id,
                    expected: link.revision,
                }
            } else {
                StoreError::NotFound {
                    what: "link",
                    key: id.to_string(),
                }
            })
        }
        Err(e) => Err(StoreError::from_sqlite("writing a link", e)),
    }
}

/// The cached statements of a batch of link writes.
pub(crate) struct Writer<'c> {
    insert: CachedStatement<'c>,
    update: CachedStatement<'c>,
    referral_holder: CachedStatement<'c>,
    crm_holder: CachedStatement<'c>,
    exists: CachedStatement<'c>,
}

impl<'c> Writer<'c> {
    /// Prepares (or takes from the cache) the statements.
    pub(crate) fn new(conn: &'c Connection) -> Result<Self, StoreError> {
        let prepare = |text| conn.prepare_cached(text).ctx("preparing a link write");
        Ok(Writer {
            insert: prepare(INSERT)?,
            update: prepare(UPDATE)?,
            referral_holder: prepare(
                "SELECT id FROM links WHERE referral_key = ?1 AND referral_id = ?2 AND id IS NOT ?3",
            )?,
            crm_holder: prepare(
                "SELECT id FROM links WHERE crm_key = ?1 AND crm_entity = ?2 AND crm_id = ?3 \
                 AND id IS NOT ?4",
            )?,
            exists: prepare("SELECT 1 FROM links WHERE id = ?1")?,
        })
    }
}

/// Refuses `link` when another link has its referral id, or its CRM entity and id.
///
/// The keys are hashes, so the table has no unique index to do this (schema version 3). Inside the write
/// transaction the in-memory link index, when it is complete (see `store/link_index.rs`), answers for a key it
/// has never seen: no link has it, nothing to read. Any other answer is checked with an indexed look-up of the
/// key that compares the ids themselves.
fn check_unique(
    statements: &mut Writer<'_>,
    index: Option<&LinkIndex>,
    link: &Link,
    referral_key: Option<i64>,
    crm_key: Option<i64>,
) -> Result<(), StoreError> {
    let holder = |stmt: &mut CachedStatement<'_>, params: &[&dyn rusqlite::ToSql]| {
        stmt.query_row(params, |r| r.get::<_, i64>(0))
            .optional()
            .ctx("checking that a link's keys are free")
    };
    if let (Some(referral), Some(key)) = (&link.referral_id, referral_key)
        && index.is_none_or(|i| i.referral(key) != Hint::Absent)
        && let Some(id) = holder(&mut statements.referral_holder, &[&key, referral, &link.id])?
    {
        return Err(StoreError::InvalidState {
            what: "link",
            detail: format!("link {id} already has referral_id {referral:?}"),
        });
    }
    if let (Some(crm_id), Some(key)) = (&link.crm_id, crm_key)
        && index.is_none_or(|i| i.crm(key) != Hint::Absent)
        && let Some(id) = holder(
            &mut statements.crm_holder,
            &[&key, &link.crm_entity.as_str(), crm_id, &link.id],
        )?
    {
        return Err(StoreError::InvalidState {
            what: "link",
            detail: format!(
                "link {id} already has {} crm_id {crm_id:?}",
                link.crm_entity.as_str()
            ),
        });
    }
    Ok(())
}

impl Store {
    /// The link with this id, if any.
    pub fn link(&self, id: i64) -> Result<Option<Link>, StoreError> {
        self.read(|conn| by_id(conn, id))
    }

    /// The link of a Partner Center referral, if any. This is the planner's hot path: one cached
    /// statement, one JSON parse of the base.
    pub fn link_by_referral(&self, referral_id: &str) -> Result<Option<Link>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(BY_REFERRAL)
                .ctx("preparing a link read")?;
            first(&mut stmt, &[&referral_key(referral_id), &referral_id])
        })
    }

    /// Link look-ups by referral and by CRM record with their statements prepared once, for reading the links
    /// of many pairs on one snapshot ([`Store::read_snapshot`]).
    pub fn link_reader(&self) -> Result<LinkReader<'_>, StoreError> {
        let prepare = |text: &str| {
            self.conn
                .prepare_cached(text)
                .ctx("preparing a link read")
                .map_err(|e| e.in_store(&self.path))
        };
        let index = match self.link_index.try_borrow_mut() {
            Ok(mut slot) => {
                if slot.is_none() {
                    *slot = Some(LinkIndex::load(&self.conn).map_err(|e| e.in_store(&self.path))?);
                }
                let mut index = std::cell::RefMut::filter_map(slot, Option::as_mut).ok();
                if let Some(i) = index.as_mut() {
                    i.check(&self.conn).map_err(|e| e.in_store(&self.path))?;
                }
                index
            }
            // Another reader of this store holds it.
            Err(_) => None,
        };
        Ok(LinkReader {
            by_id: prepare(select_links!("WHERE id = ?1"))?,
            by_referral: prepare(BY_REFERRAL)?,
            by_crm: prepare(BY_CRM)?,
            index,
            path: &self.path,
        })
    }

    /// The link of a CRM record, if any.
    pub fn link_by_crm(&self, entity: CrmEntity, crm_id: &str) -> Result<Option<Link>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(BY_CRM).ctx("preparing a link read")?;
            first(
                &mut stmt,
                &[&crm_key(entity, crm_id), &entity.as_str(), &crm_id],
            )
        })
    }

    /// Up to `limit` links with an id greater than `after_id`, by id, optionally only those in `status`.
    /// Page through all links by passing the last id of one page as the `after_id` of the next (start at 0).
    pub fn links(
        &self,
        status: Option<LinkStatus>,
        limit: usize,
        after_id: i64,
    ) -> Result<Vec<Link>, StoreError> {
        let limit = sql::limit(Some(limit));
        self.read(|conn| {
            if let Some(status) = status {
                // The `status <> 'synced'` term lets SQLite use the partial index `links_attention`.
                let text = if status == LinkStatus::Synced {
                    select_links!("WHERE status = ?1 AND id > ?2 ORDER BY id LIMIT ?3")
                } else {
                    select_links!(
                        "WHERE status = ?1 AND status <> 'synced' AND id > ?2 ORDER BY id LIMIT ?3"
                    )
                };
                let mut stmt = conn.prepare_cached(text).ctx("preparing a link list")?;
                collect(&mut stmt, &[&status.as_str(), &after_id, &limit])
            } else {
                let mut stmt = conn
                    .prepare_cached(select_links!("WHERE id > ?1 ORDER BY id LIMIT ?2"))
                    .ctx("preparing a link list")?;
                collect(&mut stmt, &[&after_id, &limit])
            }
        })
    }

    /// The number of links in each status, for every status in [`LinkStatus::ALL`] order (zeros included).
    pub fn count_links_by_status(&self) -> Result<Vec<(LinkStatus, u64)>, StoreError> {
        self.read(|conn| {
            let mut counts: Vec<(LinkStatus, u64)> =
                LinkStatus::ALL.iter().map(|s| (*s, 0)).collect();
            let mut stmt = conn
                .prepare_cached("SELECT status, count(*) FROM links GROUP BY status")
                .ctx("preparing the link count")?;
            let mut rows = stmt.query([]).ctx("counting links")?;
            while let Some(row) = rows.next().ctx("counting links")? {
                let status = sql::decode(
                    sql::req_str(row, 0, "links.status")?,
                    "links.status",
                    LinkStatus::parse,
                )?;
                let n = u64::try_from(sql::int(row, 1, "count")?).unwrap_or(0);
                if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == status) {
                    slot.1 = n;
                }
            }
            Ok(counts)
        })
    }
}
