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
