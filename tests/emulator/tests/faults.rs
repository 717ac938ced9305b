//! Injected faults: throttling, outages, dropped connections (checked with a raw TCP client too), slow answers,
//! lost create answers; and concurrent requests.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{Client, new_referral, seeded, start};
use cosell_emulator::{Faults, PartnerCenter, REFERRALS_PATH};

/// The `host:port` of an emulator.
fn address(pc: &PartnerCenter) -> String {
    pc.base_url().trim_start_matches("http://").to_owned()
}

/// A raw HTTP/1.1 GET with the token, keep-alive.
fn raw_get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer test-token\r\n\r\n")
}

/// Reads one HTTP answer with a `Content-Length` body from a raw stream; returns the head and body.
fn read_answer(stream: &mut TcpStream) -> (String, String) {
    let mut bytes = Vec::new();
    let mut byte = [0_u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("the head arrives");
        assert_eq!(
            n,
            1,
            "the connection closed inside the head: {}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&bytes).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|value| value.parse().ok())
        .expect("a Content-Length");
    let mut body = vec![0_u8; length];
    stream.read_exact(&mut body).expect("the body arrives");
    (head, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn throttled_requests_answer_429_with_retry_after() {
    let pc = start();
    pc.seed(vec![seeded("r1", "New", "Pending")]);
    let client = Client::new(&pc);
    pc.set_faults(Faults {
        throttle: 2,
        retry_after_secs: 3,
        ..Faults::default()
    });
    for _ in 0..2 {
        let answer = client.get_referral("r1");
        assert_eq!(
            (answer.status, answer.error_code()),
            (429, "tooManyRequests".to_owned())
        );
        assert_eq!(answer.header("Retry-After"), Some("3"));
        assert!(answer.header("request-id").is_some());
    }
    assert_eq!(client.get_referral("r1").status, 200);
    let statuses: Vec<Option<u16>> = pc.requests().iter().map(|record| record.status).collect();
    assert_eq!(statuses, [Some(429), Some(429), Some(200)]);
    assert_eq!(
        pc.pending_faults(),
        Faults {
            retry_after_secs: 3,
            ..Faults::default()
        }
    );

    pc.set_faults(Faults {
        throttle: 1,
        retry_after_ms: Some(250),
        ..Faults::default()
    });
    assert_eq!(
        client.get_referral("r1").header("Retry-After"),
        Some("0.250")
    );
    pc.set_faults(Faults {
        throttle: 1,
        ..Faults::default()
    });
    assert_eq!(client.get_referral("r1").header("Retry-After"), Some("0"));
}

#[test]
fn unavailable_answers_503_and_faults_come_in_order() {
    let pc = start();
    pc.seed(vec![seeded("r1", "New", "Pending")]);
    let client = Client::new(&pc);
    pc.set_faults(Faults {
        throttle: 1,
        unavailable: 2,
        retry_after_secs: 1,
        ..Faults::default()
    });
    let statuses: Vec<u16> = (0..4).map(|_| client.get_referral("r1").status).collect();
    assert_eq!(statuses, [429, 503, 503, 200]);
    pc.set_faults(Faults {
        unavailable: 1,
        retry_after_secs: 7,
        ..Faults::default()
    });
    let ops = serde_json::json!([{"op": "replace", "path": "/name", "value": "never"}]);
    let answer = client.patch("r1", &[], &ops);
    assert_eq!(
        (answer.status, answer.error_code()),
        (503, "serviceNotAvailable".to_owned())
    );
    assert_eq!(answer.header("Retry-After"), Some("7"));
    assert_eq!(
        pc.referral("r1").expect("there")["name"],
        "r1",
        "a fault answers before anything is applied"
    );
}

#[test]
fn a_dropped_connection_is_a_connection_error_not_a_status() {
    let pc = start();
    pc.seed(vec![seeded("r1", "New", "Pending")]);
    let client = Client::new(&pc);
    pc.set_faults(Faults {
        drop_connection: 1,
        ..Faults::default()
    });
    let error = client
        .send("GET", &format!("{REFERRALS_PATH}/r1"), &[], None)
        .expect_err("no answer");
    assert!(
        matches!(error, ureq::Error::Io(_)),
        "a connection error, not a status: {error:?}"
    );
    assert_eq!(
        client.get_referral("r1").status,
        200,
        "the next request is served"
    );
    let statuses: Vec<Option<u16>> = pc.requests().iter().map(|record| record.status).collect();
    assert_eq!(statuses, [None, Some(200)]);
}

#[test]
fn a_dropped_connection_closes_without_a_byte_even_when_kept_alive() {
    let pc = start();
    pc.seed(vec![seeded("r1", "New", "Pending")]);
    let path = format!("{REFERRALS_PATH}/r1");
    let mut stream = TcpStream::connect(address(&pc)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    // A first request on the connection is answered...
    stream.write_all(raw_get(&path).as_bytes()).expect("sent");
    let (head, body) = read_answer(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.contains("\"r1\""));
    // ...the second is dropped: the server closes the connection and nothing arrives.
    pc.set_faults(Faults {
        drop_connection: 1,
        ..Faults::default()
    });
    stream.write_all(raw_get(&path).as_bytes()).expect("sent");
    let started = Instant::now();
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => assert!(
            rest.is_empty(),
            "bytes after a drop: {}",
            String::from_utf8_lossy(&rest)
        ),
        Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed, not timed out"
    );
    assert!(rest.is_empty());
}

#[test]
fn a_lost_create_answer_still_creates() {
    let pc = start();
    let client = Client::new(&pc);
    pc.set_faults(Faults {
        lose_create_response: 1,
        ..Faults::default()
    });
    // Reads are not affected.
    assert_eq!(client.list("").status, 200);
    let error = client
        .send(
            "POST",
            REFERRALS_PATH,
            &[],
            Some(&new_referral("lost").to_string()),
        )
        .expect_err("lost");
    assert!(
        matches!(error, ureq::Error::Io(_)),
        "a connection error, not a status: {error:?}"
    );
    let stored = pc.referrals();
    assert_eq!(stored.len(), 1, "the create was applied");
    assert_eq!(stored[0]["name"], "lost");
    let record = pc.requests().pop().expect("recorded");
    assert_eq!((record.method.as_str(), record.status), ("POST", None));
    // The connector can find it by its CRM back-link.
    let found = client
        .list("$filter=externalReferenceId%20eq%20%27crm-lost%27")
        .json();
    assert_eq!(found["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(client.create(&new_referral("kept")).status, 200);
    assert_eq!(pc.referrals().len(), 2);
}

#[test]
fn a_refused_create_does_not_consume_a_lost_answer() {
    let pc = start();
    let client = Client::new(&pc);
    pc.set_faults(Faults {
        lose_create_response: 1,
        ..Faults::default()
    });
    let answer = client.create(&serde_json::json!({"name": "incomplete"}));
    assert_eq!(answer.status, 400);
    assert_eq!(pc.pending_faults().lose_create_response, 1);
}

#[test]
fn every_answer_waits_delay_ms() {
    let pc = start();
    pc.seed(vec![seeded("r1", "New", "Pending")]);
    let client = Client::new(&pc);
    pc.set_faults(Faults {
        delay_ms: 150,
        ..Faults::default()
    });
    let started = Instant::now();
    assert_eq!(client.get_referral("r1").status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    pc.set_faults(Faults::default());
    let started = Instant::now();
    assert_eq!(client.get_referral("r1").status, 200);
    assert!(started.elapsed() < Duration::from_millis(150));
}

#[test]
fn eight_threads_at_once() {
    let pc = start();
    pc.seed(vec![seeded("shared", "New", "Pending")]);
    // With a delay on every answer, eight requests answered one at a time would take 8 x 300 ms.
    pc.set_faults(Faults {
        delay_ms: 300,
        ..Faults::default()
    });
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| assert_eq!(Client::new(&pc).get_referral("shared").status, 200));
        }
    });
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(1500),
        "requests were not served concurrently: {elapsed:?}"
    );

    pc.set_faults(Faults::default());
    pc.clear_requests();
    thread::scope(|scope| {
        for worker in 0..8 {
            let pc = &pc;
            scope.spawn(move || {
                let client = Client::new(pc);
                for round in 0..10 {
                    let created = client.create(&new_referral(&format!("w{worker}-{round}")));
                    assert_eq!(created.status, 200);
                    let id = created.json()["id"].as_str().expect("an id").to_owned();
                    let ops = serde_json::json!([{"op": "add", "path": "/team/-", "value": {"firstName": "T"}}]);
                    assert_eq!(client.patch("shared", &[], &ops).status, 204);
                    assert_eq!(client.get_referral(&id).status, 200);
                }
            });
        }
    });
    assert_eq!(pc.referrals().len(), 81);
    let shared = pc.referral("shared").expect("there");
    assert_eq!(
        shared["team"].as_array().map(Vec::len),
        Some(81),
        "no patch was lost"
    );
    assert_eq!(pc.requests().len(), 240);
    let mut ids: Vec<String> = pc
        .referrals()
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 81);
}

#[test]
fn dropping_the_emulator_closes_its_port() {
    let pc = start();
    let address = address(&pc);
    let client = Client::new(&pc);
    assert_eq!(client.list("").status, 200);
    drop(pc);
    assert!(client.send("GET", REFERRALS_PATH, &[], None).is_err());
    assert!(TcpStream::connect(address).is_err());
}
