//! Unit tests of mapping loading and validation.

use super::*;
use crate::model::CrmEntity;

#[test]
fn builtin_profiles_compile() {
    for name in Mapping::builtin_names() {
        let m = Mapping::builtin(name).expect("built-in profile compiles");
        assert!(
            m.field(CrmEntity::Opportunity, "status").is_some(),
            "{name} maps status"
        );
        assert!(
            m.field(CrmEntity::Lead, "status").is_some(),
            "{name} maps lead status"
        );
    }
}

#[test]
fn unknown_profile_names_the_known_ones() {
    let e = Mapping::builtin("hubspot").expect_err("no such profile");
    assert!(e.to_string().contains("salesforce"), "{e}");
}

#[test]
fn override_replaces_only_named_keys() {
    let m = Mapping::builtin("salesforce")
        .and_then(|m| {
            m.override_with(r#"{"fields": {"deal_value": {"crm": "Expected_Revenue__c"}}}"#)
        })
        .expect("valid override");
    let f = m.field(CrmEntity::Opportunity, "deal_value").expect("kept");
    assert_eq!(f.crm_fields(), ["Expected_Revenue__c"]);
    assert_eq!(f.conflict(), ConflictPolicy::Crm, "inherited policy kept");
}

#[test]
fn set_pointer_builds_nested_objects_and_arrays() {
    let mut body = serde_json::Map::new();
    set_pointer(
        &mut body,
        "/customerProfile/team/0/email",
        "a@b.example".into(),
    );
    set_pointer(&mut body, "/customerProfile/team/0/lastName", "Lee".into());
    set_pointer(&mut body, "/customerProfile/address/country", "US".into());
    set_pointer(&mut body, "/a~1b/c~0d", 1.into());
    assert_eq!(
        Json::Object(body),
        serde_json::json!({
            "customerProfile": {
                "team": [{"email": "a@b.example", "lastName": "Lee"}],
                "address": {"country": "US"}
            },
            "a/b": {"c~d": 1}
        })
    );
}

#[test]
fn status_domain_is_every_documented_pair() {
    let domain = compile::known_domain(&["/status".to_owned(), "/substatus".to_owned()])
        .expect("status has a known domain");
    let mut got: Vec<&str> = domain.iter().map(String::as_str).collect();
    got.sort_unstable();
    assert_eq!(
        got,
        [
            "Active/Accepted",
            "Closed/Declined",
            "Closed/Expired",
            "Closed/Lost",
            "Closed/Won",
            "New/Pending",
            "New/Received"
        ]
    );
    assert!(compile::known_domain(&["/name".to_owned()]).is_none());
}

#[test]
fn lead_blocks_restate_the_crm_side() {
    let sf = Mapping::builtin("salesforce").expect("profile");
    assert!(sf.field(CrmEntity::Lead, "name").is_none(), "lead: false");
    assert!(sf.field(CrmEntity::Opportunity, "name").is_some());
    assert_eq!(
        sf.field(CrmEntity::Lead, "status")
            .expect("lead status")
            .crm_fields(),
        ["Status"]
    );
    assert_eq!(
        sf.field(CrmEntity::Lead, "customer_name")
            .expect("lead company")
            .crm_fields(),
        ["Company"]
    );
    let dy = Mapping::builtin("dynamics365").expect("profile");
    assert_eq!(
        dy.field(CrmEntity::Opportunity, "currency")
            .expect("currency")
            .crm_fields(),
        ["transactioncurrencyid/isocurrencycode"]
    );
    assert_eq!(dy.entity_name(CrmEntity::Lead), "leads");
    assert_eq!(sf.entity_name(CrmEntity::Opportunity), "Opportunity");
}

#[test]
fn a_related_record_field_needs_a_lookup() {
    let e = Mapping::builtin("salesforce")
        .expect("profile")
        .override_with(r#"{"fields": {"notes": {"crm": "Account/Description"}}}"#)
        .expect_err("related field without lookup");
    let MappingError::InvalidRule { field, problem } = e else {
        panic!("{e:?}");
    };
    assert_eq!(field, "notes");
    assert!(problem.contains("`lookup`"), "{problem}");
    // Read-only from the CRM side is fine.
    Mapping::builtin("salesforce")
        .expect("profile")
        .override_with(
            r#"{"fields": {"notes": {"crm": "Account/Description", "direction": "to_partner_center"}}}"#,
        )
        .expect("a related field the CRM only sends");
}
