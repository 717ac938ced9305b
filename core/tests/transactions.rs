//! `Engine::transaction`: many commits in one store transaction (the bulk first sync), durable together or not
//! at all, with each commit inside still all or nothing on its own.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{NOW, TempDir, referral, set_at, sf_opportunity};
use cosell_core::error::{CommitError, Error};
use cosell_core::plan::Summary;
use cosell_core::store::{AuditQuery, Store, StoreError};
use cosell_core::{CommitResults, Engine, Mapping};
use serde_json::{Value, json};

/// The store file of a test directory.
struct TempStore(TempDir);

impl TempStore {
    fn new(name: &str) -> TempStore {
        TempStore(TempDir::new(name))
    }

    fn path(&self) -> String {
        self.0.file("state.db").display().to_string()
    }

    fn engine(&self) -> Engine {
        Engine::open(
            &self.path(),
            Mapping::builtin("salesforce").expect("built-in profile"),
        )
        .expect("store opens")
        .with_clock(Box::new(|| NOW))
    }
}

/// Pair `i`: an agreeing referral and Salesforce opportunity with their own ids.
fn pair(i: u32) -> (String, String) {
    let mut r = referral();
    let rid = format!("5b0e6c1d-0000-4000-8000-{i:012}");
    set_at(&mut r, "/id", json!(rid));
    let mut c = sf_opportunity(&r);
    set_at(&mut c, "/Id", json!(format!("006{i:015}")));
    (r.to_string(), c.to_string())
}

fn referral_id(i: u32) -> String {
    format!("5b0e6c1d-0000-4000-8000-{i:012}")
}

/// Plans and commits the first sync of pair `i`.
fn link(engine: &mut Engine, i: u32) -> Result<(), Error> {
    let (r, c) = pair(i);
    let plan = engine.plan_json(Some(&r), Some(&c))?;
    assert_eq!(plan.summary, Summary::Link, "{plan}");
    engine.commit(&plan, &CommitResults::default())?;
    Ok(())
}

fn linked(engine: &Engine, i: u32) -> bool {
    engine
        .store()
        .link_by_referral(&referral_id(i))
        .expect("store read")
        .is_some()
}

fn audit_rows(engine: &Engine) -> usize {
    engine
        .audit(&AuditQuery::default())
        .expect("audit read")
        .len()
}

#[test]
fn commits_inside_are_durable_together() -> Result<(), Error> {
    let store = TempStore::new("durable");
    let mut engine = store.engine();
    let n = engine.transaction(|engine| {
        for i in 0..3 {
            link(engine, i)?;
        }
        Ok(3)
    })?;
    assert_eq!(n, 3);
    drop(engine);
    let engine = store.engine();
    assert!((0..3).all(|i| linked(&engine, i)));
    assert_eq!(audit_rows(&engine), 3);
    Ok(())
}

#[test]
fn an_error_rolls_every_commit_back() {
    let store = TempStore::new("error");
    let mut engine = store.engine();
    let err = engine
        .transaction(|engine| {
            link(engine, 0)?;
            link(engine, 1)?;
            Err::<(), _>(Error::from(StoreError::InvalidInput {
                what: "test",
                detail: "the caller gives up".to_owned(),
            }))
        })
        .expect_err("the closure's error is returned");
    assert!(err.to_string().contains("the caller gives up"), "{err}");
    assert!(!linked(&engine, 0) && !linked(&engine, 1));
    assert_eq!(audit_rows(&engine), 0);
    // The store is usable afterwards, outside any transaction.
    link(&mut engine, 2).expect("link after rollback");
    drop(engine);
    assert!(linked(&store.engine(), 2));
}

#[test]
fn a_failed_commit_inside_rolls_back_alone() -> Result<(), Error> {
    let store = TempStore::new("savepoint");
    let mut engine = store.engine();
    engine.transaction(|engine| {
        let (r, c) = pair(0);
        let plan = engine.plan_json(Some(&r), Some(&c))?;
        engine.commit(&plan, &CommitResults::default())?;
        // Committing the same first-sync plan again (together with a good one) is stale: the batch fails
        // whole, and only that batch is undone.
        let (r1, c1) = pair(1);
        let good = engine.plan_json(Some(&r1), Some(&c1))?;
        let results = CommitResults::default();
        let err = engine
            .commit_many(&[(&good, &results), (&plan, &results)])
            .expect_err("a duplicate first sync is refused");
        assert!(
            matches!(err, Error::Commit(CommitError::StalePlan { .. })),
            "{err:?}"
        );
        assert!(!linked(engine, 1), "the failed batch left nothing");
        link(engine, 2)?;
        Ok(())
    })?;
    drop(engine);
    let engine = store.engine();
    assert!(linked(&engine, 0) && !linked(&engine, 1) && linked(&engine, 2));
    assert_eq!(audit_rows(&engine), 2);
    Ok(())
}

#[test]
fn a_panic_rolls_back_and_the_engine_stays_usable() {
    let store = TempStore::new("panic");
    let mut engine = store.engine();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        engine.transaction(|engine| {
            link(engine, 0)?;
            panic!("host bug in the middle of a batch");
            #[allow(unreachable_code)]
            Ok(())
        })
    }));
    assert!(outcome.is_err(), "the panic continues to the caller");
    assert!(!linked(&engine, 0));
    link(&mut engine, 1).expect("link after the panic");
    drop(engine);
    let engine = store.engine();
    assert!(!linked(&engine, 0) && linked(&engine, 1));
}

#[test]
fn plans_inside_read_the_transactions_own_writes_and_nesting_joins() -> Result<(), Error> {
    let store = TempStore::new("reads");
    let mut engine = store.engine();
    engine.transaction(|engine| {
        link(engine, 0)?;
        let (r, c) = pair(0);
        let again = engine.plan_many([(Some(r.as_str()), Some(c.as_str()))])?;
        let again = again.into_iter().next().expect("one plan")?;
        assert_eq!(again.summary, Summary::Nothing, "{again}");
        // A nested transaction runs inside this one: its error is handled here, its commit kept.
        engine.transaction(|engine| link(engine, 1))?;
        Ok(())
    })?;
    assert!(linked(&engine, 0) && linked(&engine, 1));
    Ok(())
}

#[test]
fn a_read_only_store_refuses_a_transaction() -> Result<(), Box<dyn std::error::Error>> {
    let store = TempStore::new("readonly");
    drop(store.engine());
    let mut ro = Store::open_read_only(store.path())?;
    let err = ro
        .transaction(|_| Ok::<(), StoreError>(()))
        .expect_err("read-only");
    assert!(matches!(err, StoreError::ReadOnly), "{err:?}");
    Ok(())
}

#[test]
fn the_pairs_are_distinct() {
    let (r0, c0) = pair(0);
    let (r1, c1) = pair(1);
    let id = |t: &str, p: &str| serde_json::from_str::<Value>(t).expect("json")[p].clone();
    assert_ne!(id(&r0, "id"), id(&r1, "id"));
    assert_ne!(id(&c0, "Id"), id(&c1, "Id"));
}

#[test]
fn an_explicit_transaction_commits_or_rolls_back() -> Result<(), Error> {
    let store = TempStore::new("explicit");
    let mut engine = store.engine();
    engine.begin_transaction()?;
    let again = engine.begin_transaction().expect_err("one at a time");
    assert!(again.to_string().contains("already open"), "{again}");
    link(&mut engine, 0)?;
    engine.rollback_transaction()?;
    assert!(!linked(&engine, 0));
    engine.begin_transaction()?;
    link(&mut engine, 1)?;
    engine.commit_transaction()?;
    let none = engine.commit_transaction().expect_err("nothing open");
    assert!(none.to_string().contains("no transaction"), "{none}");
    drop(engine);
    let engine = store.engine();
    assert!(!linked(&engine, 0) && linked(&engine, 1));
    Ok(())
}
