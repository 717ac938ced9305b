//! The webhook registration connector against the emulator: supported events, registering (and refusing to take over
//! another URL unless asked), the validation event delivered to a local receiver, and its status.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use cosell_core::connect::{EVENTS, StaticToken, Webhooks, WebhooksConfig};
use cosell_emulator::{Options, PartnerCenter as Emulator};

fn emulator() -> Emulator {
    Emulator::start(Options::default()).expect("the emulator starts")
}

fn client(e: &Emulator) -> Webhooks {
    Webhooks::new(
        WebhooksConfig {
            base_url: e.base_url(),
            http: common::fast_http(),
        },
        Box::new(StaticToken::new("test-token")),
    )
    .expect("client")
}

/// A receiver that answers 200 to every request and counts them.
fn receiver() -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/pc/callback",
        listener.local_addr().expect("addr")
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = tx.send(read_request(&mut stream));
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, rx)
}

/// The whole request: headers, then `Content-Length` bytes of body (which may arrive in another segment).
fn read_request(stream: &mut std::net::TcpStream) -> String {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return text;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&data).into_owned(),
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    }
}

#[test]
fn the_supported_events_include_every_event_cosell_registers() {
    let e = emulator();
    let supported = client(&e).supported_events().expect("events");
    for event in EVENTS {
        assert!(
            supported.iter().any(|s| s == event),
            "{event} in {supported:?}"
        );
    }
}

#[test]
fn registering_creates_and_takes_over_only_when_asked() {
    let e = emulator();
    let w = client(&e);
    assert_eq!(w.registration().expect("read"), None);
    let ours = "https://sync.example.com/pc/callback";
    let created = w.register(ours, None, false).expect("create");
    assert_eq!(created.url, ours);
    assert!(created.subscriber_id.is_some());
    assert_eq!(
        w.registration().expect("read").map(|r| r.url).as_deref(),
        Some(ours)
    );
    // Registering the same URL again is harmless.
    w.register(ours, None, false).expect("again");
    // Another URL (say the incumbent's flow) is not replaced without being asked to.
    let theirs = "https://prod-00.westus.logic.azure.example/workflows/x";
    let err = w
        .register(theirs, None, false)
        .expect_err("would take over");
    assert!(err.to_string().contains(ours), "{err}");
    assert_eq!(e.registration().expect("stored")["WebhookUrl"], ours);
    let replaced = w
        .register(theirs, Some(&["referral-created"]), true)
        .expect("replace");
    assert_eq!(replaced.url, theirs);
    assert_eq!(replaced.events, vec!["referral-created".to_owned()]);
}

#[test]
fn the_validation_event_is_delivered_and_its_status_read() {
    let e = emulator();
    let w = client(&e);
    let (url, received) = receiver();
    w.register(&url, None, false).expect("register");
    let id = w.fire_test_event().expect("fire");
    let body = received
        .recv_timeout(Duration::from_secs(5))
        .expect("the receiver got the event");
    assert!(body.contains("test-created"), "{body}");
    let mut status = w.test_event_status(&id).expect("status");
    for _ in 0..50 {
        if status.status == "completed" {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        status = w.test_event_status(&id).expect("status");
    }
    assert_eq!(status.status, "completed");
    assert_eq!(status.results, vec![("OK".to_owned(), false)]);
    assert_eq!(
        w.test_event_status("00000000-0000-0000-0000-000000000000")
            .expect_err("unknown")
            .kind(),
        "not_found"
    );
}
