//! Behaviour of the `SQLite` state store on real files: open and refusal rules, the all-or-nothing commit,
//! the audit and its `audit_log` view, reviews, the inbox, write intents and cursors.

use std::error::Error;
use std::path::Path;

mod common;

use common::TempDir;
use cosell_core::model::{CrmEntity, Version};
use cosell_core::store::{
    AuditEntry, AuditQuery, Enqueued, FieldChange, InboxStatus, IntentSide, IntentStatus, Link,
    LinkCommit, LinkStatus, NewEvent, NewIntent, NewReview, ReviewChoice, ReviewStatus,
    SCHEMA_VERSION, Store, StoreError,
};
use serde_json::{Map, Value, json};

type TestResult = Result<(), Box<dyn Error>>;

/// `audit_log` columns read back: audit id, action, field, before, after.
type LogRow = (i64, String, Option<String>, Option<String>, Option<String>);

const T0: &str = "2025-01-01T00:00:00Z";
const T1: &str = "2025-01-02T00:00:00Z";
const T2: &str = "2025-01-03T00:00:00Z";
const T3: &str = "2025-01-04T00:00:00Z";

fn base(title: &str) -> Map<String, Value> {
    let Value::Object(map) = json!({
        "title": title,
        "deal_value": 125_000.5,
        "currency": "USD",
        "close_date": "2025-06-30",
        "customer": {"name": "Contoso", "country": "US"},
        "notes": null
    }) else {
        unreachable!("a json! object literal is an object")
    };
    map
}

fn link(referral: Option<&str>, entity: CrmEntity, crm_id: Option<&str>) -> Link {
    Link {
        id: None,
        referral_id: referral.map(str::to_owned),
        crm_entity: entity,
        crm_id: crm_id.map(str::to_owned),
        base: base("Contoso migration"),
        partner_center_version: Version {
            etag: Some("\"1\"".to_owned()),
            modified: Some(T0.to_owned()),
            stamp: None,
        },
        crm_version: Version {
            etag: Some("W/\"100\"".to_owned()),
            modified: Some(T0.to_owned()),
            stamp: Some("100".to_owned()),
        },
        status: LinkStatus::Synced,
        last_error_kind: None,
        last_error: None,
        last_plan: None,
        created_at: T0.to_owned(),
        updated_at: T0.to_owned(),
        revision: 0,
    }
}

fn entry(at: &str, referral: Option<&str>, action: &str, changes: Vec<FieldChange>) -> AuditEntry {
    AuditEntry {
        at: at.to_owned(),
        link_id: None,
        referral_id: referral.map(str::to_owned),
        crm_entity: None,
        crm_id: None,
        direction: "to_crm".to_owned(),
        action: action.to_owned(),
        outcome: "applied".to_owned(),
        reason: None,
        changes,
        error_kind: None,
        error_message: None,
        cause: Some("manual".to_owned()),
        dry_run: false,
        plan_id: Some("plan-1".to_owned()),
    }
}

fn change(field: &str, before: Value, after: Value) -> FieldChange {
    FieldChange {
        field: field.to_owned(),
        before,
        after,
    }
}

/// Commits one new link with one audit row and returns its id.
fn insert(store: &mut Store, referral: &str, crm_id: &str) -> Result<i64, StoreError> {
    let mut c = LinkCommit::new(link(Some(referral), CrmEntity::Opportunity, Some(crm_id)));
    c.audit.push(entry(T0, None, "link", vec![]));
    Ok(store.commit(&[c])?[0])
}

fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("raw connection opens")
}

fn count(path: &Path, table: &str) -> i64 {
    raw(path)
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

// ---------------------------------------------------------------- open

#[test]
fn open_creates_a_new_file_and_reopen_keeps_data() -> TestResult {
    let dir = TempDir::new("reopen");
    let path = dir.file("state.db");
    let id = {
        let mut store = Store::open(&path)?;
        assert_eq!(store.schema_version(), SCHEMA_VERSION);
        assert_eq!(store.path(), path.to_string_lossy());
        insert(&mut store, "R-1", "O-1")?
    };
    let store = Store::open(&path)?;
    let found = store
        .link_by_referral("R-1")?
        .expect("link survives reopen");
    assert_eq!(found.id, Some(id));
    assert_eq!(found.base, base("Contoso migration"));

    let conn = raw(&path);
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    assert_eq!(mode, "wal");
    let app: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    assert_eq!(app, cosell_core::store::APPLICATION_ID);
    Ok(())
}

#[test]
fn an_empty_file_becomes_a_store() -> TestResult {
    let dir = TempDir::new("empty");
    let path = dir.file("empty.db");
    std::fs::write(&path, b"")?;
    let store = Store::open(&path)?;
    assert_eq!(store.schema_version(), SCHEMA_VERSION);
    drop(store);
    let page_size: i64 = raw(&path).query_row("PRAGMA page_size", [], |r| r.get(0))?;
    assert_eq!(page_size, 8192, "new stores use 8 KB pages");
    Ok(())
}

#[test]
fn memory_store_works() -> TestResult {
    let mut store = Store::open(":memory:")?;
    assert_eq!(store.path(), ":memory:");
    assert_eq!(store.schema_version(), SCHEMA_VERSION);
    let id = insert(&mut store, "R-1", "O-1")?;
    assert_eq!(
        store.link(id)?.and_then(|l| l.referral_id).as_deref(),
        Some("R-1")
    );
    let err = Store::open_read_only(":memory:").expect_err("read-only memory store");
    assert_eq!(err.kind(), "invalid_input");
    Ok(())
}

#[test]
fn a_newer_schema_is_refused_and_the_file_untouched() -> TestResult {
    let dir = TempDir::new("newer");
    let path = dir.file("state.db");
    drop(Store::open(&path)?);
    raw(&path).pragma_update(None, "user_version", 99)?;
    let before = std::fs::read(&path)?;

    let err = Store::open(&path).expect_err("newer schema");
    assert!(
        matches!(&err, StoreError::NewerSchema { found: 99, supported, path: p }
            if *supported == SCHEMA_VERSION && p.as_str() == path.to_string_lossy()),
        "{err:?}"
    );
    assert_eq!(err.kind(), "newer_schema");
    assert!(err.to_string().contains("upgrade cosell"), "{err}");
    let err = Store::open_read_only(&path).expect_err("newer schema read-only");
    assert_eq!(err.kind(), "newer_schema");

    assert_eq!(std::fs::read(&path)?, before, "the file is untouched");
    let version: i64 = raw(&path).query_row("PRAGMA user_version", [], |r| r.get(0))?;
    assert_eq!(version, 99);
    Ok(())
}

#[test]
fn a_file_that_is_not_sqlite_is_refused() -> TestResult {
    let dir = TempDir::new("junk");
    let path = dir.file("junk.db");
    let junk: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 13) as u8).collect();
    std::fs::write(&path, &junk)?;
    let err = Store::open(&path).expect_err("junk is refused");
    assert!(matches!(err.kind(), "not_a_store" | "corrupt"), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("junk.db") && message.contains("not a cosell store"),
        "{message}"
    );
    assert_eq!(std::fs::read(&path)?, junk, "the file is untouched");
    Ok(())
}

#[test]
fn a_foreign_sqlite_database_is_refused() -> TestResult {
    let dir = TempDir::new("foreign");
    let path = dir.file("other.db");
    raw(&path).execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);")?;
    let before = std::fs::read(&path)?;
    let err = Store::open(&path).expect_err("foreign db");
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path)?, before);
    assert_eq!(
        count(&path, "sqlite_schema"),
        1,
        "nothing was created in it"
    );
    Ok(())
}

#[test]
fn read_only_store_reads_and_refuses_writes() -> TestResult {
    let dir = TempDir::new("readonly");
    let path = dir.file("state.db");
    {
        let mut store = Store::open(&path)?;
        insert(&mut store, "R-1", "O-1")?;
    }
    let mut store = Store::open_read_only(&path)?;
    assert!(store.is_read_only());
    assert!(store.link_by_referral("R-1")?.is_some());
    let err = store
        .commit(&[LinkCommit::new(link(Some("R-2"), CrmEntity::Lead, None))])
        .expect_err("read-only commit");
    assert!(matches!(err, StoreError::ReadOnly), "{err:?}");
    assert_eq!(err.kind(), "read_only");
    let err = store
        .set_cursor("pc", "x", T0)
        .expect_err("read-only cursor");
    assert!(matches!(err, StoreError::ReadOnly));
    drop(store);
    assert_eq!(count(&path, "links"), 1);
    Ok(())
}

#[test]
fn read_only_open_of_a_missing_file_fails_with_open() {
    let dir = TempDir::new("missing");
    let err = Store::open_read_only(dir.file("nope.db")).expect_err("missing file");
    assert_eq!(err.kind(), "open", "{err:?}");
    let err = Store::open(dir.file("no/such/dir/state.db")).expect_err("missing dir");
    assert_eq!(err.kind(), "open", "{err:?}");
}

// ---------------------------------------------------------------- commit

#[test]
fn commit_round_trip_insert_update_and_repoint() -> TestResult {
    let dir = TempDir::new("roundtrip");
    let path = dir.file("state.db");
    let mut store = Store::open(&path)?;

    let mut new = LinkCommit::new(link(Some("R-1"), CrmEntity::Lead, Some("L-1")));
    new.audit.push(entry(
        T0,
        None,
        "create_crm",
        vec![change("title", Value::Null, json!("A"))],
    ));
    let id = store.commit(&[new.clone()])?[0];
    let mut stored = store.link(id)?.expect("inserted");
    let mut expected = new.link.clone();
    expected.id = Some(id);
    assert_eq!(stored, expected);
    assert_eq!(
        store.link_by_crm(CrmEntity::Lead, "L-1")?,
        Some(expected.clone())
    );

    // Update: new base, versions, status, plan and error; then re-point the lead to its opportunity.
    stored.base = base("Contoso migration, phase 2");
    stored.partner_center_version.etag = Some("\"2\"".to_owned());
    stored.crm_version = Version {
        etag: None,
        modified: Some(T1.to_owned()),
        stamp: Some("101".to_owned()),
    };
    stored.status = LinkStatus::Error;
    stored.last_error_kind = Some("precondition_failed".to_owned());
    stored.last_error = Some("412 from Dynamics".to_owned());
    stored.last_plan = Some(json!({"actions": [{"kind": "update_crm"}]}));
    stored.crm_entity = CrmEntity::Opportunity;
    stored.crm_id = Some("O-1".to_owned());
    stored.created_at = T3.to_owned(); // ignored: created_at is kept
    stored.updated_at = T1.to_owned();
    let mut update = LinkCommit::new(stored.clone());
    update.audit.push(entry(T1, None, "link", vec![]));
    assert_eq!(store.commit(&[update])?, vec![id]);

    let after = store.link_by_referral("R-1")?.expect("still there");
    let mut want = stored.clone();
    want.created_at = T0.to_owned();
    want.revision = 1; // every update moves the revision
    assert_eq!(after, want);

    // A writer that read revision 0 comes second: refused, nothing written.
    let mut late = stored.clone();
    late.status = LinkStatus::Synced;
    let err = store
        .commit(&[LinkCommit::new(late)])
        .expect_err("stale revision");
    assert!(
        matches!(err, StoreError::StaleLink { expected: 0, .. }),
        "{err}"
    );
    assert_eq!(
        store.link_by_referral("R-1")?.expect("kept").status,
        LinkStatus::Error
    );
    assert_eq!(store.link_by_crm(CrmEntity::Lead, "L-1")?, None);
    assert_eq!(
        store
            .link_by_crm(CrmEntity::Opportunity, "O-1")?
            .and_then(|l| l.id),
        Some(id)
    );

    // The audit rows carry the link id and the link's keys as of each commit.
    let rows = store.audit(&AuditQuery::default())?;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].entry.link_id, Some(id));
    assert_eq!(rows[0].entry.referral_id.as_deref(), Some("R-1"));
    assert_eq!(rows[0].entry.crm_entity, Some(CrmEntity::Lead));
    assert_eq!(rows[0].entry.crm_id.as_deref(), Some("L-1"));
    assert_eq!(
        rows[0].entry.changes,
        vec![change("title", Value::Null, json!("A"))]
    );
    assert_eq!(rows[1].entry.crm_entity, Some(CrmEntity::Opportunity));
    Ok(())
}

#[test]
fn a_link_without_referral_or_crm_id_can_be_stored_and_completed() -> TestResult {
    let mut store = Store::open(":memory:")?;
    // Two CRM records whose referrals are not created yet, and a referral whose CRM record is not.
    let ids = store.commit(&[
        LinkCommit::new(link(None, CrmEntity::Opportunity, Some("O-1"))),
        LinkCommit::new(link(None, CrmEntity::Opportunity, Some("O-2"))),
        LinkCommit::new(link(Some("R-3"), CrmEntity::Opportunity, None)),
        LinkCommit::new(link(Some("R-4"), CrmEntity::Opportunity, None)),
    ])?;
    assert_eq!(ids.len(), 4);
    let mut first = store.link(ids[0])?.expect("stored");
    first.referral_id = Some("R-1".to_owned());
    store.commit(&[LinkCommit::new(first)])?;
    assert_eq!(
        store.link_by_referral("R-1")?.and_then(|l| l.id),
        Some(ids[0])
    );
    Ok(())
}

#[test]
fn a_duplicate_referral_is_refused_and_the_whole_batch_rolled_back() -> TestResult {
    let dir = TempDir::new("dup");
    let path = dir.file("state.db");
    let mut store = Store::open(&path)?;
    let existing = insert(&mut store, "R-0", "O-0")?;

    // Within one batch: the third duplicates the first.
    let batch: Vec<LinkCommit> = [("R-1", "O-1"), ("R-2", "O-2"), ("R-1", "O-3")]
        .iter()
        .map(|(r, o)| {
            let mut c = LinkCommit::new(link(Some(r), CrmEntity::Opportunity, Some(o)));
            c.audit.push(entry(
                T0,
                None,
                "link",
                vec![change("title", json!(1), json!(2))],
            ));
            c
        })
        .collect();
    let err = store.commit(&batch).expect_err("duplicate referral");
    assert!(
        matches!(err, StoreError::InvalidState { what: "link", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"R-1\""), "{err}");
    assert!(store.link_by_referral("R-1")?.is_none());
    assert!(store.link_by_referral("R-2")?.is_none());
    assert_eq!(count(&path, "links"), 1);
    assert_eq!(count(&path, "audit"), 1);
    assert_eq!(count(&path, "audit_field"), 0);

    // Against a committed link, by referral and by CRM record.
    let err = store
        .commit(&[LinkCommit::new(link(
            Some("R-0"),
            CrmEntity::Opportunity,
            Some("O-9"),
        ))])
        .expect_err("duplicate of a committed referral");
    assert!(
        err.to_string().contains(&format!("link {existing}")),
        "{err}"
    );
    let err = store
        .commit(&[LinkCommit::new(link(
            Some("R-9"),
            CrmEntity::Opportunity,
            Some("O-0"),
        ))])
        .expect_err("duplicate CRM record");
    assert!(
        err.to_string().contains("opportunity crm_id \"O-0\""),
        "{err}"
    );
    // The same CRM id as a lead is another record.
    store.commit(&[LinkCommit::new(link(
        Some("R-9"),
        CrmEntity::Lead,
        Some("O-0"),
    ))])?;

    // Updating a missing link.
    let mut ghost = link(Some("R-G"), CrmEntity::Lead, None);
    ghost.id = Some(4242);
    let err = store
        .commit(&[LinkCommit::new(ghost)])
        .expect_err("missing link");
    assert!(matches!(err, StoreError::NotFound { what: "link", ref key } if key == "4242"));
    Ok(())
}

#[test]
fn malformed_input_is_refused_before_writing() -> TestResult {
    let mut store = Store::open(":memory:")?;
    let mut bad_time = link(Some("R-1"), CrmEntity::Lead, None);
    bad_time.updated_at = "yesterday".to_owned();
    let err = store
        .commit(&[LinkCommit::new(bad_time)])
        .expect_err("bad time");
    assert_eq!(err.kind(), "invalid_input", "{err:?}");
    let mut offset = link(Some("R-1"), CrmEntity::Lead, None);
    offset.created_at = "2025-01-01T01:00:00+01:00".to_owned();
    assert!(store.commit(&[LinkCommit::new(offset)]).is_err());

    let mut bad_outcome = entry(T0, Some("R-1"), "skip", vec![]);
    bad_outcome.outcome = "maybe".to_owned();
    let err = store.append_audit(&[bad_outcome]).expect_err("bad outcome");
    assert!(err.to_string().contains("maybe"), "{err}");
    let mut bad_direction = entry(T0, Some("R-1"), "skip", vec![]);
    bad_direction.direction = "sideways".to_owned();
    assert!(store.append_audit(&[bad_direction]).is_err());
    assert!(store.audit(&AuditQuery::default())?.is_empty());
    Ok(())
}

#[test]
fn links_page_by_id_and_count_by_status() -> TestResult {
    let mut store = Store::open(":memory:")?;
    let commits: Vec<LinkCommit> = (0..5)
        .map(|i| {
            let mut l = link(
                Some(&format!("R-{i}")),
                CrmEntity::Opportunity,
                Some(&format!("O-{i}")),
            );
            l.status = if i % 2 == 0 {
                LinkStatus::Synced
            } else {
                LinkStatus::Conflict
            };
            LinkCommit::new(l)
        })
        .collect();
    let ids = store.commit(&commits)?;
    let page1 = store.links(None, 2, 0)?;
    assert_eq!(
        page1.iter().map(|l| l.id).collect::<Vec<_>>(),
        [Some(ids[0]), Some(ids[1])]
    );
    let page3 = store.links(None, 2, ids[3])?;
    assert_eq!(page3.len(), 1);
    let conflicts = store.links(Some(LinkStatus::Conflict), 10, 0)?;
    assert_eq!(
        conflicts.iter().map(|l| l.id).collect::<Vec<_>>(),
        [Some(ids[1]), Some(ids[3])]
    );
    let counts = store.count_links_by_status()?;
    assert_eq!(counts.len(), LinkStatus::ALL.len());
    assert!(counts.contains(&(LinkStatus::Synced, 3)));
    assert!(counts.contains(&(LinkStatus::Conflict, 2)));
    assert!(counts.contains(&(LinkStatus::Orphaned, 0)));
    Ok(())
}

// ---------------------------------------------------------------- audit

#[test]
fn audit_by_referral_follows_the_link_and_keeps_unlinked_rows() -> TestResult {
    let mut store = Store::open(":memory:")?;
    // A CRM record synced first: its link has no referral yet.
    let mut first = LinkCommit::new(link(None, CrmEntity::Opportunity, Some("O-1")));
    first.audit.push(entry(T0, None, "create_referral", vec![]));
    let id = store.commit(&[first])?[0];
    // The referral is created and stamped on the link.
    let mut stamped = link(Some("R-1"), CrmEntity::Opportunity, Some("O-1"));
    stamped.id = Some(id);
    stamped.updated_at = T1.to_owned();
    let mut second = LinkCommit::new(stamped);
    second.audit.push(entry(T1, None, "update_crm", vec![]));
    store.commit(&[second])?;
    // Rows of referrals without a link: a refusal of R-2, a dry run of R-1 before it was linked.
    store.append_audit(&[
        entry(T2, Some("R-2"), "skip", vec![]),
        entry(T2, Some("R-1"), "update_crm", vec![]),
    ])?;
    let of = |referral: &str| -> Result<Vec<(String, Option<i64>)>, StoreError> {
        Ok(store
            .audit(&AuditQuery {
                referral_id: Some(referral.to_owned()),
                ..AuditQuery::default()
            })?
            .into_iter()
            .map(|row| (row.entry.action, row.entry.link_id))
            .collect())
    };
    assert_eq!(
        of("R-1")?,
        [
            ("create_referral".to_owned(), Some(id)),
            ("update_crm".to_owned(), Some(id)),
            ("update_crm".to_owned(), None),
        ]
    );
    assert_eq!(of("R-2")?, [("skip".to_owned(), None)]);
    assert!(of("R-3")?.is_empty());
    Ok(())
}

#[test]
fn audit_query_filters_and_the_audit_log_view() -> TestResult {
    let dir = TempDir::new("audit");
    let path = dir.file("state.db");
    let mut store = Store::open(&path)?;
    let link_id = insert(&mut store, "R-1", "O-1")?; // one audit row at T0
    let mut refused = entry(T1, Some("R-2"), "update_partner_center", vec![]);
    refused.outcome = "refused".to_owned();
    refused.reason = Some("status transition not allowed".to_owned());
    let two_fields = entry(
        T2,
        Some("R-1"),
        "update_crm",
        vec![
            change("title", json!("A"), json!("B")),
            change("deal_value", json!(1), json!(2.5)),
        ],
    );
    let ids = store.append_audit(&[refused, two_fields, entry(T3, Some("R-2"), "skip", vec![])])?;
    assert_eq!(ids.len(), 3);

    let all = store.audit(&AuditQuery::default())?;
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));

    let r1 = store.audit(&AuditQuery {
        referral_id: Some("R-1".to_owned()),
        ..AuditQuery::default()
    })?;
    assert_eq!(r1.len(), 2);
    assert_eq!(r1[1].entry.changes.len(), 2);
    assert_eq!(
        r1[1].entry.changes[1],
        change("deal_value", json!(1), json!(2.5))
    );

    let by_link = store.audit(&AuditQuery {
        link_id: Some(link_id),
        ..AuditQuery::default()
    })?;
    assert_eq!(by_link.len(), 1);

    let window = store.audit(&AuditQuery {
        since: Some(T1.to_owned()),
        until: Some(T3.to_owned()),
        ..AuditQuery::default()
    })?;
    assert_eq!(
        window
            .iter()
            .map(|r| r.entry.at.as_str())
            .collect::<Vec<_>>(),
        // Stored in the engine's form (six fractional digits), whatever precision was given.
        ["2025-01-02T00:00:00.000000Z", "2025-01-03T00:00:00.000000Z"]
    );
    // Bounds of any precision or offset: a row at exactly `since` is in, one at exactly `until` is out.
    for (since, until) in [
        ("2025-01-02T00:00:00Z", "2025-01-04T00:00:00Z"),
        ("2025-01-02T00:00:00.000000Z", "2025-01-04T00:00:00.000Z"),
        ("2025-01-02T01:00:00+01:00", "2025-01-03T19:00:00-05:00"),
    ] {
        let window = store.audit(&AuditQuery {
            since: Some(since.to_owned()),
            until: Some(until.to_owned()),
            ..AuditQuery::default()
        })?;
        assert_eq!(window.len(), 2, "{since} .. {until}");
    }
    let err = store
        .audit(&AuditQuery {
            since: Some("yesterday".to_owned()),
            ..AuditQuery::default()
        })
        .expect_err("not a time");
    assert!(err.to_string().contains("audit query since"), "{err}");

    let limited = store.audit(&AuditQuery {
        since: Some(T1.to_owned()),
        limit: Some(2),
        ..AuditQuery::default()
    })?;
    assert_eq!(limited.len(), 2, "the limit counts entries, not field rows");
    assert_eq!(limited[1].entry.changes.len(), 2);

    let err = store
        .audit(&AuditQuery {
            since: Some("last week".to_owned()),
            ..AuditQuery::default()
        })
        .expect_err("bad since");
    assert_eq!(err.kind(), "invalid_input");

    // The view: one row per field change, one row with NULL field for an entry without changes.
    let conn = raw(&path);
    let mut stmt = conn.prepare(
        "SELECT audit_id, at, link_id, referral_id, crm_entity, crm_id, direction, action, outcome, \
         reason, field, before, after, error_kind, error_message, cause, dry_run, plan_id \
         FROM audit_log ORDER BY audit_id, field",
    )?;
    let rows: Vec<LogRow> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(7)?, r.get(10)?, r.get(11)?, r.get(12)?))
        })?
        .collect::<Result<_, _>>()?;
    assert_eq!(rows.len(), 5);
    let update_rows: Vec<_> = rows.iter().filter(|r| r.1 == "update_crm").collect();
    assert_eq!(update_rows.len(), 2);
    assert_eq!(update_rows[0].2.as_deref(), Some("deal_value"));
    assert_eq!(update_rows[0].3.as_deref(), Some("1"));
    assert_eq!(update_rows[0].4.as_deref(), Some("2.5"));
    let skip_rows: Vec<_> = rows.iter().filter(|r| r.1 == "skip").collect();
    assert_eq!(skip_rows.len(), 1);
    assert_eq!(skip_rows[0].2, None);
    Ok(())
}

#[test]
fn the_audit_is_append_only() -> TestResult {
    let dir = TempDir::new("append-only");
    let path = dir.file("state.db");
    let mut store = Store::open(&path)?;
    store.append_audit(&[entry(
        T0,
        Some("R-1"),
        "update_crm",
        vec![change("title", json!("A"), json!("B"))],
    )])?;
    drop(store);
    let conn = raw(&path);
    for sql in [
        "UPDATE audit SET outcome = 'failed'",
        "DELETE FROM audit",
        "UPDATE audit_field SET after = '\"C\"'",
        "DELETE FROM audit_field",
    ] {
        let err = conn.execute(sql, []).expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(count(&path, "audit"), 1);
    assert_eq!(count(&path, "audit_field"), 1);
    Ok(())
}

// ---------------------------------------------------------------- reviews

fn conflict(field: &str, pc: Value, crm: Value) -> NewReview {
    NewReview {
        referral_id: None,
        field: field.to_owned(),
        base: json!("base"),
        partner_center: pc,
        crm,
    }
}

#[test]
fn reviews_queue_requeue_resolve_and_dismiss() -> TestResult {
    let mut store = Store::open(":memory:")?;
    let mut first = LinkCommit::new(link(Some("R-1"), CrmEntity::Opportunity, Some("O-1")));
    first.link.status = LinkStatus::Conflict;
    first.new_reviews = vec![
        conflict("title", json!("pc"), json!("crm")),
        conflict("deal_value", json!(1), json!(2)),
        conflict("close_date", json!("2025-01-01"), json!("2025-02-01")),
    ];
    let id = store.commit(&[first])?[0];
    let open = store.reviews(Some(ReviewStatus::Open), Some("R-1"))?;
    assert_eq!(open.len(), 3);
    assert_eq!(open[0].link_id, Some(id));
    assert_eq!(
        open[0].referral_id.as_deref(),
        Some("R-1"),
        "filled from the link"
    );

    // Queuing the same field again refreshes the open row.
    let mut again = LinkCommit::new(store.link(id)?.expect("stored"));
    again.link.updated_at = T1.to_owned();
    again.new_reviews = vec![conflict("title", json!("pc2"), json!("crm2"))];
    store.commit(&[again])?;
    let open = store.reviews(Some(ReviewStatus::Open), None)?;
    assert_eq!(open.len(), 3);
    let title = open
        .iter()
        .find(|r| r.field == "title")
        .expect("title review");
    assert_eq!(
        (&title.partner_center, &title.crm),
        (&json!("pc2"), &json!("crm2"))
    );
    assert_eq!(title.created_at, T0, "first queued time kept");

    // Resolve by side, by value; dismiss.
    let by_side = store.resolve_review(
        title.id,
        ReviewChoice::PartnerCenter,
        T2,
        Some("Microsoft is right"),
    )?;
    assert_eq!(by_side.status, ReviewStatus::Resolved);
    assert_eq!(by_side.resolution, Some(json!("pc2")));
    assert_eq!(by_side.resolved_at.as_deref(), Some(T2));
    let value = open
        .iter()
        .find(|r| r.field == "deal_value")
        .expect("deal review");
    let by_value = store.resolve_review(value.id, ReviewChoice::Value(json!(3)), T2, None)?;
    assert_eq!(by_value.resolution, Some(json!(3)));
    let date = open
        .iter()
        .find(|r| r.field == "close_date")
        .expect("date review");
    let dismissed = store.dismiss_review(date.id, T2, Some("not relevant"))?;
    assert_eq!(dismissed.status, ReviewStatus::Dismissed);
    assert_eq!(dismissed.resolution, None);
    assert_eq!(
        store
            .reviews(None, None)?
            .iter()
            .filter(|r| r.status == ReviewStatus::Open)
            .count(),
        0
    );

    // Double resolve, dismiss of a resolved review, missing review.
    let err = store
        .resolve_review(title.id, ReviewChoice::Crm, T3, None)
        .expect_err("double resolve");
    assert!(
        matches!(err, StoreError::InvalidState { what: "review", .. }),
        "{err:?}"
    );
    assert!(matches!(
        store.dismiss_review(title.id, T3, None),
        Err(StoreError::InvalidState { .. })
    ));
    let err = store
        .resolve_review(999, ReviewChoice::Crm, T3, None)
        .expect_err("missing");
    assert!(
        matches!(err, StoreError::NotFound { what: "review", .. }),
        "{err:?}"
    );

    // Each resolution wrote one audit row in its transaction.
    let audit = store.audit(&AuditQuery {
        referral_id: Some("R-1".to_owned()),
        ..AuditQuery::default()
    })?;
    let actions: Vec<&str> = audit.iter().map(|r| r.entry.action.as_str()).collect();
    assert_eq!(
        actions,
        ["review_resolved", "review_resolved", "review_dismissed"]
    );
    let resolved = &audit[0].entry;
    assert_eq!(
        (resolved.direction.as_str(), resolved.outcome.as_str()),
        ("none", "applied")
    );
    assert_eq!(resolved.link_id, Some(id));
    assert_eq!(resolved.crm_id.as_deref(), Some("O-1"));
    assert_eq!(resolved.reason.as_deref(), Some("Microsoft is right"));
    assert_eq!(
        resolved.changes,
        vec![change("title", json!("base"), json!("pc2"))]
    );
    assert_eq!(
        audit[2].entry.changes,
        vec![change("close_date", json!("base"), Value::Null)]
    );

    // A commit applies resolved reviews; a dismissed one cannot be applied, and that rolls back.
    let mut apply = LinkCommit::new(store.link(id)?.expect("stored"));
    apply.link.status = LinkStatus::Synced;
    apply.link.updated_at = T3.to_owned();
    apply.applied_reviews = vec![by_side.id, dismissed.id];
    let err = store
        .commit(&[apply.clone()])
        .expect_err("dismissed review");
    assert!(
        matches!(err, StoreError::InvalidState { what: "review", .. }),
        "{err:?}"
    );
    assert_eq!(
        store.link(id)?.map(|l| l.status),
        Some(LinkStatus::Conflict)
    );
    apply.applied_reviews = vec![by_side.id, by_value.id];
    store.commit(&[apply])?;
    assert_eq!(store.reviews(Some(ReviewStatus::Applied), None)?.len(), 2);
    // Now the same field can be queued again as a new open review.
    let mut later = LinkCommit::new(store.link(id)?.expect("stored"));
    later.new_reviews = vec![conflict("title", json!("x"), json!("y"))];
    store.commit(&[later])?;
    assert_eq!(store.reviews(Some(ReviewStatus::Open), None)?.len(), 1);
    Ok(())
}

// ---------------------------------------------------------------- inbox

fn event(key: &str) -> NewEvent {
    NewEvent {
        dedupe_key: key.to_owned(),
        event_name: "referral-updated".to_owned(),
        referral_id: Some("R-1".to_owned()),
        resource_uri: Some(
            "https://api.partner.microsoft.com/v1.0/engagements/referrals/R-1".to_owned(),
        ),
        change_time: Some(T0.to_owned()),
        body_sha256: Some("ab".repeat(32)),
        received_at: T0.to_owned(),
    }
}

#[test]
fn inbox_dedupes_and_moves_through_failed_and_poison() -> TestResult {
    let mut store = Store::open(":memory:")?;
    let Enqueued::New(a) = store.enqueue_event(&event("k-a"))? else {
        panic!("first delivery is new")
    };
    assert_eq!(store.enqueue_event(&event("k-a"))?, Enqueued::Duplicate(a));
    let b = store.enqueue_event(&event("k-b"))?.id();
    let c = store.enqueue_event(&event("k-c"))?.id();
    let pending = store.pending_events(T0, 10)?;
    assert_eq!(pending.iter().map(|e| e.id).collect::<Vec<_>>(), [a, b, c]);
    assert_eq!(pending[0], store.event(a)?.expect("stored"));
    assert_eq!(store.pending_events(T0, 2)?.len(), 2);

    // a fails and is due again at T2.
    assert_eq!(
        store.mark_event_failed(a, "timeout", Some(T2), 3)?,
        InboxStatus::Failed
    );
    let ids = |events: Vec<cosell_core::store::InboxEvent>| {
        events.iter().map(|e| e.id).collect::<Vec<_>>()
    };
    assert_eq!(ids(store.pending_events(T1, 10)?), [b, c]);
    assert_eq!(ids(store.pending_events(T2, 10)?), [a, b, c]);
    let failed = store.event(a)?.expect("stored");
    assert_eq!(
        (failed.attempts, failed.last_error.as_deref()),
        (1, Some("timeout"))
    );

    // b fails until poison.
    assert_eq!(
        store.mark_event_failed(b, "e1", None, 2)?,
        InboxStatus::Failed
    );
    assert_eq!(
        store.mark_event_failed(b, "e2", Some(T1), 2)?,
        InboxStatus::Poison
    );
    let poison = store.event(b)?.expect("stored");
    assert_eq!(
        (poison.status, poison.attempts, poison.next_attempt_at),
        (InboxStatus::Poison, 2, None)
    );
    assert!(!ids(store.pending_events(T3, 10)?).contains(&b));
    let err = store
        .mark_event_failed(b, "e3", None, 2)
        .expect_err("poison stays poison");
    assert!(
        matches!(err, StoreError::InvalidState { what: "event", .. }),
        "{err:?}"
    );

    // c is done with its link commit; marking done again is harmless.
    let mut done = LinkCommit::new(link(Some("R-1"), CrmEntity::Opportunity, Some("O-1")));
    done.event_done = Some((c, T1.to_owned()));
    store.commit(&[done])?;
    let c_row = store.event(c)?.expect("stored");
    assert_eq!(
        (c_row.status, c_row.done_at.as_deref()),
        (InboxStatus::Done, Some(T1))
    );
    store.mark_event_done(c, T2)?;
    assert_eq!(store.event(c)?.and_then(|e| e.done_at).as_deref(), Some(T1));
    assert!(matches!(
        store.mark_event_failed(c, "late", None, 5),
        Err(StoreError::InvalidState { .. })
    ));

    // Missing events.
    assert_eq!(store.event(999)?, None);
    assert!(matches!(
        store.mark_event_done(999, T1),
        Err(StoreError::NotFound { what: "event", .. })
    ));
    assert!(matches!(
        store.mark_event_failed(999, "x", None, 3),
        Err(StoreError::NotFound { .. })
    ));
    let mut missing = LinkCommit::new(link(Some("R-2"), CrmEntity::Opportunity, Some("O-2")));
    missing.event_done = Some((999, T1.to_owned()));
    assert!(store.commit(&[missing]).is_err());
    assert!(store.link_by_referral("R-2")?.is_none(), "rolled back");
    Ok(())
}

// ---------------------------------------------------------------- intents

fn intent(operation: &str) -> NewIntent {
    NewIntent {
        link_id: None,
        referral_id: Some("R-1".to_owned()),
        side: IntentSide::Crm,
        operation: operation.to_owned(),
        target_id: Some("O-1".to_owned()),
        payload: json!({"name": "Contoso migration"}),
        created_at: T0.to_owned(),
    }
}

#[test]
fn intents_begin_complete_and_list_open() -> TestResult {
    let dir = TempDir::new("intents");
    let path = dir.file("state.db");
    let (a, b, c) = {
        let mut store = Store::open(&path)?;
        (
            store.begin_intent(&intent("create"))?,
            store.begin_intent(&intent("update"))?,
            store.begin_intent(&intent("close"))?,
        )
    };
    // Committed at once: a restarted process sees them.
    let mut store = Store::open(&path)?;
    let open = store.open_intents()?;
    assert_eq!(open.iter().map(|i| i.id).collect::<Vec<_>>(), [a, b, c]);
    assert_eq!(open[0].payload, json!({"name": "Contoso migration"}));
    assert_eq!(
        (open[0].side, open[0].status),
        (IntentSide::Crm, IntentStatus::Open)
    );

    store.complete_intent(a, IntentStatus::Failed, &json!({"status": 412}), T1)?;
    let failed = store.intent(a)?.expect("stored");
    assert_eq!(failed.status, IntentStatus::Failed);
    assert_eq!(failed.result, Some(json!({"status": 412})));
    assert_eq!(failed.completed_at.as_deref(), Some(T1));
    let err = store
        .complete_intent(a, IntentStatus::Applied, &Value::Null, T2)
        .expect_err("already completed");
    assert!(
        matches!(err, StoreError::InvalidState { what: "intent", .. }),
        "{err:?}"
    );
    let err = store
        .complete_intent(b, IntentStatus::Open, &Value::Null, T2)
        .expect_err("open is not a completion");
    assert_eq!(err.kind(), "invalid_input");
    assert!(matches!(
        store.complete_intent(999, IntentStatus::Applied, &Value::Null, T2),
        Err(StoreError::NotFound { .. })
    ));

    let mut applied = LinkCommit::new(link(Some("R-1"), CrmEntity::Opportunity, Some("O-1")));
    applied.link.updated_at = T2.to_owned();
    applied.completed_intents = vec![(b, IntentStatus::Applied, json!({"id": "O-1"}))];
    store.commit(&[applied])?;
    let b_row = store.intent(b)?.expect("stored");
    assert_eq!(
        (b_row.status, b_row.completed_at.as_deref()),
        (IntentStatus::Applied, Some(T2))
    );
    assert_eq!(
        store
            .open_intents()?
            .iter()
            .map(|i| i.id)
            .collect::<Vec<_>>(),
        [c]
    );
    Ok(())
}

// ---------------------------------------------------------------- cursors

#[test]
fn cursors_are_set_and_read() -> TestResult {
    let mut store = Store::open(":memory:")?;
    assert_eq!(store.cursor("partner_center")?, None);
    store.set_cursor("partner_center", T0, T0)?;
    store.set_cursor(
        "dynamics_delta",
        "https://org.crm.dynamics.com/delta?token=1",
        T0,
    )?;
    store.set_cursor("partner_center", T1, T1)?;
    assert_eq!(store.cursor("partner_center")?.as_deref(), Some(T1));
    assert_eq!(
        store.cursor("dynamics_delta")?.as_deref(),
        Some("https://org.crm.dynamics.com/delta?token=1")
    );
    assert!(store.set_cursor("x", "y", "not a time").is_err());
    Ok(())
}

// ---------------------------------------------------------------- errors

#[test]
fn error_kinds_are_stable_snake_case() {
    let cases = [
        (StoreError::ReadOnly, "read_only"),
        (StoreError::Busy, "busy"),
        (StoreError::Full, "full"),
        (
            StoreError::NotFound {
                what: "link",
                key: "1".to_owned(),
            },
            "not_found",
        ),
        (
            StoreError::NotAStore {
                path: "x".to_owned(),
            },
            "not_a_store",
        ),
    ];
    for (err, kind) in cases {
        assert_eq!(err.kind(), kind);
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn a_locked_store_reports_busy() -> TestResult {
    let dir = TempDir::new("busy");
    let path = dir.file("state.db");
    let mut store = Store::open(&path)?;
    let holder = raw(&path);
    holder.execute_batch(
        "BEGIN IMMEDIATE; INSERT INTO cursors VALUES ('held', 'x', '2025-01-01T00:00:00Z');",
    )?;
    // The store waits its busy timeout (5 s) and then gives up.
    let err = store.set_cursor("pc", "v", T0).expect_err("locked");
    assert!(matches!(err, StoreError::Busy), "{err:?}");
    holder.execute_batch("ROLLBACK;")?;
    store.set_cursor("pc", "v", T0)?;
    Ok(())
}

#[test]
fn rows_serialize_for_bindings() -> TestResult {
    let mut store = Store::open(":memory:")?;
    let id = insert(&mut store, "R-1", "O-1")?;
    assert_eq!(store.link_by_referral("R-404")?, None);
    let stored = store.link(id)?.expect("stored");
    let text = serde_json::to_string(&stored)?;
    assert!(
        text.contains("\"status\":\"synced\"") && text.contains("\"crm_entity\":\"opportunity\"")
    );
    assert_eq!(serde_json::from_str::<Link>(&text)?, stored);

    let rows = store.audit(&AuditQuery::default())?;
    let value = serde_json::to_value(&rows[0])?;
    assert_eq!(
        value["id"],
        json!(rows[0].id),
        "the entry is flattened next to its id"
    );
    assert_eq!(value["action"], json!("link"));
    assert_eq!(
        serde_json::from_value::<cosell_core::store::AuditRow>(value)?,
        rows[0]
    );
    assert_eq!(LinkStatus::parse("orphaned"), Some(LinkStatus::Orphaned));
    assert_eq!(LinkStatus::parse("Orphaned"), None);
    assert_eq!(ReviewStatus::Dismissed.to_string(), "dismissed");
    Ok(())
}
