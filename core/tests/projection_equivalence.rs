//! Projected parsing reads exactly what the whole-document parse reads.
//!
//! The engine parses records with the mapping's projections: it validates the whole text but keeps only the byte
//! spans of the fields its rules read, and the rules read those spans directly (strings borrowed from the text,
//! escapes decoded on demand). These properties mutate realistic records at the very places the rules read (and
//! around them: parents, siblings, unknown keys) with arbitrary JSON, including escapes, non-ASCII text, nulls,
//! wrong types and nested junk, then check that every field rule reads the same value (or fails the same way)
//! from both parses, and that a record one parse refuses is refused by the other.

// `r`, `c`, `m`: referral, CRM record, mapping — as in the other test files.
#![allow(clippy::many_single_char_names)]

mod common;

use common::{crm_opportunity, referral};
use cosell_core::Mapping;
use cosell_core::mapping::SyncDirection;
use cosell_core::model::{CrmEntity, CrmRecord, CrmSystem, Referral};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Arbitrary JSON, leaning on what breaks parsers: escapes, non-ASCII, empty strings, numbers at the edges.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "",
            "\"quoted\"",
            "back\\slash",
            "tab\there",
            "é ü 中文 🚀",
            "Active/Accepted",
            "SOL-1;SOL-2",
            "2027-03-15",
            "2027-03-15T00:00:00Z",
            "true",
            "120000",
            "Prospecting",
            "Closed Won",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z]{1,6}|id|email|name", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Sets `value` at a pointer, creating objects on the way (arrays are indexed only when they exist).
fn set(root: &mut Value, pointer: &str, value: Value) {
    let mut cur = root;
    let segments: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    let Some((last, parents)) = segments.split_last() else {
        return;
    };
    for seg in parents {
        let next = match cur {
            Value::Object(m) => m
                .entry((*seg).to_owned())
                .or_insert_with(|| Value::Object(Map::new())),
            Value::Array(a) => match seg.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
        cur = next;
    }
    match cur {
        Value::Object(m) => {
            m.insert((*last).to_owned(), value);
        }
        Value::Array(a) => {
            if let Some(slot) = last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                *slot = value;
            }
        }
        _ => {}
    }
}

/// Places worth mutating: every pointer the mapping reads, each of their parents, and a few unrelated keys.
fn places(pointers: &[String]) -> Vec<String> {
    let mut out = pointers.to_vec();
    for p in pointers {
        let segs: Vec<&str> = p.trim_start_matches('/').split('/').collect();
        for n in 1..segs.len() {
            out.push(format!("/{}", segs[..n].join("/")));
        }
    }
    out.extend(
        [
            "/unknownTop",
            "/details/unknown",
            "/customerProfile/address/extra",
        ]
        .map(str::to_owned),
    );
    out.sort();
    out.dedup();
    out
}

fn referral_pointers(m: &Mapping) -> Vec<String> {
    let mut v: Vec<String> = [CrmEntity::Opportunity, CrmEntity::Lead]
        .iter()
        .flat_map(|e| {
            m.fields(*e)
                .iter()
                .flat_map(cosell_core::mapping::FieldRule::partner_center_pointers)
        })
        .collect();
    v.extend(
        [
            "/id",
            "/status",
            "/substatus",
            "/direction",
            "/eTag",
            "/updatedDateTime",
        ]
        .map(str::to_owned),
    );
    v
}

fn crm_paths(m: &Mapping) -> Vec<String> {
    let mut v: Vec<String> = [CrmEntity::Opportunity, CrmEntity::Lead]
        .iter()
        .flat_map(|e| {
            m.fields(*e)
                .iter()
                .flat_map(cosell_core::mapping::FieldRule::crm_fields)
        })
        .map(|f| format!("/{f}"))
        .collect();
    let sys = m.system_fields();
    v.extend(
        [
            &sys.sync_flag,
            &sys.referral_id,
            &sys.audit,
            &sys.sync_status,
        ]
        .into_iter()
        .flatten()
        .map(|f| format!("/{f}")),
    );
    v
}

/// Both parses of a referral, and every rule's read from each, agree.
fn check_referral(m: &Mapping, text: &str) -> Result<(), TestCaseError> {
    let tree = Referral::parse(text);
    for merge_only in [false, true] {
        let projected = Referral::parse_projected(text, &m.projections().referral, merge_only);
        prop_assert_eq!(
            tree.is_ok(),
            projected.is_ok(),
            "parse: tree {:?} vs projected {:?}",
            tree,
            projected
        );
        let (Ok(t), Ok(p)) = (&tree, &projected) else {
            continue;
        };
        prop_assert_eq!(t.id(), p.id());
        prop_assert_eq!(t.status(), p.status());
        prop_assert_eq!(t.substatus(), p.substatus());
        prop_assert_eq!(t.direction(), p.direction());
        prop_assert_eq!(t.version(), p.version());
        for entity in [CrmEntity::Opportunity, CrmEntity::Lead] {
            for rule in m.fields(entity) {
                if merge_only && rule.direction() == SyncDirection::OnCreate {
                    continue; // merging never reads create-only fields, so a merge parse skips them
                }
                let (a, b) = (rule.read_partner_center(t), rule.read_partner_center(p));
                prop_assert_eq!(a.is_ok(), b.is_ok(), "{}: {:?} vs {:?}", rule.name(), a, b);
                if let (Ok(a), Ok(b)) = (a, b) {
                    prop_assert_eq!(a, b, "{}", rule.name());
                }
            }
        }
    }
    Ok(())
}

/// Both parses of a CRM record, and every rule's read from each, agree.
fn check_crm(m: &Mapping, text: &str) -> Result<(), TestCaseError> {
    let tree = CrmRecord::parse(m.crm(), text);
    for merge_only in [false, true] {
        let projected = CrmRecord::parse_projected(m.crm(), text, &m.projections().crm, merge_only);
        prop_assert_eq!(
            tree.is_ok(),
            projected.is_ok(),
            "parse: tree {:?} vs projected {:?}",
            tree,
            projected
        );
        let (Ok(t), Ok(p)) = (&tree, &projected) else {
            continue;
        };
        prop_assert_eq!(t.id(), p.id());
        prop_assert_eq!(t.entity(), p.entity());
        prop_assert_eq!(t.version(), p.version());
        for rule in m.fields(t.entity()) {
            if merge_only && rule.direction() == SyncDirection::OnCreate {
                continue;
            }
            let (a, b) = (rule.read_crm(t), rule.read_crm(p));
            prop_assert_eq!(a.is_ok(), b.is_ok(), "{}: {:?} vs {:?}", rule.name(), a, b);
            if let (Ok(a), Ok(b)) = (a, b) {
                prop_assert_eq!(a, b, "{}", rule.name());
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn referral_reads_agree(
        profile in prop::sample::select(vec!["salesforce", "dynamics365"]),
        edits in prop::collection::vec((any::<prop::sample::Index>(), json_value()), 0..6),
    ) {
        let m = Mapping::builtin(profile).expect("profile");
        let places = places(&referral_pointers(&m));
        let mut r = referral();
        for (i, v) in edits {
            set(&mut r, i.get::<String>(&places), v);
        }
        check_referral(&m, &r.to_string())?;
    }

    #[test]
    fn crm_reads_agree(
        profile in prop::sample::select(vec!["salesforce", "dynamics365"]),
        edits in prop::collection::vec((any::<prop::sample::Index>(), json_value()), 0..6),
    ) {
        let m = Mapping::builtin(profile).expect("profile");
        let system = m.crm();
        let places = places(&crm_paths(&m));
        let mut c = crm_opportunity(system, &referral());
        for (i, v) in edits {
            set(&mut c, i.get::<String>(&places), v);
        }
        check_crm(&m, &c.to_string())?;
    }

    #[test]
    fn arbitrary_text_is_refused_or_read_alike(text in "\\PC{0,200}") {
        let m = Mapping::builtin("salesforce").expect("profile");
        check_referral(&m, &text)?;
        check_crm(&m, &text)?;
    }
}

#[test]
fn the_workload_records_read_alike() {
    for system in [CrmSystem::Salesforce, CrmSystem::Dynamics365] {
        let Some(w) = common::workload(200, system) else {
            return;
        };
        let m = Mapping::builtin(common::profile(system)).expect("profile");
        for ((r1, r2), (c1, c2)) in w.referrals.iter().zip(&w.crm) {
            for r in [r1, r2] {
                check_referral(&m, &r.to_string()).expect("referral");
            }
            for c in [c1, c2] {
                check_crm(&m, &c.to_string()).expect("CRM record");
            }
        }
    }
}
