//! The `cosell-emulator` binary: prints its address, serves seeded referrals, stops when stdin closes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Waits up to `limit` for the child to exit; kills it (and fails) otherwise.
fn wait_for_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("the child can be polled") {
            return status;
        }
        if started.elapsed() > limit {
            child.kill().ok();
            panic!("the emulator did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serves_until_stdin_closes() {
    let seed =
        std::env::temp_dir().join(format!("cosell-emulator-seed-{}.json", std::process::id()));
    std::fs::write(&seed, r#"{"value": [{"id": "seeded-1", "name": "Contoso", "status": "New", "substatus": "Pending"}]}"#)
        .expect("the seed file is written");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosell-emulator"))
        .args(["partner-center", "--port", "0", "--token", "T"])
        .arg("--seed")
        .arg(&seed)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("one line");
    std::fs::remove_file(&seed).ok();
    let announced: serde_json::Value = serde_json::from_str(&line).expect("the line is JSON");
    assert_eq!(announced["service"], "partner-center");
    let base_url = announced["base_url"]
        .as_str()
        .expect("a base_url")
        .to_owned();
    assert!(base_url.starts_with("http://127.0.0.1:"), "{base_url}");
    assert_eq!(
        line.trim_end(),
        format!("{{\"service\": \"partner-center\", \"base_url\": \"{base_url}\"}}")
    );

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{base_url}/v1.0/engagements/referrals/seeded-1");
    let mut answer = agent
        .get(&url)
        .header("Authorization", "Bearer T")
        .call()
        .expect("an answer");
    assert_eq!(answer.status().as_u16(), 200);
    let referral: serde_json::Value =
        serde_json::from_str(&answer.body_mut().read_to_string().expect("a body")).expect("JSON");
    assert_eq!(referral["name"], "Contoso");
    let answer = agent
        .get(&url)
        .header("Authorization", "Bearer test-token")
        .call()
        .expect("an answer");
    assert_eq!(answer.status().as_u16(), 401);

    // Writing to stdin does nothing; closing it stops the server.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(b"ignored\n").expect("written");
    drop(stdin);
    let status = wait_for_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert!(agent.get(&url).call().is_err(), "the port is closed");
}

#[test]
fn bad_arguments_exit_with_usage() {
    for args in [
        &["salesforce", "--filter-on-updated"][..],
        &["salesforce", "--seed", "/nonexistent.jsonl"],
        &["sap"],
        &["dynamics", "--filter-on-updated"],
        &["partner-center", "--port", "x"],
        &["partner-center", "--seed", "/nonexistent.json"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_cosell-emulator"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("the binary runs");
        assert!(!output.status.success(), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("cosell-emulator:"),
            "{args:?}"
        );
    }
}

#[test]
fn dynamics_serves_seeded_json_lines() {
    let seed = std::env::temp_dir().join(format!(
        "cosell-emulator-dynamics-{}.jsonl",
        std::process::id()
    ));
    std::fs::write(
        &seed,
        "{\"opportunityid\": \"00000000-0000-0000-0000-0000000000a1\", \"name\": \"Contoso\", \"versionnumber\": 7}\n",
    )
    .expect("the seed file is written");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosell-emulator"))
        .args(["dynamics", "--port", "0", "--token", "T"])
        .arg("--seed")
        .arg(&seed)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("one line");
    std::fs::remove_file(&seed).ok();
    let announced: serde_json::Value = serde_json::from_str(&line).expect("the line is JSON");
    assert_eq!(announced["service"], "dynamics");
    let base_url = announced["base_url"]
        .as_str()
        .expect("a base_url")
        .to_owned();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url =
        format!("{base_url}/api/data/v9.2/opportunities(00000000-0000-0000-0000-0000000000a1)");
    let mut answer = agent
        .get(&url)
        .header("Authorization", "Bearer T")
        .call()
        .expect("an answer");
    assert_eq!(answer.status().as_u16(), 200);
    let row: serde_json::Value =
        serde_json::from_str(&answer.body_mut().read_to_string().expect("a body")).expect("JSON");
    assert_eq!(row["name"], "Contoso");
    assert_eq!(row["@odata.etag"], "W/\"7\"");
    drop(child.stdin.take());
    let status = wait_for_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status}");
}

#[test]
fn salesforce_serves_the_workload_json_lines() {
    let seed = std::env::temp_dir().join(format!(
        "cosell-emulator-salesforce-{}.jsonl",
        std::process::id()
    ));
    std::fs::write(
        &seed,
        concat!(
            r#"{"attributes":{"type":"Opportunity","url":"/services/data/v60.0/sobjects/Opportunity/006000000000000000"},"#,
            r#""Id":"006000000000000000","Name":"Customer 0","StageName":"Qualification","CloseDate":"2027-09-12","#,
            r#""LastModifiedDate":"2026-10-20T10:15:42.000+0000","SystemModstamp":"2026-10-20T10:15:42.000+0000"}"#,
            "\n"
        ),
    )
    .expect("the seed file is written");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosell-emulator"))
        .args(["salesforce", "--port", "0", "--token", "T"])
        .arg("--seed")
        .arg(&seed)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("one line");
    std::fs::remove_file(&seed).ok();
    let announced: serde_json::Value = serde_json::from_str(&line).expect("the line is JSON");
    assert_eq!(announced["service"], "salesforce");
    let base_url = announced["base_url"]
        .as_str()
        .expect("a base_url")
        .to_owned();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{base_url}/services/data/v60.0/sobjects/Opportunity/006000000000000000");
    let mut answer = agent
        .get(&url)
        .header("Authorization", "Bearer T")
        .call()
        .expect("an answer");
    assert_eq!(answer.status().as_u16(), 200);
    let record: serde_json::Value =
        serde_json::from_str(&answer.body_mut().read_to_string().expect("a body")).expect("JSON");
    assert_eq!(record["Name"], "Customer 0");
    assert_eq!(record["LastModifiedDate"], "2026-10-20T10:15:42.000+0000");
    drop(child.stdin.take());
    let status = wait_for_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status}");
}
