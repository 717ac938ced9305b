//! The Partner Center Webhooks registration API: events, registration (POST/GET/PUT/DELETE), validation events,
//! their throttle and delivery.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{Answer, Client, start, start_with};
use cosell_emulator::{Options, PartnerCenter, REGISTRATION_PATH, WEBHOOK_EVENTS};
use serde_json::{Value, json};

/// The validation events path.
fn validation_path() -> String {
    format!("{REGISTRATION_PATH}/validationEvents")
}

/// POSTs (or PUTs) a registration.
fn register(client: &Client, method: &str, url: &str, events: &[&str]) -> Answer {
    let body = json!({"WebhookUrl": url, "WebhookEvents": events, "SignatureTokenToMsSignatureHeader": true});
    client.must(method, REGISTRATION_PATH, &[], Some(&body.to_string()))
}

/// A receiver on 127.0.0.1 answering one request with `status` once `go` yields (or at once when `go` is `None`);
/// sends the request body it read on the returned channel.
fn receiver(status: u16, go: Option<mpsc::Receiver<()>>) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/pc/callback",
        listener.local_addr().expect("addr")
    );
    let (sender, received) = mpsc::channel();
    thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream);
        let mut length = 0usize;
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            head.push_str(&line);
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let _ = sender.send(format!("{head}\r\n{}", String::from_utf8_lossy(&body)));
        if let Some(go) = go {
            let _ = go.recv();
        }
        let text = if status == 200 { "OK" } else { "Not Found" };
        let answer = format!(
            "HTTP/1.1 {status} {text}\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
        );
        let _ = reader.get_mut().write_all(answer.as_bytes());
    });
    (url, received)
}

/// Polls the validation event until it is completed.
fn completed(client: &Client, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = client.get(&format!("{}/{id}", validation_path())).json();
        if status["status"] == "completed" || Instant::now() > deadline {
            return status;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Fires a validation event; its correlation id.
fn fire(client: &Client) -> String {
    let answer = client.must("POST", &validation_path(), &[], None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["correlationId"]
        .as_str()
        .expect("correlationId")
        .to_owned()
}

#[test]
fn lists_the_supported_events() {
    let pc = start();
    let answer = Client::new(&pc).get(&format!("{REGISTRATION_PATH}/events"));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), json!(WEBHOOK_EVENTS));
    assert_eq!(
        answer.json(),
        json!([
            "referral-created",
            "referral-updated",
            "related-referral-created",
            "related-referral-updated",
            "test-created"
        ])
    );
}

#[test]
fn registers_reads_and_refuses_a_second_post() {
    let pc = start();
    let client = Client::new(&pc);
    assert_eq!(client.get(REGISTRATION_PATH).status, 404);
    assert_eq!(client.get(REGISTRATION_PATH).error_code(), "itemNotFound");

    let created = register(
        &client,
        "POST",
        "https://sync.example.com/pc/callback",
        &["referral-created", "referral-updated"],
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let body = created.json();
    let subscriber = body["SubscriberId"]
        .as_str()
        .expect("SubscriberId")
        .to_owned();
    assert_eq!(subscriber.len(), 36);
    assert_eq!(body["WebhookUrl"], "https://sync.example.com/pc/callback");
    assert_eq!(
        body["WebhookEvents"],
        json!(["referral-created", "referral-updated"])
    );

    let read = client.get(REGISTRATION_PATH);
    assert_eq!(read.status, 200);
    assert_eq!(read.json(), body);
    let stored = pc.registration().expect("stored");
    assert_eq!(stored["SignatureTokenToMsSignatureHeader"], true);
    assert_eq!(stored["SubscriberId"], subscriber.as_str());

    let again = register(
        &client,
        "POST",
        "https://other.example.com/",
        &["test-created"],
    );
    assert_eq!(again.status, 409);
    assert_eq!(again.error_code(), "conflict");
    assert_eq!(pc.registration(), Some(stored));
}

#[test]
fn put_replaces_or_creates() {
    let pc = start();
    let client = Client::new(&pc);
    let created = register(&client, "PUT", "http://127.0.0.1:9/a", &["test-created"]);
    assert_eq!(created.status, 200, "{}", created.body);
    let subscriber = created.json()["SubscriberId"].clone();

    let replaced = register(
        &client,
        "PUT",
        "https://b.example.com/hook",
        &["referral-updated"],
    );
    assert_eq!(replaced.status, 200);
    assert_eq!(
        replaced.json(),
        json!({"SubscriberId": subscriber, "WebhookUrl": "https://b.example.com/hook", "WebhookEvents": ["referral-updated"]})
    );
    assert_eq!(client.get(REGISTRATION_PATH).json(), replaced.json());
}

#[test]
fn refuses_bad_registrations() {
    let pc = start();
    let client = Client::new(&pc);
    for (url, events) in [
        (
            json!("https://ok.example.com/"),
            json!(["referral-created", "invoice-typo"]),
        ),
        (json!("https://ok.example.com/"), json!([])),
        (json!("https://ok.example.com/"), json!("referral-created")),
        (json!("/relative/path"), json!(["referral-created"])),
        (json!("ftp://host/x"), json!(["referral-created"])),
        (json!("not a url"), json!(["referral-created"])),
        (json!(null), json!(["referral-created"])),
    ] {
        let body = json!({"WebhookUrl": url, "WebhookEvents": events});
        let answer = client.must("POST", REGISTRATION_PATH, &[], Some(&body.to_string()));
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(answer.error_code(), "invalidRequest");
        assert!(!answer.error_message().is_empty());
    }
    let answer = client.must("POST", REGISTRATION_PATH, &[], Some("{not json"));
    assert_eq!(answer.status, 400);
    assert_eq!(pc.registration(), None);
}

#[test]
fn needs_the_token() {
    let pc = start();
    let mut client = Client::new(&pc);
    client.token = None;
    let answer = client.get(&format!("{REGISTRATION_PATH}/events"));
    assert_eq!(answer.status, 401);
    assert_eq!(answer.error_code(), "unauthenticated");
}

#[test]
fn delete_only_behind_its_option() {
    let pc = start();
    let client = Client::new(&pc);
    register(&client, "POST", "https://a.example.com/", &["test-created"]);
    let refused = client.must("DELETE", REGISTRATION_PATH, &[], None);
    assert_eq!(refused.status, 405);
    assert_eq!(refused.header("Allow"), Some("GET, POST, PUT"));
    assert!(pc.registration().is_some());

    let pc = start_with(Options {
        webhook_delete: true,
        ..Options::default()
    });
    let client = Client::new(&pc);
    register(&client, "POST", "https://a.example.com/", &["test-created"]);
    assert_eq!(
        client.must("DELETE", REGISTRATION_PATH, &[], None).status,
        204
    );
    assert_eq!(pc.registration(), None);
    assert_eq!(client.get(REGISTRATION_PATH).status, 404);
    assert_eq!(
        client.must("DELETE", REGISTRATION_PATH, &[], None).status,
        404
    );
    assert_eq!(
        register(&client, "POST", "https://a.example.com/", &["test-created"]).status,
        200
    );
}

#[test]
fn validation_needs_a_registration_with_test_created() {
    let pc = start();
    let client = Client::new(&pc);
    let none = client.must("POST", &validation_path(), &[], None);
    assert_eq!(none.status, 400);
    assert_eq!(none.error_code(), "invalidRequest");
    register(
        &client,
        "POST",
        "https://a.example.com/",
        &["referral-created"],
    );
    assert_eq!(
        client.must("POST", &validation_path(), &[], None).status,
        400
    );
    assert!(pc.validation_events().is_empty());
    let unknown = client.get(&format!(
        "{}/04af2aea-0000-0000-0000-f328001484d1",
        validation_path()
    ));
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_code(), "itemNotFound");
}

#[test]
fn delivers_a_test_event_pending_then_completed() {
    let pc = start();
    let client = Client::new(&pc);
    let (go, wait) = mpsc::channel();
    let (url, received) = receiver(200, Some(wait));
    register(&client, "POST", &url, &["referral-created", "test-created"]);
    let id = fire(&client);

    let request = received
        .recv_timeout(Duration::from_secs(10))
        .expect("delivered");
    let pending = client.get(&format!("{}/{id}", validation_path())).json();
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["results"], json!([]));
    go.send(()).expect("receiver waits");

    assert!(request.starts_with("POST /pc/callback "), "{request}");
    assert!(
        request
            .to_ascii_lowercase()
            .contains("content-type: application/json")
    );
    assert!(!request.to_ascii_lowercase().contains("x-ms-signature"));
    let (_, body) = request.split_once("\r\n\r\n").expect("head and body");
    let event: Value = serde_json::from_str(body).expect("JSON event");
    assert_eq!(event["EventName"], "test-created");
    assert_eq!(event["ResourceName"], "test");
    assert_eq!(event["AuditUri"], Value::Null);
    assert_eq!(
        event["ResourceUri"],
        format!("{}{}/{id}", pc.base_url(), validation_path()).as_str()
    );
    let changed = event["ResourceChangeUtcDate"].as_str().expect("date");
    assert!(
        changed.ends_with("+00:00") && changed.len() == 33,
        "{changed}"
    );

    let status = completed(&client, &id);
    assert_eq!(status["status"], "completed");
    assert_eq!(status["correlationId"], id.as_str());
    assert_eq!(status["partnerId"], "00234d9d-0000-0000-0000-39f8afc6f7f3");
    assert_eq!(status["callbackUrl"], url.as_str());
    let result = &status["results"][0];
    assert_eq!(result["responseCode"], "OK");
    assert_eq!(result["responseMessage"], "");
    assert_eq!(result["systemError"], false);
    let at = result["dateTimeUtc"].as_str().expect("dateTimeUtc");
    assert_eq!(at.len(), 27, "{at}"); // 2024-03-01T10:16:00.0000000

    let fired = pc.validation_events();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0]["event"], event);
    assert_eq!(fired[0]["results"], status["results"]);
}

#[test]
fn records_a_refused_delivery_and_a_closed_port() {
    let pc = start();
    let client = Client::new(&pc);
    let (url, _received) = receiver(404, None);
    register(&client, "POST", &url, &["test-created"]);
    let status = completed(&client, &fire(&client));
    assert_eq!(status["results"][0]["responseCode"], "NotFound");
    assert_eq!(status["results"][0]["responseMessage"], "nope");
    assert_eq!(status["results"][0]["systemError"], false);

    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    register(
        &client,
        "PUT",
        &format!("http://127.0.0.1:{port}/gone"),
        &["test-created"],
    );
    let status = completed(&client, &fire(&client));
    assert_eq!(status["status"], "completed");
    assert_eq!(status["results"][0]["systemError"], true);
    assert_eq!(pc.validation_events().len(), 2);
}

#[test]
fn throttles_validation_events_to_two_per_window() {
    let pc = PartnerCenter::start(Options {
        validation_window_ms: 400,
        ..Options::default()
    })
    .expect("starts");
    let client = Client::new(&pc);
    register(&client, "POST", "http://127.0.0.1:9/x", &["test-created"]);
    let start = Instant::now();
    fire(&client);
    fire(&client);
    let third = client.must("POST", &validation_path(), &[], None);
    assert!(
        start.elapsed() < Duration::from_millis(400),
        "too slow to test the window"
    );
    assert_eq!(third.status, 429);
    assert_eq!(third.error_code(), "tooManyRequests");
    assert_eq!(third.header("Retry-After"), Some("1"));
    assert_eq!(pc.validation_events().len(), 2);

    thread::sleep(Duration::from_millis(450));
    fire(&client);
    assert_eq!(pc.validation_events().len(), 3);
}

#[test]
fn default_window_is_a_minute() {
    let pc = start();
    let client = Client::new(&pc);
    register(&client, "POST", "http://127.0.0.1:9/x", &["test-created"]);
    fire(&client);
    fire(&client);
    let third = client.must("POST", &validation_path(), &[], None);
    assert_eq!(third.status, 429);
    let secs: u64 = third
        .header("Retry-After")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((59..=60).contains(&secs), "{secs}");
}
