//! A small HTTP client over ureq for the emulator's tests, and sample referrals.

#![allow(dead_code)] // each test binary uses part of this module

use std::time::Duration;

use cosell_emulator::{Options, PartnerCenter, REFERRALS_PATH};
use serde_json::{Value, json};

/// An answer: status, headers, body text.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The headers, names lower case.
    pub headers: Vec<(String, String)>,
    /// The body text.
    pub body: String,
}

impl Answer {
    /// A header by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }

    /// The error code of an error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The error message of an error body.
    pub fn error_message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// A client of one emulator, sending `Authorization: Bearer test-token` unless told otherwise.
pub struct Client {
    /// The ureq agent (statuses are answers, not errors).
    agent: ureq::Agent,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The bearer token sent, if any.
    pub token: Option<String>,
}

impl Client {
    /// A client of `pc` with the default token.
    pub fn new(pc: &PartnerCenter) -> Client {
        Client::at(pc.base_url())
    }

    /// A client of the emulator at `base` (`http://127.0.0.1:PORT`) with the default token.
    pub fn at(base: String) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0) // a Salesforce 300 is an answer, not a redirect
            .timeout_global(Some(Duration::from_secs(20)))
            .build();
        Client {
            agent: config.into(),
            base,
            token: Some("test-token".into()),
        }
    }

    /// Sends a request; `target` is a path (under the base URL) or an absolute URL. Spaces are sent as `%20`.
    pub fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Answer, ureq::Error> {
        let url = if target.starts_with("http") {
            target.to_owned()
        } else {
            format!("{}{target}", self.base)
        }
        .replace(' ', "%20");
        let mut builder = ureq::http::Request::builder().method(method).uri(url);
        if let Some(token) = &self.token {
            builder = builder.header("Authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let response = match body {
            Some(body) => {
                let request = builder
                    .header("Content-Type", "application/json")
                    .body(body.to_owned())?;
                self.agent.run(request)?
            }
            None => self.agent.run(builder.body(())?)?,
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = response.into_body().read_to_string()?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Sends a request that must get an answer.
    pub fn must(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Answer {
        self.send(method, target, headers, body)
            .unwrap_or_else(|error| panic!("{method} {target}: {error}"))
    }

    /// `GET` a path or URL.
    pub fn get(&self, target: &str) -> Answer {
        self.must("GET", target, &[], None)
    }

    /// `GET /referrals/{id}`.
    pub fn get_referral(&self, id: &str) -> Answer {
        self.get(&format!("{REFERRALS_PATH}/{id}"))
    }

    /// `GET /referrals?{query}`.
    pub fn list(&self, query: &str) -> Answer {
        self.get(&format!("{REFERRALS_PATH}?{query}"))
    }

    /// `POST /referrals`.
    pub fn create(&self, referral: &Value) -> Answer {
        self.must("POST", REFERRALS_PATH, &[], Some(&referral.to_string()))
    }

    /// `PATCH /referrals/{id}` with extra headers.
    pub fn patch(&self, id: &str, headers: &[(&str, &str)], ops: &Value) -> Answer {
        self.must(
            "PATCH",
            &format!("{REFERRALS_PATH}/{id}"),
            headers,
            Some(&ops.to_string()),
        )
    }

    /// `PUT /referrals/{id}` with extra headers.
    pub fn put(&self, id: &str, headers: &[(&str, &str)], referral: &Value) -> Answer {
        self.must(
            "PUT",
            &format!("{REFERRALS_PATH}/{id}"),
            headers,
            Some(&referral.to_string()),
        )
    }
}

/// Starts an emulator with default options.
pub fn start() -> PartnerCenter {
    start_with(Options::default())
}

/// Starts an emulator.
pub fn start_with(options: Options) -> PartnerCenter {
    PartnerCenter::start(options).expect("the emulator starts on 127.0.0.1")
}

/// A referral body a create accepts (the required `type`, `customerProfile`, `consent`, `details`, and more).
pub fn new_referral(name: &str) -> Value {
    json!({
        "name": name,
        "type": "Shared",
        "qualification": "SalesQualified",
        "direction": "Outgoing",
        "externalReferenceId": format!("crm-{name}"),
        "customerProfile": {
            "name": "Contoso Ltd", "size": "251to1000employees",
            "address": {"addressLine1": "1 Main St", "city": "Seattle", "state": "WA", "postalCode": "98101",
                        "country": "US"},
            "team": [{"firstName": "Sam", "lastName": "Lee", "email": "sam@contoso.example"}]
        },
        "consent": {"consentToToShareInfoWithOthers": true, "consentToContact": true,
                    "consentToShareReferralWithMicrosoftSellers": true},
        "details": {"notes": "Needs landing zone", "dealValue": 120_000, "currency": "USD",
                    "requirements": {"industries": [], "products": [], "services": [], "solutions": []}},
        "team": [{"firstName": "Ana", "lastName": "Diaz", "email": "ana@partner.example"}]
    })
}

/// A stored referral with id, status and substatus, for seeding.
pub fn seeded(id: &str, status: &str, substatus: &str) -> Value {
    let mut referral = new_referral(id);
    referral["id"] = json!(id);
    referral["engagementId"] = json!(format!("eng-{id}"));
    referral["status"] = json!(status);
    referral["substatus"] = json!(substatus);
    referral
}

/// The `value` ids of a list answer.
pub fn ids(page: &Value) -> Vec<String> {
    page["value"]
        .as_array()
        .expect("a value array")
        .iter()
        .map(|r| r["id"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// The Dataverse Web API path.
pub const API: &str = "/api/data/v9.2";

/// Starts a Dynamics emulator with default options.
pub fn start_dynamics() -> cosell_emulator::Dynamics {
    cosell_emulator::Dynamics::start(cosell_emulator::DynamicsOptions::default())
        .expect("the Dynamics emulator starts on 127.0.0.1")
}

/// A GUID ending in `n` (`00000000-0000-0000-0000-0000000000n`, 12 hex digits in the last group).
pub fn guid(n: u64) -> String {
    format!("00000000-0000-0000-0000-{n:012x}")
}

/// An opportunity row to seed.
pub fn opportunity(id: &str, name: &str) -> Value {
    json!({"opportunityid": id, "name": name, "estimatedvalue": 1000.0, "statecode": 0, "statuscode": 1,
           "_transactioncurrencyid_value": cosell_emulator::USD_CURRENCY_ID,
           "cosell_referralidentifier": format!("ref-{name}")})
}

/// The Salesforce REST API path.
pub const SF: &str = "/services/data/v60.0";

/// Starts a Salesforce emulator with default options.
pub fn start_salesforce() -> cosell_emulator::Salesforce {
    start_salesforce_with(cosell_emulator::SalesforceOptions::default())
}

/// Starts a Salesforce emulator.
pub fn start_salesforce_with(
    options: cosell_emulator::SalesforceOptions,
) -> cosell_emulator::Salesforce {
    cosell_emulator::Salesforce::start(options)
        .expect("the Salesforce emulator starts on 127.0.0.1")
}

/// An 18-character opportunity id ending in `n`, as `bench/workload.py` writes them.
pub fn sf_id(n: u64) -> String {
    format!("006{n:015}")
}

/// An opportunity row to seed, shaped like `bench/workload.py`'s `salesforce_v1.jsonl`.
pub fn sf_opportunity(id: &str, name: &str, referral: &str) -> Value {
    json!({"attributes": {"type": "Opportunity", "url": format!("{SF}/sobjects/Opportunity/{id}")},
           "Id": id, "Name": name, "Amount": 48000.0, "CurrencyIsoCode": "USD", "CloseDate": "2027-09-12",
           "StageName": "Qualification", "Description": "landing zone", "Sync_with_Partner_Center__c": true,
           "Referral_Identifier__c": referral,
           "Referral_Link__c": format!("https://partner.microsoft.com/dashboard/referrals/v2/leads/{referral}"),
           "How_can_Microsoft_help__c": "PostSalesCustomerSuccess", "Products__c": "SOL-1", "Audit__c": "",
           "SystemModstamp": "2026-10-20T10:15:42.000+0000", "LastModifiedDate": "2026-10-20T10:15:42.000+0000"})
}

/// The `errorCode` of a Salesforce error body (a JSON array of errors).
pub fn sf_error(answer: &Answer) -> String {
    answer.json()[0]["errorCode"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
