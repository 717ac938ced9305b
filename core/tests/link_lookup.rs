//! Finding a pair's link goes through an in-memory index of link keys, and the table is searched by 64-bit hashes of
//! the ids (schema version 3); these tests check that neither ever answers differently from the ids themselves:
//! links written by another connection, rolled-back links whose row ids are reused, links whose keys change, two
//! ids that share a hash, and the uniqueness of a referral and of a CRM record, which the store checks itself.

mod common;

use common::TempDir;
use cosell_core::model::{CrmEntity, Version};
use cosell_core::store::{Link, LinkCommit, LinkStatus, Store, StoreError};
use serde_json::{Map, json};

const T0: &str = "2026-01-01T00:00:00Z";

/// Opens (or creates) the store file of `dir`.
fn open(dir: &TempDir) -> Store {
    Store::open(dir.file("state.db")).expect("store opens")
}

fn link(referral: Option<&str>, crm_id: Option<&str>) -> Link {
    let mut base = Map::new();
    base.insert("name".into(), json!("Contoso"));
    Link {
        id: None,
        referral_id: referral.map(str::to_owned),
        crm_entity: CrmEntity::Opportunity,
        crm_id: crm_id.map(str::to_owned),
        base,
        partner_center_version: Version::default(),
        crm_version: Version::default(),
        status: LinkStatus::Synced,
        last_error_kind: None,
        last_error: None,
        last_plan: None,
        created_at: T0.to_owned(),
        updated_at: T0.to_owned(),
        revision: 0,
    }
}

/// (link id by referral, link id by CRM record), through the index.
fn find(
    store: &Store,
    referral: &str,
    crm_id: &str,
) -> Result<(Option<i64>, Option<i64>), StoreError> {
    store.read_snapshot(|s| {
        let mut reader = s.link_reader()?;
        Ok((
            reader.by_referral(referral)?.and_then(|l| l.id),
            reader
                .by_crm(CrmEntity::Opportunity, crm_id)?
                .and_then(|l| l.id),
        ))
    })?
}

#[test]
fn links_written_by_another_connection_are_found() -> Result<(), StoreError> {
    let dir = TempDir::new("other");
    let mut a = open(&dir);
    a.commit(&[LinkCommit::new(link(Some("R-1"), Some("O-1")))])?;
    assert!(matches!(find(&a, "R-1", "O-1")?, (Some(_), Some(_))));
    assert_eq!(
        find(&a, "R-2", "O-2")?,
        (None, None),
        "the index knows every link"
    );
    let mut b = open(&dir);
    let id = b.commit(&[LinkCommit::new(link(Some("R-2"), Some("O-2")))])?[0];
    assert_eq!(find(&a, "R-2", "O-2")?, (Some(id), Some(id)));
    assert_eq!(find(&a, "R-3", "O-3")?, (None, None));
    Ok(())
}

#[test]
fn a_rolled_back_link_and_its_reused_row_id_are_told_apart() -> Result<(), StoreError> {
    let dir = TempDir::new("rollback");
    let mut s = open(&dir);
    assert_eq!(find(&s, "R-1", "O-1")?, (None, None)); // loads the index
    s.begin_transaction()?;
    let id = s.commit(&[LinkCommit::new(link(Some("R-1"), Some("O-1")))])?[0];
    assert_eq!(find(&s, "R-1", "O-1")?, (Some(id), Some(id)));
    s.rollback_transaction()?;
    assert_eq!(find(&s, "R-1", "O-1")?, (None, None), "the row is gone");
    // The next link takes the same row id with other keys.
    let again = s.commit(&[LinkCommit::new(link(Some("R-9"), Some("O-9")))])?[0];
    assert_eq!(again, id);
    assert_eq!(find(&s, "R-1", "O-1")?, (None, None));
    assert_eq!(find(&s, "R-9", "O-9")?, (Some(id), Some(id)));
    Ok(())
}

#[test]
fn a_link_whose_referral_is_stamped_later_is_found_by_its_new_key_only() -> Result<(), StoreError> {
    let dir = TempDir::new("stamp");
    let mut s = open(&dir);
    let id = s.commit(&[LinkCommit::new(link(None, Some("O-1")))])?[0];
    assert_eq!(find(&s, "R-1", "O-1")?, (None, Some(id)));
    let mut stamped = link(Some("R-1"), Some("O-1"));
    stamped.id = Some(id);
    s.commit(&[LinkCommit::new(stamped)])?;
    assert_eq!(find(&s, "R-1", "O-1")?, (Some(id), Some(id)));
    // Repointed to another CRM record: the old one has no link any more.
    let mut moved = link(Some("R-1"), Some("O-2"));
    moved.id = Some(id);
    moved.revision = 1;
    s.commit(&[LinkCommit::new(moved)])?;
    assert_eq!(find(&s, "R-1", "O-1")?, (Some(id), None));
    assert_eq!(find(&s, "R-1", "O-2")?, (Some(id), Some(id)));
    Ok(())
}

#[test]
fn two_readers_at_once_both_answer() -> Result<(), StoreError> {
    let dir = TempDir::new("readers");
    let mut s = open(&dir);
    let id = s.commit(&[LinkCommit::new(link(Some("R-1"), Some("O-1")))])?[0];
    s.read_snapshot(|s| -> Result<(), StoreError> {
        let mut first = s.link_reader()?;
        let mut second = s.link_reader()?; // the index is held by `first`: this one searches SQL
        assert_eq!(first.by_referral("R-1")?.and_then(|l| l.id), Some(id));
        assert_eq!(second.by_referral("R-1")?.and_then(|l| l.id), Some(id));
        assert!(second.by_referral("R-2")?.is_none());
        Ok(())
    })??;
    Ok(())
}

/// The documented key of a referral id: 64-bit FNV-1a of its UTF-8 bytes, as a signed `SQLite` integer. Stored
/// keys must never change between builds; this pins them.
fn referral_key(id: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

fn raw(dir: &TempDir) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.file("state.db")).expect("raw connection opens")
}

#[test]
fn stored_keys_are_the_documented_hashes() -> Result<(), StoreError> {
    let dir = TempDir::new("keys");
    let mut s = open(&dir);
    s.commit(&[LinkCommit::new(link(Some("R-1"), Some("O-1")))])?;
    let key: i64 = raw(&dir)
        .query_row(
            "SELECT referral_key FROM links WHERE referral_id = 'R-1'",
            [],
            |r| r.get(0),
        )
        .expect("key");
    assert_eq!(key, referral_key("R-1"));
    Ok(())
}

#[test]
fn duplicates_are_refused_whether_or_not_the_index_is_loaded() -> Result<(), StoreError> {
    for loaded in [false, true] {
        let dir = TempDir::new("unique");
        let mut s = open(&dir);
        let first = s.commit(&[LinkCommit::new(link(Some("R-1"), Some("O-1")))])?[0];
        if loaded {
            assert_eq!(find(&s, "R-0", "O-0")?, (None, None));
        }
        // Within one batch, against a committed link, and against a link another connection wrote after the
        // index was loaded.
        let batch = [
            LinkCommit::new(link(Some("R-2"), Some("O-2"))),
            LinkCommit::new(link(Some("R-2"), Some("O-3"))),
        ];
        let err = s.commit(&batch).expect_err("repeated referral in a batch");
        assert!(err.to_string().contains("referral_id \"R-2\""), "{err}");
        let batch = [
            LinkCommit::new(link(Some("R-4"), Some("O-4"))),
            LinkCommit::new(link(Some("R-5"), Some("O-4"))),
        ];
        let err = s
            .commit(&batch)
            .expect_err("repeated CRM record in a batch");
        assert!(err.to_string().contains("crm_id \"O-4\""), "{err}");
        let err = s
            .commit(&[LinkCommit::new(link(Some("R-1"), Some("O-9")))])
            .expect_err("committed referral");
        assert!(err.to_string().contains(&format!("link {first}")), "{err}");
        open(&dir).commit(&[LinkCommit::new(link(Some("R-7"), Some("O-7")))])?;
        let err = s
            .commit(&[LinkCommit::new(link(Some("R-8"), Some("O-7")))])
            .expect_err("CRM record another connection linked");
        assert!(err.to_string().contains("crm_id \"O-7\""), "{err}");
        // A link may keep its own keys, and move to free ones; not to another link's.
        let mut moved = link(Some("R-1"), Some("O-1"));
        moved.id = Some(first);
        s.commit(&[LinkCommit::new(moved.clone())])?;
        moved.revision = 1;
        moved.crm_id = Some("O-7".into());
        let err = s
            .commit(&[LinkCommit::new(moved)])
            .expect_err("repointed onto a linked CRM record");
        assert!(err.to_string().contains("crm_id \"O-7\""), "{err}");
        let count: i64 = raw(&dir)
            .query_row("SELECT count(*) FROM links", [], |r| r.get(0))
            .expect("count");
        assert_eq!(count, 2, "index loaded: {loaded}");
    }
    Ok(())
}

#[test]
fn two_referrals_that_share_a_key_are_two_links() -> Result<(), StoreError> {
    // A real 64-bit collision is impractical to find; a row is given another id's key instead, which is what a
    // collision looks like to every query.
    let dir = TempDir::new("collision");
    let mut s = open(&dir);
    let a = s.commit(&[LinkCommit::new(link(Some("R-A"), Some("O-A")))])?[0];
    raw(&dir)
        .execute(
            "UPDATE links SET referral_key = ?1 WHERE id = ?2",
            rusqlite::params![referral_key("R-B"), a],
        )
        .expect("key rewritten");
    // Through the index (which now maps R-B's key to link A) and through SQL alone.
    assert_eq!(find(&s, "R-B", "O-B")?, (None, None));
    assert!(open(&dir).link_by_referral("R-B")?.is_none());
    let b = s.commit(&[LinkCommit::new(link(Some("R-B"), Some("O-B")))])?[0];
    assert_ne!(a, b);
    assert_eq!(find(&s, "R-B", "O-B")?, (Some(b), Some(b)));
    assert_eq!(
        open(&dir).link_by_referral("R-B")?.and_then(|l| l.id),
        Some(b)
    );
    // Still one link per referral id.
    let err = open(&dir)
        .commit(&[LinkCommit::new(link(Some("R-B"), Some("O-C")))])
        .expect_err("duplicate of the colliding referral");
    assert!(err.to_string().contains(&format!("link {b}")), "{err}");
    Ok(())
}
