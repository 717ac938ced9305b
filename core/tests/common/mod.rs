//! Shared builders for the integration tests: realistic records of both sides (in the wire shapes of
//! `docs/DOMAIN.md` and `bench/workload.py`), an engine with a fixed clock, and a tiny "host" that applies a plan's
//! writes to the JSON records the way Partner Center and the CRM would, so that re-planning sees what the services
//! would now return.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use cosell_core::connect::HttpConfig;
use cosell_core::model::{CrmSystem, Version};
use cosell_core::plan::{Action, CrmWrite, PatchOp, Plan};
use cosell_core::store::{AuditQuery, AuditRow, Link};
use cosell_core::{CommitReport, CommitResults, Engine, Mapping, SideOutcome};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

/// A directory under the system temp dir for store files, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory named after `name`, the process and a counter.
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("cosell-test-{name}-{}-{n}", std::process::id()));
        // A leftover from an earlier run with the same pid is stale.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir can be created");
        TempDir(dir)
    }

    /// The path of `name` in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The fixed planning time of every test engine.
pub const NOW: OffsetDateTime = datetime!(2026-11-24 10:00 UTC);

/// A referral id used by most scenarios.
pub const RID: &str = "5b0e6c1d-aaaa-bbbb-cccc-0123456789ab";
/// The Salesforce Opportunity id of most scenarios.
pub const SF_OPP: &str = "006000000000000001";
/// The Salesforce Lead id of most scenarios.
pub const SF_LEAD: &str = "00Q000000000000001";
/// The Dynamics 365 opportunity id of most scenarios.
pub const DY_OPP: &str = "7f6e5d4c-1234-4321-abcd-00000000d365";
/// The Dynamics 365 lead id of most scenarios.
pub const DY_LEAD: &str = "7f6e5d4c-1234-4321-abcd-0000000001ea";

/// An engine on a private in-memory store with the built-in profile `profile` and a fixed clock.
pub fn engine(profile: &str) -> Engine {
    engine_with(Mapping::builtin(profile).expect("built-in profile compiles"))
}

/// An engine on a private in-memory store with `mapping` and a fixed clock.
pub fn engine_with(mapping: Mapping) -> Engine {
    Engine::open(":memory:", mapping)
        .expect("in-memory store opens")
        .with_clock(Box::new(|| NOW))
}

/// The built-in profile `profile` with `overrides` (JSON) laid over it.
pub fn mapping_with(profile: &str, overrides: &str) -> Mapping {
    Mapping::builtin(profile)
        .expect("built-in profile compiles")
        .override_with(overrides)
        .expect("override is valid")
}

/// An accepted, outgoing co-sell referral in the wire shape of DOMAIN.md §2.3.
pub fn referral() -> Value {
    json!({
        "id": RID,
        "engagementId": "9e1f2a3b-0000-4000-8000-00000000e001",
        "organizationId": "b1e2c3d4-0000-4000-8000-000000000001",
        "name": "Contoso - Azure migration",
        "externalReferenceId": null,
        "createdDateTime": "2026-02-01T09:00:00.0000000Z",
        "updatedDateTime": "2026-10-01T10:15:42.0000000Z",
        "status": "Active",
        "substatus": "Accepted",
        "statusReason": null,
        "type": "Shared",
        "qualification": "SalesQualified",
        "direction": "Outgoing",
        "customerProfile": {
            "name": "Contoso Ltd",
            "size": "251to1000employees",
            "address": {"addressLine1": "1 Main St", "city": "Seattle", "state": "WA",
                        "postalCode": "98101", "country": "US"},
            "team": [{"firstName": "Sam", "lastName": "Lee", "email": "sam@contoso.example",
                      "phoneNumber": "5550123"}]
        },
        "consent": {"consentToToShareInfoWithOthers": true, "consentToContact": true,
                    "consentToShareReferralWithMicrosoftSellers": true},
        "details": {
            "notes": "Needs landing zone",
            "dealValue": 120_000,
            "currency": "USD",
            "closingDateTime": "2027-03-15T00:00:00Z",
            "requirements": {"industries": [], "products": [], "services": [],
                             "solutions": [{"id": "SOL-12345-ABC", "name": null, "type": "Name"}]}
        },
        "team": [{"firstName": "Ana", "lastName": "Diaz", "email": "ana@partner.example"}],
        "inviteContext": {"notes": "Please help with licensing", "assistanceRequestCode": "QuotesOrLicensing"},
        "target": [{"type": "BusinessProfileLocation", "id": "msft"}],
        "trackingInfo": {"microsoftMsxId": null},
        "eTag": "\"e1\""
    })
}

/// An incoming referral not yet accepted (New/Received).
pub fn incoming_new_referral() -> Value {
    let mut r = referral();
    r["direction"] = json!("Incoming");
    r["status"] = json!("New");
    r["substatus"] = json!("Received");
    r
}

/// Sets `status`/`substatus` of a referral.
pub fn with_status(mut r: Value, status: &str, substatus: &str) -> Value {
    r["status"] = json!(status);
    r["substatus"] = json!(substatus);
    r
}

/// The Salesforce stage a Partner Center status pair maps to (built-in profile).
pub fn sf_stage(status: &str, substatus: &str) -> &'static str {
    match (status, substatus) {
        ("New", _) => "Prospecting",
        ("Active", _) => "Qualification",
        ("Closed", "Won") => "Closed Won",
        _ => "Closed Lost",
    }
}

/// The Dynamics 365 opportunity statecode/statuscode a Partner Center status pair maps to (built-in profile).
pub fn dy_state(status: &str, substatus: &str) -> (i64, i64) {
    match (status, substatus) {
        ("Closed", "Won") => (1, 3),
        ("Closed", _) => (2, 4),
        _ => (0, 1),
    }
}

fn text(v: &Value, pointer: &str) -> Value {
    v.pointer(pointer).cloned().unwrap_or(Value::Null)
}

fn solutions_joined(r: &Value) -> Value {
    match r.pointer("/details/requirements/solutions") {
        Some(Value::Array(items)) => {
            let mut ids: Vec<&str> = items
                .iter()
                .filter_map(|i| i.get("id").and_then(Value::as_str))
                .collect();
            ids.sort_unstable();
            Value::String(ids.join(";"))
        }
        _ => Value::Null,
    }
}

fn date_part(v: &Value) -> Value {
    match v.as_str() {
        Some(s) if s.len() >= 10 => Value::String(s[..10].to_owned()),
        _ => Value::Null,
    }
}

fn status_of(r: &Value) -> (String, String) {
    (
        r["status"].as_str().unwrap_or("New").to_owned(),
        r["substatus"].as_str().unwrap_or("Received").to_owned(),
    )
}

/// A Salesforce Opportunity in agreement with `r` under the built-in profile (stamped, flag on).
pub fn sf_opportunity(r: &Value) -> Value {
    let (s, ss) = status_of(r);
    json!({
        "attributes": {"type": "Opportunity", "url": format!("/services/data/v60.0/sobjects/Opportunity/{SF_OPP}")},
        "Id": SF_OPP,
        "Name": text(r, "/name"),
        "AccountId": "001000000000000001",
        "Account": {"Name": text(r, "/customerProfile/name"),
                    "BillingPostalCode": text(r, "/customerProfile/address/postalCode"),
                    "BillingCountry": text(r, "/customerProfile/address/country")},
        "ContactId": "003000000000000001",
        "Contact": {"Email": text(r, "/customerProfile/team/0/email"),
                    "FirstName": text(r, "/customerProfile/team/0/firstName"),
                    "LastName": text(r, "/customerProfile/team/0/lastName")},
        "Amount": r.pointer("/details/dealValue").and_then(Value::as_f64).map_or(Value::Null, Value::from),
        "CurrencyIsoCode": text(r, "/details/currency"),
        "CloseDate": date_part(&text(r, "/details/closingDateTime")),
        "StageName": sf_stage(&s, &ss),
        "Description": text(r, "/details/notes"),
        "Sync_with_Partner_Center__c": true,
        "Referral_Identifier__c": text(r, "/id"),
        "Referral_Link__c": format!("https://partner.microsoft.com/dashboard/referrals/v2/leads/{}", r["id"].as_str().unwrap_or("")),
        "How_can_Microsoft_help__c": text(r, "/inviteContext/assistanceRequestCode"),
        "Products__c": solutions_joined(r),
        "Audit__c": "",
        "SystemModstamp": "2026-10-20T10:15:42.000+0000",
        "LastModifiedDate": "2026-10-20T10:15:42.000+0000"
    })
}

/// A Salesforce Lead in agreement with `r` (a not-yet-accepted referral).
pub fn sf_lead(r: &Value) -> Value {
    json!({
        "attributes": {"type": "Lead"},
        "Id": SF_LEAD,
        "Company": text(r, "/customerProfile/name"),
        "LastName": "Lee",
        "CurrencyIsoCode": text(r, "/details/currency"),
        "Description": text(r, "/details/notes"),
        "Status": "Open - Not Contacted",
        "Products__c": solutions_joined(r),
        "Sync_with_Partner_Center__c": true,
        "Referral_Identifier__c": text(r, "/id"),
        "Audit__c": "",
        "SystemModstamp": "2026-10-20T10:15:42.000+0000",
        "LastModifiedDate": "2026-10-20T10:15:42.000+0000"
    })
}

/// A Dynamics 365 opportunity in agreement with `r` under the built-in profile (stamped, flag on).
pub fn dy_opportunity(r: &Value) -> Value {
    let (s, ss) = status_of(r);
    let (state, status) = dy_state(&s, &ss);
    json!({
        "@odata.context": "https://org.crm.dynamics.com/api/data/v9.2/$metadata#opportunities/$entity",
        "@odata.etag": "W/\"100000\"",
        "opportunityid": DY_OPP,
        "name": text(r, "/name"),
        "estimatedvalue": r.pointer("/details/dealValue").and_then(Value::as_f64).map_or(Value::Null, Value::from),
        "_transactioncurrencyid_value": "538b61c6-f39d-5242-b487-1dc758ca4cba",
        "transactioncurrencyid": {"transactioncurrencyid": "538b61c6-f39d-5242-b487-1dc758ca4cba",
                                  "isocurrencycode": text(r, "/details/currency")},
        "estimatedclosedate": date_part(&text(r, "/details/closingDateTime")),
        "description": text(r, "/details/notes"),
        "statecode": state,
        "statuscode": status,
        "_customerid_value": "2db8d712-8d8b-51a7-ae00-bdbe271d0e7b",
        "customerid_account": {"name": text(r, "/customerProfile/name"),
                               "address1_postalcode": text(r, "/customerProfile/address/postalCode"),
                               "address1_country": text(r, "/customerProfile/address/country")},
        "parentcontactid": {"emailaddress1": text(r, "/customerProfile/team/0/email"),
                            "firstname": text(r, "/customerProfile/team/0/firstName"),
                            "lastname": text(r, "/customerProfile/team/0/lastName")},
        "cosell_syncwithpartnercenter": true,
        "cosell_referralidentifier": text(r, "/id"),
        "cosell_referrallink": format!("https://partner.microsoft.com/dashboard/referrals/v2/leads/{}", r["id"].as_str().unwrap_or("")),
        "cosell_howcanmicrosofthelp": text(r, "/inviteContext/assistanceRequestCode"),
        "cosell_products": solutions_joined(r),
        "cosell_audit": "",
        "versionnumber": 100_000,
        "modifiedon": "2026-10-20T10:15:42Z"
    })
}

/// A Dynamics 365 lead in agreement with `r` (a not-yet-accepted referral).
pub fn dy_lead(r: &Value) -> Value {
    json!({
        "@odata.etag": "W/\"200000\"",
        "leadid": DY_LEAD,
        "subject": text(r, "/name"),
        "estimatedamount": r.pointer("/details/dealValue").and_then(Value::as_f64).map_or(Value::Null, Value::from),
        "transactioncurrencyid": {"isocurrencycode": text(r, "/details/currency")},
        "estimatedclosedate": date_part(&text(r, "/details/closingDateTime")),
        "description": text(r, "/details/notes"),
        "statecode": 0,
        "statuscode": 1,
        "companyname": text(r, "/customerProfile/name"),
        "cosell_syncwithpartnercenter": true,
        "cosell_referralidentifier": text(r, "/id"),
        "cosell_products": solutions_joined(r),
        "cosell_audit": "",
        "versionnumber": 200_000,
        "modifiedon": "2026-10-20T10:15:42Z"
    })
}

/// A CRM opportunity of `system` in agreement with `r`.
pub fn crm_opportunity(system: CrmSystem, r: &Value) -> Value {
    match system {
        CrmSystem::Salesforce => sf_opportunity(r),
        CrmSystem::Dynamics365 => dy_opportunity(r),
    }
}

/// The built-in profile name of `system`.
pub fn profile(system: CrmSystem) -> &'static str {
    system.as_str()
}

/// Plans a pair given as JSON values.
pub fn plan(engine: &Engine, referral: Option<&Value>, crm: Option<&Value>) -> Plan {
    try_plan(engine, referral, crm).expect("plan succeeds")
}

/// Plans a pair given as JSON values, keeping the error.
pub fn try_plan(
    engine: &Engine,
    referral: Option<&Value>,
    crm: Option<&Value>,
) -> Result<Plan, cosell_core::Error> {
    let r = referral.map(Value::to_string);
    let c = crm.map(Value::to_string);
    engine.plan_json(r.as_deref(), c.as_deref())
}

/// The version of a referral as the engine reads it.
pub fn referral_version(r: &Value) -> Version {
    Version {
        etag: r["eTag"].as_str().map(str::to_owned),
        modified: r["updatedDateTime"].as_str().map(str::to_owned),
        stamp: None,
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The version of a CRM record as the engine reads it.
pub fn crm_version(system: CrmSystem, c: &Value) -> Version {
    match system {
        CrmSystem::Salesforce => Version {
            etag: None,
            modified: scalar(&c["LastModifiedDate"]),
            stamp: scalar(&c["SystemModstamp"]),
        },
        CrmSystem::Dynamics365 => Version {
            etag: scalar(&c["@odata.etag"]),
            modified: scalar(&c["modifiedon"]),
            stamp: scalar(&c["versionnumber"]),
        },
    }
}

/// Moves a referral's version, as Partner Center does on every write.
pub fn bump_referral(r: &mut Value) {
    let n = r["eTag"].as_str().map_or(0, |s| {
        s.trim_matches('"')
            .trim_start_matches('e')
            .parse::<u64>()
            .unwrap_or(0)
    }) + 1;
    r["eTag"] = json!(format!("\"e{n}\""));
    r["updatedDateTime"] = json!(format!("2026-11-{:02}T10:15:42.0000000Z", (n % 20) + 1));
}

/// Moves a CRM record's version, as the CRM does on every write.
pub fn bump_crm(system: CrmSystem, c: &mut Value) {
    match system {
        CrmSystem::Salesforce => {
            let n = c["SystemModstamp"]
                .as_str()
                .and_then(|s| s.get(17..19))
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
                + 1;
            let t = format!("2026-11-20T10:15:{:02}.000+0000", n % 60);
            c["SystemModstamp"] = json!(t);
            c["LastModifiedDate"] = json!(t);
        }
        CrmSystem::Dynamics365 => {
            let n = c["versionnumber"].as_u64().unwrap_or(0) + 1;
            c["versionnumber"] = json!(n);
            c["@odata.etag"] = json!(format!("W/\"{n}\""));
            c["modifiedon"] = json!(format!("2026-11-20T10:15:{:02}Z", n % 60));
        }
    }
}

/// Sets `value` at a JSON pointer, creating objects on the way (the way Partner Center applies `add`/`replace`).
pub fn set_at(root: &mut Value, pointer: &str, value: Value) {
    let segs: Vec<String> = pointer
        .trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    let mut cur = root;
    for seg in parents {
        if !cur.is_object() && !cur.is_array() {
            *cur = json!({});
        }
        cur = match cur {
            Value::Array(a) => {
                let i: usize = seg.parse().expect("array index");
                a.get_mut(i).expect("array element exists")
            }
            Value::Object(m) => m.entry(seg.clone()).or_insert_with(|| json!({})),
            _ => unreachable!("made an object above"),
        };
    }
    match cur {
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last.parse().expect("array index");
                if i < a.len() {
                    a[i] = value;
                } else {
                    a.push(value);
                }
            }
        }
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        other => {
            let mut m = Map::new();
            m.insert(last.clone(), value);
            *other = Value::Object(m);
        }
    }
}

/// Applies a JSON Patch (only `replace`/`add`) to a referral.
pub fn apply_patch(r: &mut Value, ops: &[PatchOp]) {
    for op in ops {
        assert!(
            op.op == "replace" || op.op == "add",
            "Partner Center supports only replace/add, got {:?}",
            op.op
        );
        if op.op == "replace" {
            assert!(
                r.pointer(&op.path).is_some(),
                "replace of a missing path {}",
                op.path
            );
        }
        set_at(r, &op.path, op.value.clone());
    }
}

/// Applies a CRM write to a record the way the CRM would store it (lookups bound and expanded, a Dynamics close
/// action setting statecode/statuscode).
pub fn apply_crm_write(system: CrmSystem, c: &mut Value, w: &CrmWrite) {
    for (k, v) in &w.fields {
        c[k] = v.clone();
    }
    for l in &w.lookups {
        let key = match system {
            CrmSystem::Dynamics365 => l.bind.clone(),
            CrmSystem::Salesforce => l.entity.clone(),
        };
        if !c[&key].is_object() {
            c[&key] = json!({});
        }
        for (k, v) in &l.keys {
            c[&key][k] = v.clone();
        }
    }
    if let Some(sc) = &w.state_change {
        c["statecode"] = sc.statecode.clone();
        c["statuscode"] = sc.statuscode.clone();
    }
}

/// What the host did for one plan: the records as they now are and the results to commit.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The referral as Partner Center now returns it (`None` when it does not exist).
    pub referral: Option<Value>,
    /// The CRM record as the CRM now returns it (`None` when it does not exist).
    pub crm: Option<Value>,
    /// The results to commit.
    pub results: CommitResults,
}

/// Acts as the host: applies every action of `plan` to the records, moves the versions of the written records and
/// returns the records and the `Applied` results (with the created ids and new versions).
pub fn apply(
    system: CrmSystem,
    plan: &Plan,
    referral: Option<&Value>,
    crm: Option<&Value>,
) -> Applied {
    let mut r = referral.cloned();
    let mut c = crm.cloned();
    let mut pc_written = false;
    let mut crm_written = false;
    let mut created_crm_id: Option<String> = None;
    let mut created_referral_id: Option<String> = None;
    for a in &plan.actions {
        match a {
            Action::UpdateCrmRecord { write, .. } => {
                let rec = c.as_mut().expect("the CRM record exists for an update");
                apply_crm_write(system, rec, write);
                crm_written = true;
            }
            Action::CreateCrmRecord {
                entity, id, write, ..
            } => {
                let lead = *entity == cosell_core::model::CrmEntity::Lead;
                let mut rec = match system {
                    CrmSystem::Salesforce => {
                        let new_id = if lead {
                            "00Q0000000000NEW01"
                        } else {
                            "0060000000000NEW01"
                        };
                        created_crm_id = Some(new_id.to_owned());
                        json!({"attributes": {"type": if lead { "Lead" } else { "Opportunity" }},
                               "Id": new_id,
                               "SystemModstamp": "2026-11-20T10:15:00.000+0000",
                               "LastModifiedDate": "2026-11-20T10:15:00.000+0000"})
                    }
                    CrmSystem::Dynamics365 => {
                        let new_id = id.clone().expect("Dynamics creates carry an id");
                        let key = if lead { "leadid" } else { "opportunityid" };
                        json!({key: new_id, "@odata.etag": "W/\"1\"", "versionnumber": 1,
                               "modifiedon": "2026-11-20T10:15:00Z", "statecode": 0, "statuscode": 1})
                    }
                };
                apply_crm_write(system, &mut rec, write);
                c = Some(rec);
                crm_written = true;
            }
            Action::CloseCrmLead { .. } => {
                // The lead is closed; the link moves to the opportunity created before this action.
                crm_written = true;
            }
            Action::CreateReferral { body } => {
                let mut rec = body.clone();
                rec["id"] = json!("c0ffee00-0000-4000-8000-000000000001");
                rec["eTag"] = json!("\"e1\"");
                rec["updatedDateTime"] = json!("2026-11-20T10:15:42.0000000Z");
                if rec.get("status").is_none() {
                    rec["status"] = json!("New");
                    rec["substatus"] = json!("Pending");
                }
                rec["direction"] = json!("Outgoing");
                created_referral_id = Some("c0ffee00-0000-4000-8000-000000000001".to_owned());
                r = Some(rec);
                pc_written = true;
            }
            Action::StampReferralId { field, .. } => {
                let id = created_referral_id
                    .clone()
                    .expect("the stamp follows the referral's create");
                let rec = c.as_mut().expect("the shared CRM record exists");
                rec[field.as_str()] = json!(id);
                crm_written = true;
            }
            Action::UpdateReferral { patch, .. } => {
                let rec = r.as_mut().expect("the referral exists for an update");
                apply_patch(rec, patch);
                pc_written = true;
            }
            Action::Relink { .. } | Action::MarkOrphaned { .. } => {}
        }
    }
    if pc_written {
        if let Some(rec) = r.as_mut() {
            if created_referral_id.is_none() {
                bump_referral(rec);
            }
        }
    }
    if crm_written {
        if let Some(rec) = c.as_mut() {
            if created_crm_id.is_none()
                && !plan
                    .actions
                    .iter()
                    .any(|a| matches!(a, Action::CreateCrmRecord { .. }))
            {
                bump_crm(system, rec);
            }
        }
    }
    let results = CommitResults {
        partner_center: pc_written.then(|| SideOutcome::Applied {
            id: created_referral_id.clone(),
            version: r.as_ref().map(referral_version).unwrap_or_default(),
        }),
        crm: crm_written.then(|| SideOutcome::Applied {
            id: created_crm_id.clone(),
            version: c
                .as_ref()
                .map(|x| crm_version(system, x))
                .unwrap_or_default(),
        }),
        cause: Some("test".to_owned()),
    };
    Applied {
        referral: r,
        crm: c,
        results,
    }
}

/// Plans a pair, applies the plan as the host would and commits it. Returns the plan, the new records and the
/// commit report.
pub fn sync(
    engine: &mut Engine,
    referral: Option<&Value>,
    crm: Option<&Value>,
) -> (Plan, Applied, CommitReport) {
    let system = engine.mapping().crm();
    let p = plan(engine, referral, crm);
    let applied = apply(system, &p, referral, crm);
    let report = engine
        .commit(&p, &applied.results)
        .expect("commit succeeds");
    (p, applied, report)
}

/// Links an agreeing pair (first sync: summary `Link`, nothing written) and returns the plan.
pub fn link(engine: &mut Engine, referral: &Value, crm: &Value) -> Plan {
    let p = plan(engine, Some(referral), Some(crm));
    assert!(
        p.actions.is_empty(),
        "an agreeing pair links without writes: {p}"
    );
    engine
        .commit(&p, &CommitResults::default())
        .expect("link commit");
    p
}

/// The stored link of the default referral.
pub fn stored_link(engine: &Engine, referral_id: &str) -> Link {
    engine
        .store()
        .link_by_referral(referral_id)
        .expect("store read")
        .expect("link exists")
}

/// Every audit row of a referral.
pub fn audit_of(engine: &Engine, referral_id: &str) -> Vec<AuditRow> {
    engine
        .audit(&AuditQuery {
            referral_id: Some(referral_id.to_owned()),
            ..AuditQuery::default()
        })
        .expect("audit read")
}

/// The refusal codes of a plan.
pub fn codes(p: &Plan) -> Vec<&str> {
    p.refusals.iter().map(|r| r.code.as_str()).collect()
}

/// The write fields of the plan's CRM update or create.
pub fn crm_fields(p: &Plan) -> Map<String, Value> {
    p.crm_patch().map(|w| w.fields.clone()).unwrap_or_default()
}

/// The Partner Center patch of the plan, empty when none.
pub fn pc_ops(p: &Plan) -> Vec<PatchOp> {
    p.partner_center_patch()
        .map(<[PatchOp]>::to_vec)
        .unwrap_or_default()
}

/// A CRM opportunity that exists only in the CRM (not yet shared): no referral id stamped, its own id, flag on,
/// with an account (country) and a contact, one solution.
pub fn crm_only_opportunity(system: CrmSystem) -> Value {
    let mut c = crm_opportunity(system, &referral());
    let o = c.as_object_mut().expect("object");
    match system {
        CrmSystem::Salesforce => {
            o.remove("Referral_Identifier__c");
            o.remove("Referral_Link__c");
            o.insert("Id".into(), json!("006000000000000099"));
        }
        CrmSystem::Dynamics365 => {
            o.remove("cosell_referralidentifier");
            o.remove("cosell_referrallink");
            o.insert(
                "opportunityid".into(),
                json!("aaaaaaaa-1234-4321-abcd-00000000d365"),
            );
        }
    }
    c
}

/// The CRM field names of the built-in profile of `system`, by canonical field (opportunity).
pub fn crm_field(system: CrmSystem, canonical: &str) -> &'static str {
    match (system, canonical) {
        (CrmSystem::Salesforce, "name") => "Name",
        (CrmSystem::Salesforce, "deal_value") => "Amount",
        (CrmSystem::Salesforce, "currency") => "CurrencyIsoCode",
        (CrmSystem::Salesforce, "close_date") => "CloseDate",
        (CrmSystem::Salesforce, "notes") => "Description",
        (CrmSystem::Salesforce, "status") => "StageName",
        (CrmSystem::Salesforce, "solutions") => "Products__c",
        (CrmSystem::Salesforce, "sync_flag") => "Sync_with_Partner_Center__c",
        (CrmSystem::Salesforce, "referral_id") => "Referral_Identifier__c",
        (CrmSystem::Salesforce, "audit") => "Audit__c",
        (CrmSystem::Salesforce, "sync_status") => "Sync_Status__c",
        (CrmSystem::Dynamics365, "name") => "name",
        (CrmSystem::Dynamics365, "deal_value") => "estimatedvalue",
        (CrmSystem::Dynamics365, "close_date") => "estimatedclosedate",
        (CrmSystem::Dynamics365, "notes") => "description",
        (CrmSystem::Dynamics365, "solutions") => "cosell_products",
        (CrmSystem::Dynamics365, "sync_flag") => "cosell_syncwithpartnercenter",
        (CrmSystem::Dynamics365, "referral_id") => "cosell_referralidentifier",
        (CrmSystem::Dynamics365, "audit") => "cosell_audit",
        (CrmSystem::Dynamics365, "sync_status") => "cosell_syncstatus",
        other => panic!("no plain CRM field for {other:?}"),
    }
}

/// The records of a `bench/workload.py` run: per deal, the referral and the CRM record (v1, v2).
pub struct Workload {
    /// `(referral v1, referral v2)` per deal.
    pub referrals: Vec<(Value, Value)>,
    /// `(crm v1, crm v2)` per deal.
    pub crm: Vec<(Value, Value)>,
    /// The manifest (counts of each kind of change).
    pub manifest: Value,
}

fn read_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("workload file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("workload line is JSON"))
        .collect()
}

/// Runs `bench/workload.py n` into a temp dir; `None` when `python3` is not available.
pub fn workload(n: usize, system: CrmSystem) -> Option<Workload> {
    let dir = std::env::temp_dir().join(format!(
        "cosell-workload-{}-{}-{n}",
        std::process::id(),
        system.as_str()
    ));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/workload.py");
    let status = std::process::Command::new("python3")
        .arg(&script)
        .arg(n.to_string())
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let prefix = match system {
        CrmSystem::Salesforce => "salesforce",
        CrmSystem::Dynamics365 => "dynamics",
    };
    let r1 = read_lines(&dir.join("referrals_v1.jsonl"));
    let r2 = read_lines(&dir.join("referrals_v2.jsonl"));
    let c1 = read_lines(&dir.join(format!("{prefix}_v1.jsonl")));
    let c2 = read_lines(&dir.join(format!("{prefix}_v2.jsonl")));
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).expect("manifest"),
    )
    .expect("manifest JSON");
    let _ = std::fs::remove_dir_all(&dir);
    Some(Workload {
        referrals: r1.into_iter().zip(r2).collect(),
        crm: c1.into_iter().zip(c2).collect(),
        manifest,
    })
}

/// Links every v1 pair of a workload (each must link without writes), then plans every v2 pair and checks the
/// summaries against the manifest; applies and commits each v2 plan and checks that re-planning is empty.
pub fn check_workload(system: CrmSystem, n: usize) {
    use cosell_core::plan::Summary;
    let Some(load) = workload(n, system) else {
        eprintln!("python3 not available: workload test skipped");
        return;
    };
    let mut eng = engine(system.as_str());
    for ((r1, _), (c1, _)) in load.referrals.iter().zip(&load.crm) {
        let p = plan(&eng, Some(r1), Some(c1));
        assert_eq!(p.summary, Summary::Link, "{p}");
        assert!(p.actions.is_empty(), "{p}");
        eng.commit(&p, &CommitResults::default()).expect("link");
    }
    let mut counts = std::collections::BTreeMap::<&str, u64>::new();
    for ((r1, r2), (c1, c2)) in load.referrals.iter().zip(&load.crm) {
        let p = plan(&eng, Some(r2), Some(c2));
        let kind = match (r1 != r2, c1 != c2) {
            (false, false) => "unchanged",
            (true, false) => "pc_only",
            (false, true) => "crm_only",
            (true, true) if p.summary == Summary::Converged => "both_same",
            (true, true) => "conflict",
        };
        *counts.entry(kind).or_default() += 1;
        let want = match kind {
            "unchanged" => Summary::Nothing,
            "pc_only" => Summary::UpdateCrm,
            "crm_only" => Summary::UpdatePartnerCenter,
            "both_same" => Summary::Converged,
            _ => Summary::Conflict,
        };
        assert_eq!(p.summary, want, "{kind}: {p}");
        let applied = apply(system, &p, Some(r2), Some(c2));
        eng.commit(&p, &applied.results).expect("commit");
        let again = plan(&eng, applied.referral.as_ref(), applied.crm.as_ref());
        assert!(again.is_empty(), "{kind} echo: {again}");
    }
    for kind in ["unchanged", "pc_only", "crm_only", "both_same", "conflict"] {
        assert_eq!(
            counts.get(kind).copied().unwrap_or(0),
            load.manifest[kind].as_u64().expect("manifest count"),
            "{kind}: {counts:?} vs {}",
            load.manifest
        );
    }
}

/// Connector timeouts and retries for tests against the emulators: they inject faults, not waits (4 attempts,
/// 5 ms first backoff, at most 200 ms between tries).
pub fn fast_http() -> HttpConfig {
    HttpConfig {
        timeout: std::time::Duration::from_secs(5),
        connect_timeout: std::time::Duration::from_secs(2),
        max_attempts: 4,
        backoff: std::time::Duration::from_millis(5),
        max_wait: std::time::Duration::from_millis(200),
    }
}

/// A JSON object's map (an empty one for anything else): connector write bodies in tests.
pub fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
