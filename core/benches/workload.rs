//! The standard benchmark: `bench/workload.py N DIR` pairs through the engine, one thread, JSON parsing and base
//! look-up included. Prints one JSON line per measurement:
//! `{"bench": "...", "crm": "...", "records": N, "seconds": S, "per_s": R, "seconds_with_input": S2,
//! "per_s_with_input": R2, "runs": K, "per_s_min": .., "per_s_max": ..}`: `seconds` is the engine's time (parsing
//! every record's text, the look-ups, planning, commits and closing the store); `seconds_with_input` adds reading
//! and splitting the input files, which the bench streams in chunks of `PLAN_BATCH` pairs. Each measurement is run
//! `RUNS` times (each link run into a new store) and the median run is reported, with the slowest and fastest
//! beside it: a shared 2-core VM varies by ±10% from run to run.
//!
//! * `link_batched`: first sync of the v1 pairs (all agree), committed to a `SQLite` file in batches of
//!   `LINK_BATCH` pairs per transaction.
//! * `link_per_pair`: the same with one transaction per pair (on the first `PER_PAIR_MAX` pairs).
//! * `plan`: diff3 of the v2 pairs against the stored bases, planned `PLAN_BATCH` pairs per read snapshot
//!   (`Engine::plan_many`); the plan counts are checked against the workload's `manifest.json` (the run fails
//!   on any difference).
//! * `peak_rss`: the process's peak resident memory (`VmHWM`), in MB.
//!
//! Usage: `cargo bench -p cosell-core --bench workload -- DIR` (DIR made by `bench/workload.py`). Set
//! `BENCH_SKIP_PER_PAIR=1` to skip the one-commit-per-pair run, `BENCH_PLAN_ONLY=1` to plan against the stores
//! an earlier run linked (for profiling one phase), `BENCH_LINK_BATCH=N` to link N pairs per transaction, or
//! `BENCH_CRM=salesforce|dynamics` to run one CRM, `BENCH_RUNS=K` to run each measurement K times.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cosell_core::plan::Summary;
use cosell_core::{CommitResults, Engine, Mapping};

/// Pairs committed per transaction when linking (`Engine::transaction`). Links are keyed by random GUIDs, so a
/// transaction dirties index pages all over the store; the more pairs share a transaction, the fewer times each
/// page is written. `BENCH_LINK_BATCH` overrides it.
const LINK_BATCH: usize = 20_000;
/// Pairs planned per read snapshot (`Engine::plan_many`), and per commit (`Engine::commit_many`) when linking.
/// Five runs each, interleaved: 500 planned 107–110k pairs/s, 1,000 planned 93–107k (the smaller batch's plans stay
/// in cache), with 4 MB less peak memory.
const PLAN_BATCH: usize = 500;
/// Runs of each measurement; the median is reported. `BENCH_RUNS` overrides it.
const RUNS: usize = 3;
const PER_PAIR_MAX: usize = 20_000;

/// Streams the pairs of one version (`referrals_<v>.jsonl` beside `<crm>_<v>.jsonl`) in chunks, reusing the
/// chunk's line buffers so that reading input costs one copy per line and no allocation once warm.
struct PairReader {
    referrals: BufReader<File>,
    crm: BufReader<File>,
    chunk: Vec<(String, String)>,
    len: usize,
    limit: usize,
    /// Time spent reading and splitting the input files.
    reading: Duration,
}

impl PairReader {
    fn open(dir: &Path, version: &str, crm: &str, limit: usize) -> PairReader {
        let open = |name: String| {
            let path = dir.join(name);
            let file = File::open(&path).unwrap_or_else(|e| {
                panic!("{}: {e} (run bench/workload.py first)", path.display())
            });
            BufReader::with_capacity(1 << 20, file)
        };
        PairReader {
            referrals: open(format!("referrals_{version}.jsonl")),
            crm: open(format!("{crm}_{version}.jsonl")),
            chunk: Vec::new(),
            len: 0,
            limit,
            reading: Duration::ZERO,
        }
    }

    /// The next up to `n` pairs (empty at the end).
    fn next_chunk(&mut self, n: usize) -> &[(String, String)] {
        let start = Instant::now();
        self.len = 0;
        while self.len < n.min(self.limit) {
            if self.chunk.len() == self.len {
                self.chunk.push((String::new(), String::new()));
            }
            let (r, c) = &mut self.chunk[self.len];
            r.clear();
            c.clear();
            let read_r = self.referrals.read_line(r).expect("read referral line");
            let read_c = self.crm.read_line(c).expect("read CRM line");
            assert_eq!(read_r == 0, read_c == 0, "the two files have as many lines");
            if read_r == 0 {
                break;
            }
            for line in [r, c] {
                if line.ends_with('\n') {
                    line.pop();
                }
            }
            self.len += 1;
        }
        self.limit -= self.len;
        self.reading += start.elapsed();
        &self.chunk[..self.len]
    }
}

/// Prints one measurement: the median of its runs. Each run is `(seconds, with_input)`: `seconds` is the engine's
/// time (parsing, look-ups, planning, commits) without reading the input files; `with_input` is the whole loop,
/// reading included.
fn report(bench: &str, crm: &str, records: usize, runs: &mut [(f64, f64)], extra: &str) {
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (seconds, with_input) = runs[runs.len() / 2];
    let rate = |s: f64| records as f64 / s;
    println!(
        "{{\"bench\": \"{bench}\", \"crm\": \"{crm}\", \"records\": {records}, \"seconds\": {seconds:.3}, \"per_s\": {:.0}, \
         \"seconds_with_input\": {with_input:.3}, \"per_s_with_input\": {:.0}, \"runs\": {}, \"per_s_min\": {:.0}, \
         \"per_s_max\": {:.0}{extra}}}",
        rate(seconds),
        rate(with_input),
        runs.len(),
        rate(runs[runs.len() - 1].0),
        rate(runs[0].0),
    );
}

fn fresh_store(dir: &Path, name: &str) -> String {
    let path: PathBuf = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path.display().to_string()
}

/// Plans a chunk of pairs on one read snapshot.
fn plan_chunk(engine: &Engine, chunk: &[(String, String)]) -> Vec<cosell_core::Plan> {
    engine
        .plan_many(
            chunk
                .iter()
                .map(|(r, c)| (Some(r.as_str()), Some(c.as_str()))),
        )
        .expect("read snapshot")
        .into_iter()
        .map(|p| p.expect("plan pair"))
        .collect()
}

fn link(
    dir: &Path,
    crm: &str,
    mapping: &Mapping,
    batch: usize,
    limit: usize,
) -> (String, usize, f64, f64) {
    let store = fresh_store(dir, &format!("bench-{crm}-{batch}.db"));
    let start = Instant::now();
    let mut engine = Engine::open(&store, mapping.clone()).expect("open store");
    let results = CommitResults::default();
    let mut n = 0;
    let mut input = PairReader::open(dir, "v1", crm, limit);
    let mut done = false;
    while !done {
        // One transaction of `batch` pairs, planned and committed `PLAN_BATCH` at a time (memory stays flat).
        engine
            .transaction(|engine| {
                let mut left = batch;
                while left > 0 {
                    let chunk = input.next_chunk(left.min(PLAN_BATCH));
                    if chunk.is_empty() {
                        done = true;
                        break;
                    }
                    left -= chunk.len();
                    let plans = plan_chunk(engine, chunk);
                    for plan in &plans {
                        assert_eq!(plan.summary, Summary::Link, "v1 pairs agree: {plan}");
                    }
                    let items: Vec<_> = plans.iter().map(|p| (p, &results)).collect();
                    engine.commit_many(&items)?;
                    n += plans.len();
                }
                Ok(())
            })
            .expect("commit");
    }
    // Closing checkpoints the WAL into the store file: part of the work, so inside the timing.
    drop(engine);
    let total = start.elapsed().as_secs_f64();
    (store, n, total - input.reading.as_secs_f64(), total)
}

/// Plans every v2 pair against `store` with a newly opened engine; returns the pairs planned, the engine's seconds,
/// the seconds with input, and the count of each plan summary.
fn plan_all(
    dir: &Path,
    crm: &str,
    store: &str,
    mapping: &Mapping,
) -> (usize, f64, f64, HashMap<Summary, usize>) {
    let engine = Engine::open(store, mapping.clone()).expect("reopen store");
    let mut counts: HashMap<Summary, usize> = HashMap::new();
    let start = Instant::now();
    let mut planned = 0;
    let mut input = PairReader::open(dir, "v2", crm, usize::MAX);
    loop {
        let chunk = input.next_chunk(PLAN_BATCH);
        if chunk.is_empty() {
            break;
        }
        for plan in plan_chunk(&engine, chunk) {
            *counts.entry(plan.summary).or_default() += 1;
            planned += 1;
        }
    }
    let total = start.elapsed().as_secs_f64();
    (planned, total - input.reading.as_secs_f64(), total, counts)
}

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or_else(|| PathBuf::from("bench/out"), PathBuf::from);
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json"))
            .expect("manifest.json (run bench/workload.py first)"),
    )
    .expect("manifest JSON");
    let count = |k: &str| manifest[k].as_u64().expect("manifest count") as usize;
    let expected: HashMap<Summary, usize> = [
        (Summary::UpdateCrm, count("pc_only")),
        (Summary::UpdatePartnerCenter, count("crm_only")),
        (Summary::Conflict, count("conflict")),
        (Summary::Converged, count("both_same")),
        (Summary::Nothing, count("unchanged")),
    ]
    .into();
    let only = std::env::var("BENCH_CRM").ok();
    let runs = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS)
        .max(1);
    for (crm, profile) in [("salesforce", "salesforce"), ("dynamics", "dynamics365")] {
        if only.as_deref().is_some_and(|o| o != crm) {
            continue;
        }
        let mapping = Mapping::builtin(profile).expect("built-in profile");
        let link_batch = std::env::var("BENCH_LINK_BATCH")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(LINK_BATCH);
        let store = if std::env::var("BENCH_PLAN_ONLY").is_ok() {
            // Plan against the store an earlier run linked (for profiling the plan phase alone).
            dir.join(format!("bench-{crm}-{link_batch}.db"))
                .display()
                .to_string()
        } else {
            let mut store = String::new();
            let mut n = 0;
            let mut times = Vec::new();
            for _ in 0..runs {
                let (s, linked, secs, total) = link(&dir, crm, &mapping, link_batch, usize::MAX);
                (store, n) = (s, linked);
                times.push((secs, total));
            }
            report(
                "link_batched",
                crm,
                n,
                &mut times,
                &format!(", \"batch\": {link_batch}"),
            );
            if std::env::var("BENCH_SKIP_PER_PAIR").is_err() {
                let mut times = Vec::new();
                for _ in 0..runs {
                    let (_, linked, secs, total) = link(&dir, crm, &mapping, 1, PER_PAIR_MAX);
                    n = linked;
                    times.push((secs, total));
                }
                report("link_per_pair", crm, n, &mut times, ", \"batch\": 1");
            }
            store
        };

        let mut times = Vec::new();
        let mut counts = HashMap::new();
        let mut planned = 0;
        for _ in 0..runs {
            let (n, secs, total, c) = plan_all(&dir, crm, &store, &mapping);
            (planned, counts) = (n, c);
            times.push((secs, total));
        }
        let shown: Vec<String> = counts
            .iter()
            .map(|(k, v)| format!("\"{}\": {v}", k.as_str()))
            .collect();
        report(
            "plan",
            crm,
            planned,
            &mut times,
            &format!(", \"counts\": {{{}}}", shown.join(", ")),
        );
        assert_eq!(counts, expected, "plan counts differ from manifest.json");
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    println!(
        "{{\"bench\": \"peak_rss\", \"mb\": {:.1}}}",
        hwm_kb / 1024.0
    );
}
