//! Properties and robustness: applying a plan and re-planning converges (both CRMs, random edits on either or both
//! sides); planning never panics on arbitrary input; diff3 is symmetric; malformed, mistyped, huge and deeply
//! nested records are errors, never panics.

// `e`, `r`, `c`, `p`, `a`: engine, referral, CRM record, plan, applied — the same in every test.
#![allow(clippy::many_single_char_names)]

mod common;

use common::{
    apply, bump_crm, bump_referral, crm_opportunity, engine, link, plan, referral, set_at,
};
use cosell_core::diff::{Diff3, diff3};
use cosell_core::error::RecordError;
use cosell_core::mapping::SyncDirection;
use cosell_core::model::{CrmEntity, CrmRecord, CrmSystem, MAX_RECORD_BYTES, Referral};
use cosell_core::value::{Value as Canon, ValueType};
use cosell_core::{Error, Mapping};
use proptest::prelude::*;
use serde_json::{Value, json};

// ------------------------------------------------------------------ generators

/// Open statuses an outgoing referral can hold while both sides edit freely.
const OPEN: &[(&str, &str)] = &[
    ("New", "Pending"),
    ("New", "Received"),
    ("Active", "Accepted"),
];
const CURRENCIES: &[&str] = &["USD", "EUR", "GBP", "JPY"];
const SOLUTIONS: &[&str] = &["SOL-1", "SOL-2", "SOL-3", "SOL-4", "SOL-5"];

#[derive(Debug, Clone)]
struct Deal {
    name: String,
    value: f64,
    notes: String,
    currency: &'static str,
    close_day: u16,
    status: (&'static str, &'static str),
    solutions: Vec<&'static str>,
}

fn deal() -> impl Strategy<Value = Deal> {
    (
        "[A-Za-z][A-Za-z0-9 .,&-]{0,40}",
        (0u32..100_000_000).prop_map(|cents| f64::from(cents) / 100.0),
        "\\PC{0,80}",
        prop::sample::select(CURRENCIES),
        0u16..700,
        prop::sample::select(OPEN),
        prop::sample::subsequence(SOLUTIONS, 1..=3),
    )
        .prop_map(
            |(name, value, notes, currency, close_day, status, solutions)| Deal {
                name,
                value,
                notes,
                currency,
                close_day,
                status,
                solutions,
            },
        )
}

/// An edit of one canonical field (the value it is set to).
#[derive(Debug, Clone)]
enum Edit {
    Name(String),
    DealValue(f64),
    Notes(String),
    Currency(&'static str),
    CloseDay(u16),
    Accept,
    Solutions(Vec<&'static str>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        "[A-Za-z][A-Za-z0-9 ]{0,30}".prop_map(Edit::Name),
        (0u32..100_000_000).prop_map(|c| Edit::DealValue(f64::from(c) / 100.0)),
        "\\PC{0,60}".prop_map(Edit::Notes),
        prop::sample::select(CURRENCIES).prop_map(Edit::Currency),
        (0u16..700).prop_map(Edit::CloseDay),
        Just(Edit::Accept),
        prop::sample::subsequence(SOLUTIONS, 0..=4).prop_map(Edit::Solutions),
    ]
}

fn date(day: u16) -> String {
    let d = time::macros::date!(2027 - 01 - 01) + time::Duration::days(i64::from(day));
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn referral_of(d: &Deal) -> Value {
    let mut r = referral();
    r["name"] = json!(d.name);
    r["details"]["dealValue"] = json!(d.value);
    r["details"]["notes"] = json!(d.notes);
    r["details"]["currency"] = json!(d.currency);
    r["details"]["closingDateTime"] = json!(format!("{}T00:00:00Z", date(d.close_day)));
    r["status"] = json!(d.status.0);
    r["substatus"] = json!(d.status.1);
    r["details"]["requirements"]["solutions"] = Value::Array(
        d.solutions
            .iter()
            .map(|s| json!({"id": s, "name": null, "type": "Name"}))
            .collect(),
    );
    r
}

fn edit_referral(r: &mut Value, e: &Edit) {
    match e {
        Edit::Name(s) => r["name"] = json!(s),
        Edit::DealValue(v) => r["details"]["dealValue"] = json!(v),
        Edit::Notes(s) => r["details"]["notes"] = json!(s),
        Edit::Currency(c) => r["details"]["currency"] = json!(c),
        Edit::CloseDay(d) => {
            r["details"]["closingDateTime"] = json!(format!("{}T00:00:00Z", date(*d)));
        }
        Edit::Accept => {
            r["status"] = json!("Active");
            r["substatus"] = json!("Accepted");
        }
        Edit::Solutions(ids) => {
            set_at(
                r,
                "/details/requirements/solutions",
                Value::Array(ids.iter().map(|s| json!({"id": s})).collect()),
            );
        }
    }
}

fn edit_crm(system: CrmSystem, c: &mut Value, e: &Edit) {
    let sf = system == CrmSystem::Salesforce;
    match e {
        Edit::Name(s) => c[if sf { "Name" } else { "name" }] = json!(s),
        Edit::DealValue(v) => c[if sf { "Amount" } else { "estimatedvalue" }] = json!(v),
        Edit::Notes(s) => c[if sf { "Description" } else { "description" }] = json!(s),
        Edit::Currency(cur) => {
            if sf {
                c["CurrencyIsoCode"] = json!(cur);
            } else {
                c["transactioncurrencyid"]["isocurrencycode"] = json!(cur);
            }
        }
        Edit::CloseDay(d) => {
            let key = if sf {
                "CloseDate"
            } else {
                "estimatedclosedate"
            };
            c[key] = json!(date(*d));
        }
        Edit::Accept => {
            if sf {
                c["StageName"] = json!("Qualification");
            }
            // Dynamics: New and Active are the same open state; nothing to edit.
        }
        Edit::Solutions(ids) => {
            // Unsorted on purpose: the CRM keeps the order people typed.
            let mut v: Vec<&str> = ids.clone();
            v.reverse();
            c[if sf { "Products__c" } else { "cosell_products" }] = json!(v.join(";"));
        }
    }
}

fn system() -> impl Strategy<Value = CrmSystem> {
    prop_oneof![Just(CrmSystem::Salesforce), Just(CrmSystem::Dynamics365)]
}

/// Every `both` field reads the same on both sides.
fn assert_agree(system: CrmSystem, r: &Value, c: &Value) -> Result<(), TestCaseError> {
    let mapping = Mapping::builtin(system.as_str()).expect("profile");
    let referral = Referral::parse(&r.to_string()).expect("referral parses");
    let crm = CrmRecord::parse(system, &c.to_string()).expect("crm parses");
    for rule in mapping.fields(CrmEntity::Opportunity) {
        if rule.direction() != SyncDirection::Both {
            continue;
        }
        let pc = rule.read_partner_center(&referral).expect("pc value");
        let cv = rule.read_crm(&crm).expect("crm value");
        prop_assert!(
            rule.same(&pc, &cv),
            "{} differs: PC {:?} vs CRM {:?}",
            rule.name(),
            pc,
            cv
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Link an agreeing pair, edit either or both sides, plan, apply, commit: re-planning is empty and both sides
    /// agree on every two-way field.
    #[test]
    fn applying_a_plan_converges(
        system in system(),
        d in deal(),
        pc_edits in prop::collection::vec(edit(), 0..4),
        crm_edits in prop::collection::vec(edit(), 0..4),
    ) {
        let mut e = engine(system.as_str());
        let r0 = referral_of(&d);
        let c0 = crm_opportunity(system, &r0);
        link(&mut e, &r0, &c0);
        let mut r1 = r0.clone();
        for ed in &pc_edits {
            edit_referral(&mut r1, ed);
        }
        if !pc_edits.is_empty() {
            bump_referral(&mut r1);
        }
        let mut c1 = c0.clone();
        for ed in &crm_edits {
            edit_crm(system, &mut c1, ed);
        }
        if !crm_edits.is_empty() {
            bump_crm(system, &mut c1);
        }
        let p = plan(&e, Some(&r1), Some(&c1));
        prop_assert!(p.refusals.is_empty(), "{}", p);
        for op in p.partner_center_patch().unwrap_or_default() {
            prop_assert!(op.op == "replace" || op.op == "add", "{:?}", op);
        }
        let a = apply(system, &p, Some(&r1), Some(&c1));
        e.commit(&p, &a.results).expect("commit");
        let r2 = a.referral.expect("referral");
        let c2 = a.crm.expect("crm");
        let again = plan(&e, Some(&r2), Some(&c2));
        prop_assert!(again.is_empty(), "after {}\nre-plan: {}", p, again);
        assert_agree(system, &r2, &c2)?;
    }

    /// diff3 is symmetric in its two sides.
    #[test]
    fn diff3_is_symmetric(
        base in prop::option::of(0u8..4),
        a in 0u8..4,
        b in 0u8..4,
    ) {
        let mapping = Mapping::builtin("salesforce").expect("profile");
        for name in ["notes", "deal_value", "status"] {
            let rule = mapping.field(CrmEntity::Opportunity, name).expect("rule");
            let val = |i: u8| match name {
                "notes" => Canon::Text(["", "a", "b", "c"][usize::from(i)].to_owned()),
                "deal_value" => Canon::Decimal(f64::from(i) * 1000.0),
                _ => Canon::Enum(["New/Pending", "New/Received", "Active/Accepted", "Closed/Won"][usize::from(i)].to_owned()),
            };
            let basev = base.map(val);
            let (x, y) = (val(a), val(b));
            let ab = diff3(rule, basev.as_ref(), &x, &y);
            let ba = diff3(rule, basev.as_ref(), &y, &x);
            let mirrored = match ab {
                Diff3::TakePartnerCenter => Diff3::TakeCrm,
                Diff3::TakeCrm => Diff3::TakePartnerCenter,
                other => other,
            };
            prop_assert_eq!(ba, mirrored, "{}: base {:?} a {:?} b {:?}", name, basev, x, y);
            // Equal sides never conflict; a side equal to the base never wins.
            if rule.same(&x, &y) {
                prop_assert!(matches!(ab, Diff3::Unchanged | Diff3::Converged));
            }
            if let Some(bv) = &basev {
                if rule.same(bv, &x) {
                    prop_assert!(matches!(ab, Diff3::Unchanged | Diff3::TakeCrm));
                }
            }
        }
    }
}

// ------------------------------------------------------------------ never panics

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,20}".prop_map(Value::from),
        prop::sample::select(vec![
            "New",
            "Active",
            "Closed",
            "Pending",
            "Accepted",
            "Won",
            "Incoming",
            "Outgoing",
            "2027-03-15",
            "2027-03-15T00:00:00Z",
            "Closed Won",
            "Prospecting",
            "SOL-1;SOL-2",
            "US",
            "r-1",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z@._]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const REFERRAL_POINTERS: &[&str] = &[
    "/id",
    "/name",
    "/status",
    "/substatus",
    "/direction",
    "/eTag",
    "/updatedDateTime",
    "/details",
    "/details/dealValue",
    "/details/currency",
    "/details/notes",
    "/details/closingDateTime",
    "/details/requirements/solutions",
    "/details/requirements/solutions/0",
    "/customerProfile",
    "/customerProfile/address/country",
    "/customerProfile/team",
    "/inviteContext/assistanceRequestCode",
];
const CRM_KEYS: &[&str] = &[
    "Id",
    "Name",
    "Amount",
    "CurrencyIsoCode",
    "CloseDate",
    "StageName",
    "Description",
    "Products__c",
    "Sync_with_Partner_Center__c",
    "Referral_Identifier__c",
    "Account",
    "LastModifiedDate",
    "attributes",
    "opportunityid",
    "name",
    "estimatedvalue",
    "transactioncurrencyid",
    "estimatedclosedate",
    "statecode",
    "statuscode",
    "description",
    "cosell_products",
    "cosell_syncwithpartnercenter",
    "cosell_referralidentifier",
    "@odata.etag",
    "modifiedon",
    "customerid_account",
];

fn never_panics(system: CrmSystem, r: Option<&str>, c: Option<&str>, linked: bool) {
    let mut e = engine(system.as_str());
    if linked {
        let r0 = referral();
        link(&mut e, &r0, &crm_opportunity(system, &r0));
    }
    // Ok or Err, never a panic; an error has a message.
    if let Err(err) = e.plan_json(r, c) {
        assert!(!err.to_string().is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn planning_arbitrary_json_never_panics(system in system(), r in json_value(), c in json_value(), linked: bool) {
        let (r, c) = (r.to_string(), c.to_string());
        never_panics(system, Some(&r), Some(&c), linked);
        never_panics(system, Some(&r), None, linked);
        never_panics(system, None, Some(&c), linked);
    }

    #[test]
    fn planning_arbitrary_text_never_panics(system in system(), r in "\\PC{0,64}", c in "\\PC{0,64}") {
        never_panics(system, Some(&r), Some(&c), false);
        never_panics(system, Some(&r), None, false);
    }

    /// Valid records with one field replaced by arbitrary JSON reach every reader and rule.
    #[test]
    fn planning_damaged_records_never_panics(
        system in system(),
        linked: bool,
        rp in prop::sample::select(REFERRAL_POINTERS),
        rv in json_value(),
        ck in prop::sample::select(CRM_KEYS),
        cv in json_value(),
        which in 0u8..3,
    ) {
        let mut r = referral();
        let mut c = crm_opportunity(system, &r);
        if which != 1 {
            set_at(&mut r, rp, rv);
        }
        if which != 0 {
            c[ck] = cv;
        }
        let (r, c) = (r.to_string(), c.to_string());
        never_panics(system, Some(&r), Some(&c), linked);
        never_panics(system, Some(&r), None, linked);
        never_panics(system, None, Some(&c), linked);
    }
}

// ------------------------------------------------------------------ errors, not panics

fn record_error(err: Error) -> RecordError {
    match err {
        Error::Record(e) => e,
        other => panic!("expected a record error, got {other:?}"),
    }
}

#[test]
fn malformed_json_is_a_record_error() {
    let e = engine("salesforce");
    for text in ["{", "", "nul", "{\"id\": \"r\",}", "[1, 2", "\u{feff}{}"] {
        let err = record_error(e.plan_json(Some(text), None).expect_err(text));
        assert!(
            matches!(
                err,
                RecordError::InvalidJson { .. } | RecordError::NotAnObject { .. }
            ),
            "{text:?}: {err:?}"
        );
        assert!(err.to_string().contains("Partner Center referral"), "{err}");
        let err = record_error(e.plan_json(None, Some(text)).expect_err(text));
        assert!(err.to_string().contains("Salesforce record"), "{err}");
    }
    let err = record_error(e.plan_json(Some("[1]"), None).expect_err("array"));
    assert!(matches!(err, RecordError::NotAnObject { .. }), "{err:?}");
    assert!(
        record_error(e.plan_json(None, None).expect_err("nothing"))
            .to_string()
            .contains("nothing to plan")
    );
}

#[test]
fn wrong_types_are_record_errors_naming_the_field() {
    let e = engine("salesforce");
    let mut r = referral();
    r["details"]["dealValue"] = json!("abc");
    let c = common::sf_opportunity(&referral());
    let err = record_error(common::try_plan(&e, Some(&r), Some(&c)).expect_err("dealValue abc"));
    let msg = err.to_string();
    assert!(msg.contains("/details/dealValue"), "{msg}");
    assert!(msg.contains("abc"), "{msg}");
    // On create the value is refused for that field, with a reason.
    let p = common::try_plan(&e, Some(&r), None).expect("create plan");
    let refusal = p
        .refusals
        .iter()
        .find(|x| x.code == "invalid_value")
        .expect("invalid_value refusal");
    assert_eq!(refusal.field.as_deref(), Some("deal_value"));
    assert!(refusal.message.contains("abc"), "{}", refusal.message);

    let mut r = referral();
    r["status"] = json!(7);
    let err = record_error(common::try_plan(&e, Some(&r), None).expect_err("status 7"));
    assert!(matches!(err, RecordError::InvalidField { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("status") && msg.contains('7'), "{msg}");
    assert!(msg.contains("Active"), "lists the valid values: {msg}");

    let mut c = common::sf_opportunity(&referral());
    c["Amount"] = json!({"value": 1});
    let err =
        record_error(common::try_plan(&e, Some(&referral()), Some(&c)).expect_err("Amount object"));
    assert!(err.to_string().contains("Amount"), "{err}");
    let mut c = common::sf_opportunity(&referral());
    c["StageName"] = json!(42);
    // An unknown stage reads as the table's `otherwise`; a number is not a stage name either way.
    let _ = common::try_plan(&e, Some(&referral()), Some(&c));
    let mut c = common::dy_opportunity(&referral());
    c["statecode"] = json!(9);
    let de = engine("dynamics365");
    let err =
        record_error(common::try_plan(&de, Some(&referral()), Some(&c)).expect_err("statecode 9"));
    assert!(err.to_string().contains("statecode"), "{err}");
}

#[test]
fn one_megabyte_notes_round_trip_into_the_crm_write() {
    let huge: String = "Ünïcødé notes, line after line.\n".repeat(33_000);
    assert!(huge.len() > 1_000_000);
    // Dynamics `description` has no length limit in the built-in profile.
    let mut e = engine("dynamics365");
    let r = referral();
    let c = common::dy_opportunity(&r);
    link(&mut e, &r, &c);
    let mut r2 = r.clone();
    r2["details"]["notes"] = json!(huge);
    bump_referral(&mut r2);
    let p = plan(&e, Some(&r2), Some(&c));
    let w = p.crm_patch().expect("crm write");
    assert_eq!(w.fields["description"].as_str(), Some(huge.as_str()));
    let a = apply(CrmSystem::Dynamics365, &p, Some(&r2), Some(&c));
    e.commit(&p, &a.results).expect("commit");
    assert!(plan(&e, a.referral.as_ref(), a.crm.as_ref()).is_empty());
    // And on create.
    let e = engine("dynamics365");
    let p = plan(&e, Some(&r2), None);
    assert_eq!(
        p.crm_patch().expect("create").fields["description"].as_str(),
        Some(huge.as_str())
    );
    // Salesforce `Description` holds 32000 characters: a clear refusal, not a truncation.
    let mut e = engine("salesforce");
    let c = common::sf_opportunity(&r);
    link(&mut e, &r, &c);
    let p = plan(&e, Some(&r2), Some(&c));
    let refusal = p
        .refusals
        .iter()
        .find(|x| x.code == "value_too_long")
        .expect("too long");
    assert_eq!(refusal.field.as_deref(), Some("notes"));
    assert!(
        refusal.message.contains("Description"),
        "{}",
        refusal.message
    );
}

#[test]
fn deep_nesting_is_a_record_error() {
    let e = engine("salesforce");
    let deep = "[".repeat(100_000);
    let err = record_error(e.plan_json(Some(&deep), None).expect_err("deep"));
    assert!(matches!(err, RecordError::InvalidJson { .. }), "{err:?}");
    let err = record_error(e.plan_json(None, Some(&deep)).expect_err("deep"));
    assert!(matches!(err, RecordError::InvalidJson { .. }), "{err:?}");
    let objects = format!("{}{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
    assert!(e.plan_json(Some(&objects), Some(&objects)).is_err());
}

/// Deep values inside an otherwise valid record: under a key the engine reads, under one it keeps, and under one
/// it ignores. Never a crash (a stack overflow would abort the test binary); a value the engine must read is an
/// error.
#[test]
fn deep_values_inside_records_never_crash() {
    let mut e = engine("salesforce");
    let r = referral();
    let c = common::sf_opportunity(&r);
    link(&mut e, &r, &c);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let rt = r.to_string();
    let ct = c.to_string();
    for (key, must_fail) in [
        ("\"notes\"", true),
        ("\"futureField\"", false),
        ("\"customerProfile\"", false),
    ] {
        let text = if key.contains("notes") {
            rt.replace(
                "\"notes\":\"Needs landing zone\"",
                &format!("\"notes\":{deep}"),
            )
        } else {
            rt.replacen('{', &format!("{{{key}:{deep},"), 1)
        };
        assert_ne!(text, rt, "{key} replaced");
        let result = e.plan_json(Some(&text), Some(&ct));
        if must_fail {
            let err = record_error(result.expect_err(key));
            assert!(
                matches!(
                    err,
                    RecordError::InvalidJson { .. } | RecordError::InvalidField { .. }
                ),
                "{err:?}"
            );
        }
        let crm_text = ct.replacen('{', &format!("{{{key}:{deep},"), 1);
        let _ = e.plan_json(Some(&rt), Some(&crm_text));
    }
}

#[test]
fn oversized_records_are_refused_before_parsing() {
    let e = engine("salesforce");
    let big = format!(
        "{{\"id\": \"r\", \"name\": \"{}\"}}",
        "x".repeat(MAX_RECORD_BYTES)
    );
    let err = record_error(e.plan_json(Some(&big), None).expect_err("too large"));
    assert!(matches!(err, RecordError::TooLarge { .. }), "{err:?}");
}

#[test]
fn values_parse_by_type_without_panics() {
    for (ty, bad) in [
        (ValueType::Decimal, json!("abc")),
        (ValueType::Decimal, json!("NaN")),
        (ValueType::Decimal, json!("inf")),
        (ValueType::Date, json!("2027-02-30")),
        (ValueType::Date, json!("2027-3-1")),
        (ValueType::Date, json!("ÄÄÄÄ-ÄÄ-ÄÄ")),
        (ValueType::Datetime, json!("2026-10-20T10:15:42.000+00é0")),
        (ValueType::Bool, json!(3)),
        (ValueType::Set, json!({"a": 1})),
        (ValueType::Set, json!([[1]])),
    ] {
        assert!(Canon::from_json(ty, &bad).is_err(), "{ty:?} {bad}");
    }
}
