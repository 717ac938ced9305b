//! The audit trail as a record of decisions: dry runs, conflicts, and commits that came too late.

// `e`, `r`, `c`, `p`: engine, referral, CRM record, plan — the same in every test.
#![allow(clippy::many_single_char_names)]

mod common;

use common::{
    RID, audit_of, bump_crm, bump_referral, engine, link, mapping_with, plan, referral, set_at,
    sf_opportunity,
};
use cosell_core::error::CommitError;
use cosell_core::model::CrmSystem;
use cosell_core::plan::Summary;
use cosell_core::{CommitResults, Engine, Error, Mapping};
use serde_json::json;

const SF: CrmSystem = CrmSystem::Salesforce;

#[test]
fn a_dry_run_is_audited_as_planned_and_changes_nothing_else() {
    let mut e = engine("salesforce");
    let r = referral();
    let c = sf_opportunity(&r);
    link(&mut e, &r, &c);
    let before = e
        .store()
        .link_by_referral(RID)
        .expect("read")
        .expect("linked");

    let mut r2 = r.clone();
    set_at(&mut r2, "/details/dealValue", json!(250_000));
    bump_referral(&mut r2);
    let p = plan(&e, Some(&r2), Some(&c));
    assert_eq!(p.summary, Summary::UpdateCrm, "{p}");
    let rows = e
        .record_dry_run(&p, Some("preview"))
        .expect("dry run recorded");
    assert_eq!(rows, 1);

    let audit = audit_of(&e, RID);
    let last = audit.last().expect("a row");
    assert!(last.entry.dry_run);
    assert_eq!(last.entry.outcome, "planned");
    assert_eq!(last.entry.action, "update_crm");
    assert_eq!(last.entry.cause.as_deref(), Some("preview"));
    assert_eq!(last.entry.changes[0].field, "deal_value");
    assert_eq!(last.entry.changes[0].after, json!(250_000));
    let after = e
        .store()
        .link_by_referral(RID)
        .expect("read")
        .expect("linked");
    assert_eq!(before, after, "a dry run does not touch the link");
    // The dry run does not stand in the way of the real sync.
    assert_eq!(plan(&e, Some(&r2), Some(&c)).summary, Summary::UpdateCrm);
}

#[test]
fn a_conflict_is_one_audit_row_from_base_to_winner_naming_both_values() {
    let mut e = engine("salesforce");
    let r = referral();
    let c = sf_opportunity(&r);
    link(&mut e, &r, &c);
    let mut r2 = r.clone();
    set_at(&mut r2, "/details/notes", json!("PC notes"));
    bump_referral(&mut r2);
    let mut c2 = c.clone();
    c2["Description"] = json!("CRM notes");
    bump_crm(SF, &mut c2);
    let (p, _, _) = common::sync(&mut e, Some(&r2), Some(&c2));
    assert_eq!(p.summary, Summary::Conflict, "{p}");

    let conflict = audit_of(&e, RID)
        .into_iter()
        .find(|row| row.entry.action == "conflict")
        .expect("audited");
    assert_eq!(
        conflict.entry.changes.len(),
        1,
        "one row per conflict in audit_log"
    );
    let change = &conflict.entry.changes[0];
    assert_eq!(change.field, "notes");
    assert_eq!(change.before, r["details"]["notes"]);
    assert_eq!(
        change.after,
        json!("PC notes"),
        "Partner Center owns notes in the profile"
    );
    let reason = conflict.entry.reason.as_deref().expect("reason");
    assert!(
        reason.contains("\"PC notes\"") && reason.contains("\"CRM notes\""),
        "{reason}"
    );
}

#[test]
fn a_queued_conflict_keeps_the_base_in_its_audit_row() {
    let mut e = Engine::open(
        ":memory:",
        mapping_with(
            "salesforce",
            r#"{"fields": {"notes": {"conflict": "review"}}}"#,
        ),
    )
    .expect("engine");
    let r = referral();
    let c = sf_opportunity(&r);
    link(&mut e, &r, &c);
    let mut r2 = r.clone();
    set_at(&mut r2, "/details/notes", json!("PC notes"));
    bump_referral(&mut r2);
    let mut c2 = c.clone();
    c2["Description"] = json!("CRM notes");
    bump_crm(SF, &mut c2);
    common::sync(&mut e, Some(&r2), Some(&c2));
    let conflict = audit_of(&e, RID)
        .into_iter()
        .find(|row| row.entry.action == "conflict")
        .expect("audited");
    assert_eq!(conflict.entry.outcome, "queued");
    assert_eq!(
        conflict.entry.changes[0].before, conflict.entry.changes[0].after,
        "nothing written yet"
    );
}

#[test]
fn a_first_sync_plan_committed_twice_is_stale() {
    let mut e = engine("salesforce");
    let r = referral();
    let c = sf_opportunity(&r);
    let p = plan(&e, Some(&r), Some(&c));
    assert_eq!(p.summary, Summary::Link);
    e.commit(&p, &CommitResults::default())
        .expect("first commit");
    let err = e
        .commit(&p, &CommitResults::default())
        .expect_err("second commit of the same plan");
    assert!(
        matches!(err, Error::Commit(CommitError::StalePlan { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("plan again"), "{err}");
}

#[test]
fn a_plan_committed_to_another_store_whose_link_has_the_same_id_is_stale() {
    // Two stores, each with link 1 at revision 0, holding different pairs.
    let (mut a, mut b) = (engine("salesforce"), engine("salesforce"));
    let r = referral();
    let c = sf_opportunity(&r);
    a.commit(&plan(&a, Some(&r), Some(&c)), &CommitResults::default())
        .expect("link in a");
    let mut other = r.clone();
    other["id"] = json!("0f0e0d0c-0000-4000-8000-000000000042");
    let mut other_c = sf_opportunity(&other);
    other_c["Id"] = json!("006OTHER0000042AAA");
    b.commit(
        &plan(&b, Some(&other), Some(&other_c)),
        &CommitResults::default(),
    )
    .expect("link in b");
    // A plan of a's pair (read back from JSON, as a host would) committed to b.
    let mut r2 = r.clone();
    r2["name"] = json!("Contoso - renamed in Partner Center");
    bump_referral(&mut r2);
    let p = plan(&a, Some(&r2), Some(&c));
    assert_eq!(p.link_id, Some(1));
    let p: cosell_core::Plan =
        serde_json::from_str(&serde_json::to_string(&p).expect("to JSON")).expect("from JSON");
    let before = b.store().link(1).expect("read").expect("link 1 of b");
    let results: CommitResults = serde_json::from_value(json!({
        "crm": {"outcome": "applied", "version": {"modified": "2026-11-02T00:00:00.000+0000"}}
    }))
    .expect("results");
    let err = b.commit(&p, &results).expect_err("not b's pair");
    assert!(
        matches!(err, Error::Commit(CommitError::StalePlan { .. })),
        "{err}"
    );
    assert_eq!(
        b.store().link(1).expect("read"),
        Some(before),
        "b unchanged"
    );
}

#[test]
fn toml_removes_an_inherited_field_with_false() {
    let m = Mapping::from_toml_str("extends = \"salesforce\"\n[fields]\nreferral_link = false\n")
        .expect("valid TOML");
    assert!(
        m.field(cosell_core::model::CrmEntity::Opportunity, "referral_link")
            .is_none()
    );
    let json =
        Mapping::from_json_str(r#"{"extends": "salesforce", "fields": {"referral_link": null}}"#)
            .expect("valid");
    assert!(
        json.field(cosell_core::model::CrmEntity::Opportunity, "referral_link")
            .is_none()
    );
    let err = Mapping::from_toml_str("extends = \"salesforce\"\n[fields]\nreferral_link = true\n")
        .expect_err("true");
    assert!(
        err.to_string().contains("referral_link") && err.to_string().contains("false"),
        "{err}"
    );
}

#[test]
fn every_error_has_a_stable_kind_and_detail_kind() {
    let e =
        Engine::open(":memory:", Mapping::builtin("salesforce").expect("profile")).expect("engine");
    let record = e.plan_json(Some("{"), None).expect_err("malformed JSON");
    assert_eq!(
        (record.kind().as_str(), record.detail_kind()),
        ("record", "invalid_json")
    );
    let field = e
        .plan_json(Some(r#"{"id": "r", "status": "Bogus"}"#), None)
        .expect_err("bad status");
    assert_eq!(field.detail_kind(), "invalid_field");
    let mapping: Error = Mapping::from_json_str(r#"{"extends": "nope"}"#)
        .expect_err("profile")
        .into();
    assert_eq!(
        (mapping.kind().as_str(), mapping.detail_kind()),
        ("mapping", "unknown_profile")
    );
    let store: Error = cosell_core::Store::open("/nonexistent-dir/x.db")
        .expect_err("no such dir")
        .into();
    assert_eq!(
        (store.kind().as_str(), store.detail_kind()),
        ("store", "open")
    );
    let stale = Error::from(CommitError::StalePlan {
        plan_id: "p".into(),
        referral: "r".into(),
    });
    assert_eq!(stale.detail_kind(), "stale_plan");
}

#[test]
fn a_plan_is_committed_only_by_an_engine_of_its_crm() {
    let sf = engine("salesforce");
    let r = referral();
    let p = plan(&sf, Some(&r), Some(&sf_opportunity(&r)));
    let mut dy = engine("dynamics365");
    let err = dy
        .commit(&p, &CommitResults::default())
        .expect_err("a Salesforce plan on a Dynamics 365 engine");
    assert_eq!(err.detail_kind(), "mismatch", "{err}");
    assert!(
        err.to_string().contains("is for salesforce") && err.to_string().contains("dynamics365"),
        "{err}"
    );
    assert!(dy.store().link_by_referral(RID).expect("read").is_none());
}

#[test]
fn results_json_refuses_unknown_keys() {
    let ok: CommitResults = serde_json::from_value(json!({
        "crm": {"outcome": "applied", "version": {"stamp": "2026-11-02T09:00:00.000+0000"}},
        "cause": "manual"
    }))
    .expect("the documented form");
    assert!(ok.crm.is_some() && ok.partner_center.is_none());
    let typo = serde_json::from_value::<CommitResults>(json!({"CRM": {"outcome": "applied"}}))
        .expect_err("a misspelt side");
    assert!(typo.to_string().contains("unknown field"), "{typo}");
}

#[test]
fn a_store_of_one_crm_is_refused_to_a_mapping_of_the_other() {
    let dir = common::TempDir::new("crm-claim");
    let path = dir.file("state.db").display().to_string();
    let sf = Engine::open(&path, Mapping::builtin("salesforce").expect("profile")).expect("claims");
    assert_eq!(
        sf.store().crm().expect("read").as_deref(),
        Some("salesforce")
    );
    drop(sf);
    let err = Engine::open(&path, Mapping::builtin("dynamics365").expect("profile"))
        .expect_err("a Salesforce store");
    assert_eq!(err.detail_kind(), "invalid_state", "{err}");
    let message = err.to_string();
    assert!(
        message.contains("salesforce") && message.contains("dynamics365"),
        "{message}"
    );
    // The same CRM again is fine, and so is a read-only look with it.
    Engine::open(&path, Mapping::builtin("salesforce").expect("profile")).expect("reopens");
    let ro = cosell_core::Store::open_read_only(&path).expect("read-only");
    assert!(Engine::new(ro, Mapping::builtin("dynamics365").expect("profile")).is_err());
    // An in-memory store is claimed like any other.
    Engine::open(
        ":memory:",
        Mapping::builtin("dynamics365").expect("profile"),
    )
    .expect("memory");
}
