//! `cosell-emulator`: runs one emulated service on 127.0.0.1 for the demo and for tests in other languages.
//!
//! ```text
//! cosell-emulator partner-center [--port N] [--seed FILE.json] [--token T] [--page-size N]
//!                                [--filter-on-updated] [--idempotent-request-id] [--webhook-delete]
//!                                [--ignore-stdin]
//! cosell-emulator dynamics [--port N] [--seed FILE] [--token T] [--page-size N] [--ignore-stdin]
//! cosell-emulator salesforce [--port N] [--seed FILE] [--token T] [--page-size N] [--ignore-stdin]
//! cosell-emulator auth [--port N] [--token T] [--client-id ID] [--client-secret S] [--instance-url URL]
//!                      [--ignore-stdin]
//! ```
//!
//! `auth` serves the OAuth token endpoints (`/{tenant}/oauth2/v2.0/token`, `/services/oauth2/token`); `--token` is
//! the access token its grants issue.
//!
//! A Dynamics seed file is a JSON object of rows by entity set (`{"opportunities": [...], "accounts": [...]}`), a
//! JSON array of opportunities (or `{"value": [...]}`), or JSON lines of opportunities (`bench/workload.py`'s
//! `dynamics_v1.jsonl`).
//!
//! A Salesforce seed file is a JSON object of records by sObject type (`{"Opportunity": [...], "Lead": [...]}`), a
//! JSON array of records (or `{"records": [...]}`), or JSON lines of records (`bench/workload.py`'s
//! `salesforce_v1.jsonl`); a record without a type key goes by its `attributes.type`, else `Opportunity`.
//!
//! It prints one line, `{"service": "partner-center", "base_url": "http://127.0.0.1:PORT"}` (or `"dynamics"`,
//! `"salesforce"`, `"auth"`),
//! then serves until its
//! standard input closes (the parent holds the pipe) or it is terminated. With `--ignore-stdin` it serves until
//! terminated.

use std::io::{self, Read, Write};
use std::process::ExitCode;

use cosell_emulator::{
    Auth, AuthOptions, Dynamics, DynamicsOptions, Options, PartnerCenter, Salesforce,
    SalesforceOptions,
};
use serde_json::Value;

/// The usage text.
const USAGE: &str = "usage: cosell-emulator partner-center [--port N] [--seed FILE.json] [--token T] [--page-size N] \
                     [--filter-on-updated] [--idempotent-request-id] [--webhook-delete] [--ignore-stdin]\n       \
                     cosell-emulator dynamics [--port N] [--seed FILE] [--token T] [--page-size N] [--ignore-stdin]\n       \
                     cosell-emulator salesforce [--port N] [--seed FILE] [--token T] [--page-size N] [--ignore-stdin]\n       \
                     cosell-emulator auth [--port N] [--token T] [--client-id ID] [--client-secret S] \
                     [--instance-url URL] [--ignore-stdin]";

/// What the command line asked for.
#[derive(Debug, Default)]
struct Command {
    /// `true` for `dynamics`, `false` for `partner-center`.
    dynamics: bool,
    /// `true` for `salesforce`.
    salesforce: bool,
    /// `Some` for `auth`: its options (the port and access token are taken from `options`).
    auth: Option<AuthOptions>,
    /// The emulator's options (for Dynamics: token, page size and port are taken from here).
    options: Options,
    /// A JSON file of referrals to seed: an array, or an object with a `value` array.
    seed: Option<String>,
    /// Serve until terminated rather than until stdin closes.
    ignore_stdin: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let command = match parse(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("cosell-emulator: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cosell-emulator: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the arguments after the program name.
fn parse(args: &[String]) -> Result<Command, String> {
    let mut args = args.iter();
    let (dynamics, salesforce, auth) = match args.next().map(String::as_str) {
        Some("partner-center") => (false, false, None),
        Some("dynamics") => (true, false, None),
        Some("salesforce") => (false, true, None),
        Some("auth") => (false, false, Some(AuthOptions::default())),
        Some(other) => {
            return Err(format!(
                "unknown service '{other}' (known: partner-center, dynamics, salesforce, auth)"
            ));
        }
        None => return Err("no service given".into()),
    };
    let is_auth = auth.is_some();
    let mut command = Command {
        dynamics,
        salesforce,
        auth,
        ..Command::default()
    };
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--port" => {
                command.options.port =
                    value()?.parse().map_err(|_| "--port needs a port number")?;
            }
            "--seed" | "--page-size" if is_auth => {
                return Err(format!("{arg} is not an auth option"));
            }
            "--client-id" | "--client-secret" | "--instance-url" => {
                let given = value()?;
                let Some(auth) = command.auth.as_mut() else {
                    return Err(format!("{arg} is an auth option"));
                };
                match arg.as_str() {
                    "--client-id" => auth.client_id = given,
                    "--client-secret" => auth.client_secret = given,
                    _ => auth.instance_url = Some(given),
                }
            }
            "--seed" => command.seed = Some(value()?),
            "--token" => command.options.token = value()?,
            "--page-size" => {
                command.options.page_size = value()?
                    .parse()
                    .map_err(|_| "--page-size needs a positive number")?;
            }
            "--filter-on-updated" | "--idempotent-request-id" | "--webhook-delete"
                if dynamics || salesforce || is_auth =>
            {
                return Err(format!("{arg} is a partner-center option"));
            }
            "--filter-on-updated" => command.options.filter_on_updated = true,
            "--idempotent-request-id" => command.options.idempotent_request_id = true,
            "--webhook-delete" => command.options.webhook_delete = true,
            "--ignore-stdin" => command.ignore_stdin = true,
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    Ok(command)
}

/// Reads a Dynamics seed file into rows by entity set.
fn dynamics_seed(path: &str) -> Result<Vec<(String, Vec<Value>)>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("cannot read {path}: {error}"))?;
    let expected = || {
        format!(
            "{path}: expected {{\"<entity set>\": [rows]}}, an array of opportunities or JSON lines of them"
        )
    };
    let sets = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(rows)) => vec![("opportunities".to_owned(), rows)],
        Ok(Value::Object(mut fields)) if fields.len() == 1 && fields.contains_key("value") => {
            match fields.remove("value") {
                Some(Value::Array(rows)) => vec![("opportunities".to_owned(), rows)],
                _ => return Err(expected()),
            }
        }
        Ok(Value::Object(fields)) if fields.values().all(Value::is_array) => fields
            .into_iter()
            .map(|(set, rows)| match rows {
                Value::Array(rows) => (set, rows),
                _ => (set, Vec::new()),
            })
            .collect(),
        // One line of JSON lines: a single opportunity.
        Ok(row @ Value::Object(_)) => vec![("opportunities".to_owned(), vec![row])],
        Ok(_) => return Err(expected()),
        Err(_) => {
            let rows = text
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(serde_json::from_str::<Value>)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| format!("{path} is neither JSON nor JSON lines: {error}"))?;
            vec![("opportunities".to_owned(), rows)]
        }
    };
    for (set, rows) in &sets {
        if ![
            "opportunities",
            "leads",
            "accounts",
            "transactioncurrencies",
        ]
        .contains(&set.as_str())
        {
            return Err(format!("{path}: '{set}' is not an emulated entity set"));
        }
        if let Some(index) = rows.iter().position(|row| !row.is_object()) {
            return Err(format!("{path}: {set} row {index} is not a JSON object"));
        }
    }
    Ok(sets)
}

/// Starts the Dynamics emulator; returns its base URL and the running server.
fn start_dynamics(command: &Command) -> Result<(String, Dynamics), String> {
    let seed = match &command.seed {
        Some(path) => dynamics_seed(path)?,
        None => Vec::new(),
    };
    let emulator = Dynamics::start(DynamicsOptions {
        token: command.options.token.clone(),
        page_size: command.options.page_size,
        port: command.options.port,
    })
    .map_err(|error| format!("cannot start: {error}"))?;
    for (set, rows) in seed {
        emulator.seed(&set, rows);
    }
    Ok((emulator.base_url(), emulator))
}

/// Reads a Salesforce seed file into records by sObject type.
fn salesforce_seed(path: &str) -> Result<Vec<(String, Vec<Value>)>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("cannot read {path}: {error}"))?;
    let expected = || {
        format!(
            "{path}: expected {{\"<sObject>\": [records]}}, an array of records, {{\"records\": [...]}} or JSON lines"
        )
    };
    let by_type = |rows: Vec<Value>| {
        let mut sets: Vec<(String, Vec<Value>)> = Vec::new();
        for row in rows {
            let kind = row["attributes"]["type"]
                .as_str()
                .unwrap_or("Opportunity")
                .to_owned();
            match sets.iter_mut().find(|(name, _)| *name == kind) {
                Some((_, rows)) => rows.push(row),
                None => sets.push((kind, vec![row])),
            }
        }
        sets
    };
    let sets = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(rows)) => by_type(rows),
        Ok(Value::Object(mut fields)) if fields.contains_key("records") => {
            match fields.remove("records") {
                Some(Value::Array(rows)) => by_type(rows),
                _ => return Err(expected()),
            }
        }
        Ok(Value::Object(fields)) if !fields.is_empty() && fields.values().all(Value::is_array) => {
            fields
                .into_iter()
                .map(|(kind, rows)| match rows {
                    Value::Array(rows) => (kind, rows),
                    _ => (kind, Vec::new()),
                })
                .collect()
        }
        Ok(row @ Value::Object(_)) => by_type(vec![row]),
        Ok(_) => return Err(expected()),
        Err(_) => {
            let rows = text
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(serde_json::from_str::<Value>)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| format!("{path} is neither JSON nor JSON lines: {error}"))?;
            by_type(rows)
        }
    };
    for (kind, rows) in &sets {
        if !["Opportunity", "Lead"].contains(&kind.as_str()) {
            return Err(format!("{path}: '{kind}' is not an emulated sObject type"));
        }
        if let Some(index) = rows.iter().position(|row| !row.is_object()) {
            return Err(format!(
                "{path}: {kind} record {index} is not a JSON object"
            ));
        }
    }
    Ok(sets)
}

/// Starts the Salesforce emulator; returns its base URL and the running server.
fn start_salesforce(command: &Command) -> Result<(String, Salesforce), String> {
    let seed = match &command.seed {
        Some(path) => salesforce_seed(path)?,
        None => Vec::new(),
    };
    let page_size = if command.options.page_size == Options::default().page_size {
        SalesforceOptions::default().page_size
    } else {
        command.options.page_size
    };
    let emulator = Salesforce::start(SalesforceOptions {
        token: command.options.token.clone(),
        page_size,
        port: command.options.port,
        ..SalesforceOptions::default()
    })
    .map_err(|error| format!("cannot start: {error}"))?;
    for (kind, rows) in seed {
        emulator.seed(&kind, rows);
    }
    Ok((emulator.base_url(), emulator))
}

/// Starts the emulator, prints its address and serves.
fn run(command: Command) -> Result<(), String> {
    if let Some(options) = &command.auth {
        let emulator = Auth::start(AuthOptions {
            access_token: command.options.token.clone(),
            port: command.options.port,
            ..options.clone()
        })
        .map_err(|error| format!("cannot start: {error}"))?;
        let base_url = emulator.base_url();
        return serve("auth", &base_url, command.ignore_stdin, emulator);
    }
    if command.salesforce {
        let (base_url, emulator) = start_salesforce(&command)?;
        return serve("salesforce", &base_url, command.ignore_stdin, emulator);
    }
    if command.dynamics {
        let (base_url, emulator) = start_dynamics(&command)?;
        return serve("dynamics", &base_url, command.ignore_stdin, emulator);
    }
    let seed = match &command.seed {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read {path}: {error}"))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|error| format!("{path} is not JSON: {error}"))?;
            let referrals = match json {
                serde_json::Value::Array(items) => items,
                serde_json::Value::Object(mut fields) => match fields.remove("value") {
                    Some(serde_json::Value::Array(items)) => items,
                    _ => {
                        return Err(format!(
                            "{path}: expected an array of referrals or {{\"value\": [...]}}"
                        ));
                    }
                },
                _ => {
                    return Err(format!(
                        "{path}: expected an array of referrals or {{\"value\": [...]}}"
                    ));
                }
            };
            if let Some(index) = referrals.iter().position(|referral| !referral.is_object()) {
                return Err(format!("{path}: referral {index} is not a JSON object"));
            }
            referrals
        }
        None => Vec::new(),
    };
    let emulator =
        PartnerCenter::start(command.options).map_err(|error| format!("cannot start: {error}"))?;
    emulator.seed(seed);
    let base_url = emulator.base_url();
    serve("partner-center", &base_url, command.ignore_stdin, emulator)
}

/// Prints the service's address, then serves until stdin closes (or forever with `ignore_stdin`).
fn serve<T>(service: &str, base_url: &str, ignore_stdin: bool, emulator: T) -> Result<(), String> {
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "{{\"service\": \"{service}\", \"base_url\": \"{base_url}\"}}"
    )
    .and_then(|()| stdout.flush())
    .map_err(|error| format!("cannot write to stdout: {error}"))?;
    drop(stdout);

    if ignore_stdin {
        loop {
            std::thread::park();
        }
    }
    // Serve until the parent closes our stdin; what it writes there is ignored.
    let mut sink = [0_u8; 1024];
    let mut stdin = io::stdin().lock();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    drop(emulator);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_the_command_line() {
        let command = parse(&args(
            "partner-center --port 0 --seed s.json --token T --page-size 5 --filter-on-updated",
        ))
        .expect("parses");
        assert_eq!(command.options.token, "T");
        assert_eq!(command.options.page_size, 5);
        assert!(command.options.filter_on_updated);
        assert_eq!(command.seed.as_deref(), Some("s.json"));
        assert!(parse(&args("dynamics --port 0")).is_ok_and(|c| c.dynamics));
        assert!(parse(&args("dynamics --filter-on-updated")).is_err());
        assert!(parse(&args("salesforce --port 0 --page-size 3")).is_ok_and(|c| c.salesforce));
        assert!(parse(&args("salesforce --idempotent-request-id")).is_err());
        assert!(
            parse(&args(
                "auth --port 0 --client-id c --client-secret s --instance-url http://x"
            ))
            .is_ok_and(|c| c
                .auth
                .is_some_and(|a| a.client_id == "c" && a.client_secret == "s"))
        );
        assert!(parse(&args("auth --seed s.json")).is_err());
        assert!(parse(&args("dynamics --client-id c")).is_err());
        assert!(parse(&args("sap")).is_err());
        assert!(parse(&args("partner-center --port")).is_err());
        assert!(parse(&args("partner-center --bogus")).is_err());
        assert!(parse(&[]).is_err());
    }
}
