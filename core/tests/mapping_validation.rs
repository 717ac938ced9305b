//! Mapping loading and validation: every invalid mapping is refused with an error that names the rule and what is
//! wrong; JSON, TOML and files load; the built-in profiles validate against `core/mapping.schema.json`.

// `e`, `r`, `c`, `p`, `a`: engine, referral, CRM record, plan, applied — the same in every test.
#![allow(clippy::many_single_char_names)]

mod common;

use std::path::PathBuf;

use cosell_core::Mapping;
use cosell_core::mapping::{ConflictPolicy, MappingError, SCHEMA, SyncDirection};
use cosell_core::model::{CrmEntity, CrmSystem};
use serde_json::{Value, json};

fn invalid(text: &str) -> MappingError {
    Mapping::from_json_str(text).expect_err("mapping must be refused")
}

fn override_err(profile: &str, text: &str) -> MappingError {
    Mapping::builtin(profile)
        .expect("profile")
        .override_with(text)
        .expect_err("override must be refused")
}

fn rule_error(e: &MappingError) -> (&str, &str) {
    match e {
        MappingError::InvalidRule { field, problem } => (field.as_str(), problem.as_str()),
        other => panic!("expected InvalidRule, got {other:?}"),
    }
}

#[test]
fn unknown_key_in_a_field_spec_is_refused_naming_the_rule() {
    let e = invalid(r#"{"extends": "salesforce", "fields": {"notes": {"transform": "upper"}}}"#);
    let MappingError::Parse { detail, .. } = &e else {
        panic!("{e:?}");
    };
    assert!(detail.contains("`notes`"), "{detail}");
    assert!(detail.contains("transform"), "{detail}");
    assert!(detail.contains("unknown field"), "{detail}");
}

#[test]
fn unknown_top_level_key_is_refused() {
    let e = invalid(r#"{"extends": "salesforce", "feilds": {}}"#);
    assert!(
        e.to_string().contains("feilds"),
        "the misspelt key is named: {e}"
    );
}

#[test]
fn bad_pointer_is_refused() {
    let e = override_err(
        "salesforce",
        r#"{"fields": {"notes": {"partner_center": "details/notes"}}}"#,
    );
    let (field, problem) = rule_error(&e);
    assert_eq!(field, "notes");
    assert!(problem.contains("bad pointer"), "{problem}");
    assert!(problem.contains("details/notes"), "{problem}");
    assert!(problem.contains("starts with `/`"), "{problem}");
    for bad in ["/details//notes", "/a~2b", "/"] {
        let e = override_err(
            "salesforce",
            &format!(r#"{{"fields": {{"notes": {{"partner_center": "{bad}"}}}}}}"#),
        );
        assert!(rule_error(&e).1.contains("bad pointer"), "{bad}: {e}");
    }
}

fn status_rows_without(missing: &str) -> Value {
    let rows: Vec<Value> = [
        ("New/Pending", "Prospecting"),
        ("New/Received", "Prospecting"),
        ("Active/Accepted", "Qualification"),
        ("Closed/Won", "Closed Won"),
        ("Closed/Lost", "Closed Lost"),
        ("Closed/Declined", "Closed Lost"),
        ("Closed/Expired", "Closed Lost"),
    ]
    .into_iter()
    .filter(|(pc, _)| *pc != missing)
    .map(|(pc, crm)| json!({"partner_center": pc, "crm": crm}))
    .collect();
    Value::Array(rows)
}

#[test]
fn enum_table_must_cover_every_status() {
    let over = json!({"fields": {"status": {"table": status_rows_without("Closed/Expired")}}});
    let e = override_err("salesforce", &over.to_string());
    let (field, problem) = rule_error(&e);
    assert_eq!(field, "status");
    assert!(problem.contains("does not cover"), "{problem}");
    assert!(problem.contains("Closed/Expired"), "{problem}");
    // The full table is fine.
    let over = json!({"fields": {"status": {"table": status_rows_without("")}}});
    Mapping::builtin("salesforce")
        .expect("profile")
        .override_with(&over.to_string())
        .expect("complete table");
}

#[test]
fn enum_table_must_not_list_values_partner_center_never_sends() {
    let mut rows = status_rows_without("");
    rows.as_array_mut()
        .expect("rows")
        .push(json!({"partner_center": "Active/Won", "crm": "X"}));
    let over = json!({"fields": {"status": {"table": rows}}});
    let e = override_err("salesforce", &over.to_string());
    let (field, problem) = rule_error(&e);
    assert_eq!(field, "status");
    assert!(problem.contains("Active/Won"), "{problem}");
}

#[test]
fn two_fields_writing_one_crm_field_are_refused() {
    let e = override_err(
        "salesforce",
        r#"{"fields": {"expected_revenue": {"partner_center": "/details/expectedRevenue", "crm": "Amount", "type": "decimal", "direction": "to_crm"}}}"#,
    );
    let (field, problem) = rule_error(&e);
    assert!(field == "expected_revenue" || field == "deal_value", "{e}");
    assert!(problem.contains("duplicate field"), "{problem}");
    assert!(problem.contains("`Amount`"), "{problem}");
    assert!(
        problem.contains("deal_value") && problem.contains("expected_revenue"),
        "{problem}"
    );
}

#[test]
fn a_field_writing_an_engine_owned_crm_field_is_refused() {
    let e = override_err(
        "salesforce",
        r#"{"fields": {"notes": {"crm": "Audit__c"}}}"#,
    );
    let (_, problem) = rule_error(&e);
    assert!(problem.contains("duplicate field"), "{problem}");
    assert!(problem.contains("system_fields.audit"), "{problem}");
}

#[test]
fn the_same_key_twice_in_fields_is_refused() {
    let text = r#"{"extends": "salesforce", "fields": {
        "notes": {"crm": "Description"},
        "notes": {"crm": "Notes__c"}}}"#;
    let e = invalid(text);
    assert!(matches!(e, MappingError::Parse { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("duplicate field"), "{msg}");
    assert!(msg.contains("`notes`"), "{msg}");
}

#[test]
fn a_new_field_without_a_type_is_refused() {
    let e = override_err(
        "salesforce",
        r#"{"fields": {"qualification": {"partner_center": "/qualification", "crm": "Qualification__c"}}}"#,
    );
    let (field, problem) = rule_error(&e);
    assert_eq!(field, "qualification");
    assert!(problem.contains("missing `type`"), "{problem}");
}

#[test]
fn other_rule_errors_name_the_rule() {
    let cases = [
        (
            r#"{"fields": {"Bad-Name": {"partner_center": "/x", "crm": "X__c", "type": "text"}}}"#,
            "Bad-Name",
            "lower_snake_case",
        ),
        (
            r#"{"fields": {"notes": {"crm": null, "partner_center": "/details/notes", "split": ";"}}}"#,
            "notes",
            "`split` needs `type: set`",
        ),
        (
            r#"{"fields": {"notes": {"max_length": 0}}}"#,
            "notes",
            "`max_length` must be at least 1",
        ),
        (
            r#"{"fields": {"status": {"otherwise": "Closed/Bogus"}}}"#,
            "status",
            "otherwise",
        ),
        (
            r#"{"fields": {"notes": {"constant": "x"}}}"#,
            "notes",
            "on_create",
        ),
        (
            r#"{"fields": {"notes": {"template": "no placeholder", "direction": "to_crm"}}}"#,
            "notes",
            "template",
        ),
        (
            r#"{"fields": {"deal_value": {"default": "lots"}}}"#,
            "deal_value",
            "default",
        ),
        (
            r#"{"rules": {"referral_defaults": {"type": "Shared"}}}"#,
            "rules.referral_defaults",
            "bad pointer",
        ),
    ];
    for (text, want_field, want_problem) in cases {
        let e = override_err("salesforce", text);
        let (field, problem) = rule_error(&e);
        assert_eq!(field, want_field, "{text}: {e}");
        assert!(problem.contains(want_problem), "{text}: {problem}");
    }
}

#[test]
fn close_via_action_is_for_dynamics_only() {
    let e = override_err(
        "salesforce",
        r#"{"fields": {"status": {"close_via_action": true}}}"#,
    );
    assert!(rule_error(&e).1.contains("close_via_action"), "{e}");
}

#[test]
fn a_mapping_without_crm_is_refused() {
    let e = invalid(r#"{"fields": {}}"#);
    let (field, problem) = rule_error(&e);
    assert_eq!(field, "crm");
    assert!(problem.contains("missing"), "{problem}");
}

#[test]
fn extends_unknown_profile_names_the_known_ones() {
    let e = invalid(r#"{"extends": "hubspot"}"#);
    assert!(matches!(e, MappingError::UnknownProfile { .. }), "{e:?}");
    assert!(e.to_string().contains("dynamics365"), "{e}");
}

#[test]
fn an_override_cannot_extend() {
    let e = override_err("salesforce", r#"{"extends": "dynamics365"}"#);
    assert_eq!(rule_error(&e).0, "extends");
}

#[test]
fn null_removes_an_inherited_field() {
    let m = Mapping::builtin("salesforce")
        .expect("profile")
        .override_with(r#"{"fields": {"notes": null}}"#)
        .expect("valid");
    assert!(m.field(CrmEntity::Opportunity, "notes").is_none());
    assert!(m.field(CrmEntity::Opportunity, "name").is_some());
}

#[test]
fn conflict_policy_override_keeps_the_rest() {
    let m = common::mapping_with(
        "dynamics365",
        r#"{"fields": {"notes": {"conflict": "newest"}}}"#,
    );
    let f = m.field(CrmEntity::Opportunity, "notes").expect("notes");
    assert_eq!(f.conflict(), ConflictPolicy::Newest);
    assert_eq!(f.direction(), SyncDirection::Both);
    assert_eq!(f.crm_fields(), ["description"]);
}

const TOML: &str = r#"
extends = "salesforce"

[fields.deal_value]
crm = "Expected_Revenue__c"
conflict = "partner_center"

[fields.qualification]
partner_center = "/qualification"
crm = "Qualification__c"
type = "text"
direction = "to_crm"
"#;

#[test]
fn toml_mapping_loads() {
    let m = Mapping::from_toml_str(TOML).expect("TOML mapping");
    assert_eq!(m.crm(), CrmSystem::Salesforce);
    let f = m.field(CrmEntity::Opportunity, "deal_value").expect("kept");
    assert_eq!(f.crm_fields(), ["Expected_Revenue__c"]);
    assert_eq!(f.conflict(), ConflictPolicy::PartnerCenter);
    let q = m
        .field(CrmEntity::Opportunity, "qualification")
        .expect("added");
    assert_eq!(q.direction(), SyncDirection::ToCrm);
    let e = Mapping::from_toml_str("extends = \"salesforce\"\n[fields.notes]\ntransform = 1\n")
        .expect_err("unknown key");
    assert!(e.to_string().contains("transform"), "{e}");
    let e = Mapping::from_toml_str("extends = [").expect_err("not TOML");
    assert!(matches!(e, MappingError::Parse { .. }), "{e:?}");
}

/// A file under the temp dir, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("cosell-mapping-test-{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("temp file written");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn from_file_reads_json_and_toml() {
    let json_file = TempFile::new(
        "m.json",
        r#"{"extends": "dynamics365", "fields": {"notes": {"crm": "cosell_notes"}}}"#,
    );
    let m = Mapping::from_file(&json_file.0).expect("json file");
    assert_eq!(m.crm(), CrmSystem::Dynamics365);
    assert_eq!(
        m.field(CrmEntity::Opportunity, "notes")
            .expect("notes")
            .crm_fields(),
        ["cosell_notes"]
    );
    let toml_file = TempFile::new("m.TOML", TOML);
    let m = Mapping::from_file(&toml_file.0).expect("toml file");
    assert_eq!(
        m.field(CrmEntity::Opportunity, "deal_value")
            .expect("deal_value")
            .crm_fields(),
        ["Expected_Revenue__c"]
    );
    // Parse errors name the file.
    let broken = TempFile::new("broken.json", "{");
    let e = Mapping::from_file(&broken.0).expect_err("broken");
    assert!(
        e.to_string().contains("broken.json"),
        "the file is named: {e}"
    );
    let e = Mapping::from_file("/nonexistent/cosell/mapping.json").expect_err("missing");
    assert!(matches!(e, MappingError::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("/nonexistent/cosell/mapping.json"));
}

#[test]
fn a_mapping_round_trips_through_its_json() {
    for name in Mapping::builtin_names() {
        let m = Mapping::builtin(name).expect("profile");
        let again = Mapping::from_json_str(&m.to_json()).expect("own JSON loads");
        assert_eq!(again.spec(), m.spec(), "{name}");
    }
}

#[test]
fn mapping_errors_have_the_mapping_kind() {
    let e: cosell_core::Error = invalid("{").into();
    assert_eq!(e.kind(), cosell_core::ErrorKind::Mapping);
    assert_eq!(e.kind().as_str(), "mapping");
}

// ------------------------------------------------------------------ the JSON Schema

/// A small JSON Schema checker for the keywords `mapping.schema.json` uses (type, enum, properties,
/// additionalProperties, required, items, oneOf, `$ref` into `$defs`, minItems, minLength, minimum, and the
/// `^[a-z0-9_]+$` property-name pattern). Returns the JSON pointers of every violation.
fn check(root: &Value, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = root
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("schema $ref {r} resolves"));
        return check(root, target, v, at, errs);
    }
    if let Some(ty) = schema.get("type") {
        let types: Vec<&str> = match ty {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "null" => v.is_null(),
            other => panic!("schema type {other} not handled"),
        });
        if !ok {
            errs.push(format!("{at}: not of type {types:?}"));
            return;
        }
    }
    if let Some(Value::Array(allowed)) = schema.get("enum") {
        if !allowed.contains(v) {
            errs.push(format!("{at}: {v} not in enum"));
        }
    }
    if let Some(Value::Array(options)) = schema.get("oneOf") {
        let matching = options
            .iter()
            .filter(|o| {
                let mut e = Vec::new();
                check(root, o, v, at, &mut e);
                e.is_empty()
            })
            .count();
        if matching != 1 {
            errs.push(format!("{at}: matches {matching} of oneOf"));
        }
    }
    if let (Some(min), Some(s)) = (schema.get("minLength").and_then(Value::as_u64), v.as_str()) {
        if (s.chars().count() as u64) < min {
            errs.push(format!("{at}: shorter than {min}"));
        }
    }
    if let (Some(min), Some(n)) = (schema.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if n < min {
            errs.push(format!("{at}: below {min}"));
        }
    }
    if let Some(items) = v.as_array() {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if (items.len() as u64) < min {
                errs.push(format!("{at}: fewer than {min} items"));
            }
        }
        if let Some(s) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(root, s, item, &format!("{at}/{i}"), errs);
            }
        }
    }
    if let Some(obj) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(req)) = schema.get("required") {
            for k in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(k) {
                    errs.push(format!("{at}: missing required `{k}`"));
                }
            }
        }
        if let Some(pattern) = schema
            .pointer("/propertyNames/pattern")
            .and_then(Value::as_str)
        {
            assert_eq!(pattern, "^[a-z0-9_]+$", "pattern not handled");
            for k in obj.keys() {
                if k.is_empty()
                    || !k
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    errs.push(format!(
                        "{at}: property name {k:?} does not match {pattern}"
                    ));
                }
            }
        }
        for (k, val) in obj {
            let path = format!("{at}/{k}");
            match (
                props.and_then(|p| p.get(k)),
                schema.get("additionalProperties"),
            ) {
                (Some(s), _) | (None, Some(s @ Value::Object(_))) => {
                    check(root, s, val, &path, errs);
                }
                (None, Some(Value::Bool(false))) => {
                    errs.push(format!("{path}: not allowed by the schema"));
                }
                (None, _) => {}
            }
        }
    }
}

fn schema_errors(doc: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
    let mut errs = Vec::new();
    check(&schema, &schema, doc, "", &mut errs);
    errs
}

#[test]
fn every_builtin_profile_validates_against_the_schema() {
    let profiles = [
        ("salesforce", include_str!("../profiles/salesforce.json")),
        ("dynamics365", include_str!("../profiles/dynamics365.json")),
    ];
    assert_eq!(
        profiles.len(),
        Mapping::builtin_names().len(),
        "every built-in profile is checked"
    );
    for (name, text) in profiles {
        let doc: Value = serde_json::from_str(text).expect("profile is JSON");
        let errs = schema_errors(&doc);
        assert!(errs.is_empty(), "{name}: {errs:#?}");
        // The resolved spec the library prints validates too.
        let printed: Value =
            serde_json::from_str(&Mapping::builtin(name).expect("profile").to_json())
                .expect("printed JSON");
        let errs = schema_errors(&printed);
        assert!(errs.is_empty(), "{name} (printed): {errs:#?}");
    }
}

#[test]
fn the_schema_checker_catches_invalid_mappings() {
    let doc = json!({
        "crm": "salesforce",
        "colour": "blue",
        "fields": {
            "Bad Name": {"type": "text"},
            "notes": {"type": "string", "transform": "upper", "max_length": 0,
                      "lookup": {"bind": "X"}, "lead": {"crm": []}}
        }
    });
    let errs = schema_errors(&doc);
    for want in [
        "/colour: not allowed",
        "property name \"Bad Name\"",
        "/fields/notes/type",
        "/fields/notes/transform: not allowed",
        "/fields/notes/max_length: below 1",
        "/fields/notes/lookup: missing required `entity`",
        "/fields/notes/lead",
    ] {
        assert!(
            errs.iter().any(|e| e.contains(want)),
            "{want} not reported: {errs:#?}"
        );
    }
}

#[test]
fn fixture_mappings_in_json_and_toml_load_the_same_rules() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let json = Mapping::from_file(dir.join("mapping_custom.json")).expect("json fixture");
    let toml = Mapping::from_file(dir.join("mapping_custom.toml")).expect("toml fixture");
    for m in [&json, &toml] {
        assert_eq!(m.crm(), CrmSystem::Dynamics365);
        assert!(!m.rules().leads);
        let notes = m.field(CrmEntity::Opportunity, "notes").expect("notes");
        assert_eq!(notes.crm_fields(), ["cosell_notes"]);
        assert_eq!(notes.conflict(), ConflictPolicy::Newest);
        let q = m
            .field(CrmEntity::Opportunity, "qualification")
            .expect("added field");
        assert_eq!(q.direction(), SyncDirection::ToCrm);
    }
    assert!(
        json.field(CrmEntity::Opportunity, "referral_link")
            .is_none(),
        "null removes the inherited field"
    );
    // A referral synced with the fixture mapping writes the added field.
    let e = common::engine_with(json);
    let p = common::plan(&e, Some(&common::referral()), None);
    let w = p.crm_patch().expect("create");
    assert_eq!(w.fields["cosell_qualification"], json!("SalesQualified"));
    assert_eq!(w.fields["cosell_notes"], json!("Needs landing zone"));
    assert!(!w.fields.contains_key("cosell_referrallink"));
    // The fixture is valid against the schema too.
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("mapping_custom.json")).expect("fixture"),
    )
    .expect("fixture JSON");
    assert!(schema_errors(&doc).is_empty(), "{:?}", schema_errors(&doc));
}

#[test]
fn a_field_path_of_the_wrong_type_says_what_was_expected() {
    let err = Mapping::from_json_str(
        r#"{"extends": "salesforce", "fields": {"deal_value": {"crm": 5}}}"#,
    )
    .expect_err("a number is not a field name");
    let text = err.to_string();
    assert!(
        text.contains("a field name or JSON pointer (text), or a list of them"),
        "{text}"
    );
    assert!(!text.contains("untagged"), "{text}");
}
