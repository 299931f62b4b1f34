//! Output inspection (`AIRLOCK_BENCH_ONLY=inspect`): the scanner's throughput on mixed text (prose,
//! tracebacks, JSON and CSV rows, dates, addresses, hashes, with personal data sprinkled in)
//! beside a plain byte scan of the same text in the same run, and its latency on 10 KB outputs.

use crate::{row, stats};
use airlock_gateway_domain::{
    outputs::{ruling_for, FindingFacts, OutputAction, OutputPlace},
    policy_input::PolicyInput,
    ports::PolicyEngine,
};
use airlock_gateway_outputs::{counts, mask, Masking, NamedDetector, Scanner};
use std::{
    hint::black_box,
    time::{Duration, Instant},
};

const LINES: &[&str] = &[
    "The quarterly revenue grew 12.5% against 2025, driven by the EMEA region and new accounts.\n",
    "Traceback (most recent call last):\n  File \"/workspace/analysis.py\", line 42, in <module>\n    df = pd.read_csv(path)\nKeyError: 'amount'\n",
    "{\"id\": 18273, \"ts\": \"2026-12-02T15:04:05Z\", \"amount\": 1234.56, \"region\": \"emea\", \"ok\": true}\n",
    "2026-12-02,emea,184,92311.20,0.0412,3f786850e387550fdab836ed7e6dc881de23001b\n",
    "GET /api/v2/orders?page=3 from 10.24.3.117 took 182 ms (upstream 192.168.100.200)\n",
    "   mean      std      min      25%      50%      75%      max\n 0.4821  0.28810  0.00012  0.23411  0.48790  0.72918  0.99987\n",
    "Contact: ann.lee@example.com, +44 20 7946 0958; card 4111 1111 1111 1111; SSN 123-45-6789\n",
];

/// The text, and how many lines of personal data it holds (four findings each).
fn mixed_text(bytes: usize) -> (String, usize) {
    let mut s = String::with_capacity(bytes + 256);
    let mut i = 0usize;
    let mut seeded = 0;
    while s.len() < bytes {
        // Personal data in about one line of fifty.
        let line = if i % 50 == 49 {
            seeded += 1;
            LINES[6]
        } else {
            LINES[i % 6]
        };
        s.push_str(line);
        i += 1;
    }
    (s, seeded)
}

/// MB/s of `f` over `text`, the best of `reps` passes (the machine's noise only slows a pass).
fn throughput(text: &str, reps: usize, f: impl Fn(&str) -> usize) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        black_box(f(black_box(text)));
        best = best.min(t.elapsed().as_secs_f64());
    }
    text.len() as f64 / best / 1e6
}

/// A plain scan: every byte read once and folded.
fn byte_scan(text: &str) -> usize {
    text.bytes().fold(0usize, |a, b| {
        a.wrapping_mul(31).wrapping_add(usize::from(b))
    })
}

pub(crate) fn inspect_rows() {
    let scanner = Scanner::new(&[NamedDetector {
        name: "employee_id".into(),
        pattern: r"\bEMP-[0-9]{6}\b".into(),
    }])
    .unwrap_or_else(|e| panic!("{e}"));
    let (text, seeded) = mixed_text(32 << 20);
    let found = scanner.scan(&text).len();
    // Every seeded value found, and nothing else: no false positive in the rest.
    assert_eq!(found, seeded * 4, "findings against seeded values");
    let scan = throughput(&text, 5, |t| scanner.scan(t).len());
    let plain = throughput(&text, 5, byte_scan);
    println!("| measurement | value |\n|---|---|");
    println!("| inspection throughput, mixed text (one core) | {scan:.0} MB/s |");
    println!("| plain byte scan, same text (baseline) | {plain:.0} MB/s |");
    println!(
        "| findings in {} MiB | {found} (exactly the {} seeded values) |",
        text.len() >> 20,
        seeded * 4
    );
    let output = &text[..10_000];
    let mut times = Vec::with_capacity(5000);
    for _ in 0..200 {
        black_box(scanner.scan(black_box(output)));
    }
    for _ in 0..5000 {
        let t = Instant::now();
        black_box(scanner.scan(black_box(output)));
        times.push(t.elapsed());
    }
    println!("\n| measurement | samples | p50 | p99 |\n|---|---|---|---|");
    row("inspecting a 10 KB output", &stats(times), true);
    row(
        "10 KB with findings in a restricted session: scan, the default bundle's output.inspect, mask",
        &stats(inspected_with_policy(&scanner, output)),
        true,
    );
    println!(
        "\ntarget: >= 200 MB/s per core ({}), <= 1 ms at p99 on 10 KB",
        if scan >= 200.0 { "met" } else { "not met" }
    );
}

/// The whole stage on an output with findings, as the gateway runs it when a detector first
/// finds something: scan, one `output.inspect` decision of the shipped bundle (a session
/// holding restricted data: everything masked), then masking.
fn inspected_with_policy(scanner: &Scanner, output: &str) -> Vec<Duration> {
    let bundle = airlock_policy::Bundle::embedded().unwrap_or_else(|e| panic!("{e}"));
    let policy = airlock_policy::RegoPolicy::new(&bundle).unwrap_or_else(|e| panic!("{e}"));
    let once = || {
        let findings = scanner.scan(output);
        let facts: Vec<FindingFacts> = counts(&findings)
            .into_iter()
            .map(|(detector, count)| FindingFacts {
                detector,
                place: OutputPlace::Stdout,
                count: count as u64,
            })
            .collect();
        let input: PolicyInput = serde_json::from_value(serde_json::json!({
            "action": "output.inspect",
            "principal": {"issuer": "bench", "subject": "bench", "groups": []},
            "session": {"id": "ses_bench", "labels": ["restricted"], "executions": 1},
            "request": {"findings": facts},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let d = policy.decide(&input).unwrap_or_else(|e| panic!("{e}"));
        let rulings = d.obligations.outputs;
        mask(output, &findings, |det| {
            ruling_for(&rulings, det, OutputPlace::Stdout)
                .filter(|r| r.action == OutputAction::Mask)
                .map(|r| {
                    r.keep_last
                        .map_or(Masking::Replace, |n| Masking::KeepLast(n.into()))
                })
        })
    };
    let masked = once();
    assert!(
        masked.contains("[email]"),
        "the bundle masks in restricted sessions"
    );
    for _ in 0..100 {
        black_box(once());
    }
    (0..2000)
        .map(|_| {
            let t = Instant::now();
            black_box(once());
            t.elapsed()
        })
        .collect()
}
