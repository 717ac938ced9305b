//! Finding a pair's link goes through an in-memory index of link keys; these tests check that it never answers
//! differently from the table: links written by another connection, rolled-back links whose row ids are reused,
//! and links whose keys change.

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
