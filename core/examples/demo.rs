//! The end-to-end demo (`make demo`) until the connectors exist: a Partner Center referral and a Salesforce
//! opportunity, kept in sync in memory through the engine. Each step prints the plan (the dry-run), "applies"
//! it to the in-memory records the way a host would, and commits the outcome; the audit trail is printed last.

use std::collections::BTreeMap;

use cosell_core::plan::{Action, Plan};
use cosell_core::store::AuditQuery;
use cosell_core::{CommitResults, Engine, Mapping, SideOutcome};
use serde_json::{Value, json};

/// The two systems, as a host sees them.
struct World {
    referral: Option<Value>,
    opportunity: Option<Value>,
    clock: u32,
}

impl World {
    fn tick(&mut self) -> String {
        self.clock += 1;
        format!("2026-11-24T10:{:02}:00.000+0000", self.clock)
    }

    /// Applies a plan's writes to the records the way a host or connector would, and reports the outcomes.
    fn apply(&mut self, plan: &Plan) -> CommitResults {
        let mut results = CommitResults {
            cause: Some("demo".into()),
            ..CommitResults::default()
        };
        for action in &plan.actions {
            match action {
                Action::UpdateCrmRecord { write, .. } => {
                    let stamp = self.tick();
                    let opp = self.opportunity.as_mut().expect("the opportunity exists");
                    for (field, value) in &write.fields {
                        opp[field] = value.clone();
                    }
                    opp["LastModifiedDate"] = json!(stamp);
                    opp["SystemModstamp"] = json!(stamp);
                    results.crm = Some(applied(None, &stamp));
                }
                Action::UpdateReferral { patch, .. } => {
                    let referral = self.referral.as_mut().expect("the referral exists");
                    for op in patch {
                        if let Some(slot) = referral.pointer_mut(&op.path) {
                            *slot = op.value.clone();
                        }
                    }
                    let etag = format!("\"e{}\"", self.clock);
                    referral["eTag"] = json!(etag);
                    results.partner_center = Some(SideOutcome::Applied {
                        id: None,
                        version: cosell_core::model::Version {
                            etag: Some(etag),
                            ..Default::default()
                        },
                    });
                }
                Action::CreateReferral { body } => {
                    let mut referral = body.clone();
                    referral["id"] = json!("7d1c0a52-0000-4000-8000-00000000d3m0");
                    referral["eTag"] = json!("\"e-new\"");
                    self.referral = Some(referral);
                    results.partner_center = Some(SideOutcome::Applied {
                        id: Some("7d1c0a52-0000-4000-8000-00000000d3m0".into()),
                        version: cosell_core::model::Version::default(),
                    });
                }
                Action::StampReferralId { field, .. } => {
                    let stamp = self.tick();
                    let opp = self.opportunity.as_mut().expect("the opportunity exists");
                    opp[field.as_str()] = json!("7d1c0a52-0000-4000-8000-00000000d3m0");
                    opp["LastModifiedDate"] = json!(stamp);
                    results.crm = Some(applied(None, &stamp));
                }
                other => println!("  (the demo host does not apply {other:?})"),
            }
        }
        results
    }
}

fn applied(id: Option<String>, stamp: &str) -> SideOutcome {
    SideOutcome::Applied {
        id,
        version: cosell_core::model::Version {
            etag: None,
            modified: Some(stamp.to_owned()),
            stamp: Some(stamp.to_owned()),
        },
    }
}

fn step(engine: &mut Engine, world: &mut World, title: &str) -> Result<(), cosell_core::Error> {
    println!("\n== {title}");
    let referral = world.referral.as_ref().map(Value::to_string);
    let opportunity = world.opportunity.as_ref().map(Value::to_string);
    let plan = engine.plan_json(referral.as_deref(), opportunity.as_deref())?;
    print!("{plan}");
    let results = world.apply(&plan);
    let report = engine.commit(&plan, &results)?;
    match (report.link_id, report.status) {
        (Some(link), Some(status)) => println!("  committed: link {link}, status {status}"),
        _ => println!("  committed: no link (nothing was linked)"),
    }
    Ok(())
}

fn main() -> Result<(), cosell_core::Error> {
    let mapping = Mapping::builtin("salesforce")?;
    let mut engine = Engine::open(":memory:", mapping)?;
    let mut world = World {
        referral: Some(json!({
            "id": "5b0e6c1d-aaaa-bbbb-cccc-0123456789ab", "name": "Contoso - Azure migration",
            "status": "Active", "substatus": "Accepted", "direction": "Outgoing", "type": "Shared",
            "eTag": "\"e0\"", "updatedDateTime": "2026-11-20T09:00:00.0000000Z",
            "customerProfile": {"name": "Contoso Ltd", "address": {"country": "US", "postalCode": "98101"}},
            "details": {"notes": "Needs landing zone", "dealValue": 120_000, "currency": "USD",
                        "closingDateTime": "2027-06-30T00:00:00Z",
                        "requirements": {"solutions": [{"id": "SOL-12345-ABC", "type": "Name"}]}},
            "inviteContext": {"assistanceRequestCode": "QuotesOrLicensing"}
        })),
        opportunity: Some(json!({
            "attributes": {"type": "Opportunity"}, "Id": "0065g00000DemoAAA", "Name": "Contoso - Azure migration",
            "Amount": 120_000.0, "CurrencyIsoCode": "USD", "CloseDate": "2027-06-30",
            "Description": "Needs landing zone", "StageName": "Qualification",
            "Sync_with_Partner_Center__c": true, "Referral_Identifier__c": "5b0e6c1d-aaaa-bbbb-cccc-0123456789ab",
            "Products__c": "SOL-12345-ABC", "Audit__c": "",
            "LastModifiedDate": "2026-11-20T09:00:00.000+0000", "SystemModstamp": "2026-11-20T09:00:00.000+0000"
        })),
        clock: 0,
    };

    step(
        &mut engine,
        &mut world,
        "1. first sync: both sides agree, the base is recorded",
    )?;

    world.referral.as_mut().expect("referral")["details"]["dealValue"] = json!(150_000);
    world.referral.as_mut().expect("referral")["updatedDateTime"] =
        json!("2026-11-24T09:30:00.0000000Z");
    step(
        &mut engine,
        &mut world,
        "2. Partner Center raises the deal value: only that field goes to the CRM",
    )?;

    step(
        &mut engine,
        &mut world,
        "3. re-plan after commit: our own write is not an echo",
    )?;

    world.opportunity.as_mut().expect("opportunity")["Name"] =
        json!("Contoso - Azure landing zone");
    world.opportunity.as_mut().expect("opportunity")["StageName"] = json!("Closed Won");
    step(
        &mut engine,
        &mut world,
        "4. the seller renames and wins the deal in Salesforce",
    )?;

    world.referral.as_mut().expect("referral")["details"]["notes"] = json!("PC notes");
    world.opportunity.as_mut().expect("opportunity")["Description"] = json!("CRM notes");
    step(
        &mut engine,
        &mut world,
        "5. both sides edit the notes: a conflict, settled by the field's policy (Partner Center owns notes)",
    )?;

    println!(
        "\n== 6. a new opportunity without a solution is not shared, with the reason written back"
    );
    let mut other = World {
        referral: None,
        opportunity: Some(json!({
            "attributes": {"type": "Opportunity"}, "Id": "0065g00000DemoBBB", "Name": "Fabrikam - Copilot",
            "Amount": 40000.0, "CurrencyIsoCode": "EUR", "StageName": "Prospecting",
            "Sync_with_Partner_Center__c": true, "Account": {"Name": "Fabrikam", "BillingCountry": "DE"},
            "LastModifiedDate": "2026-11-24T08:00:00.000+0000"
        })),
        clock: 30,
    };
    let opp = other.opportunity.as_ref().map(Value::to_string);
    let plan = engine.plan_json(None, opp.as_deref())?;
    print!("{plan}");
    let results = other.apply(&plan);
    engine.commit(&plan, &results)?;

    other.opportunity.as_mut().expect("opportunity")["Products__c"] = json!("SOL-777-XYZ");
    step(
        &mut engine,
        &mut other,
        "7. with a solution id it is shared as a new co-sell referral",
    )?;

    println!("\n== audit trail");
    let mut by_action: BTreeMap<String, usize> = BTreeMap::new();
    for row in engine.audit(&AuditQuery::default())? {
        let e = &row.entry;
        *by_action.entry(e.action.clone()).or_default() += 1;
        let fields: Vec<String> = e
            .changes
            .iter()
            .map(|c| format!("{}: {} -> {}", c.field, c.before, c.after))
            .collect();
        println!(
            "  #{:<2} {:<22} {:<9} {:<17} {}{}",
            row.id,
            e.action,
            e.outcome,
            e.direction,
            fields.join("; "),
            e.reason
                .as_ref()
                .map(|r| format!("  ({r})"))
                .unwrap_or_default()
        );
    }
    println!(
        "\n{} audit rows: {by_action:?}",
        by_action.values().sum::<usize>()
    );
    Ok(())
}
