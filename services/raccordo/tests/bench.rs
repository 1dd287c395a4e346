//! `raccordo bench <suite> --tiny`: every benchmark suite run once as CI runs it, by the real
//! binary against the pinned nats-server it starts itself, so that the benchmarks keep compiling
//! and working. Nothing here looks at how fast anything was: only that each suite measured what it
//! says, raccordo and its raw baseline over the same messages, with nothing refused or lost.

use std::process::Command;

use serde_json::Value;

/// Runs one suite at its tiny sizes and returns its JSON report.
fn bench(suite: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_raccordo"))
        .args([
            "bench", suite, "--tiny", "--runs", "1", "--format", "json", "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "raccordo bench {suite} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["suite"], suite);
    assert_eq!(report["runs"], 1);
    report
}

/// The one value of a figure (one run), found by its label.
fn figure(report: &Value, label: &str) -> f64 {
    let figures = report["figures"].as_array().unwrap();
    let found = figures
        .iter()
        .find(|f| f["label"] == label)
        .unwrap_or_else(|| panic!("no figure {label:?} in {report:#}"));
    assert_eq!(found["values"].as_array().unwrap().len(), 1, "{label}");
    found["median"].as_f64().unwrap()
}

#[test]
fn ingest_sends_every_command_and_publishes_the_same_messages_raw() {
    let report = bench("ingest");
    for tag in ["always", "lazy"] {
        let label = format!("[{tag}]  2 clients");
        assert_eq!(
            figure(&report, &format!("{label} raccordo commands refused")),
            0.0
        );
        let sent = figure(&report, &format!("{label} raccordo commands sent"));
        assert_eq!(sent, 120.0, "the tiny size is 120 commands");
        assert_eq!(figure(&report, &format!("{label} raw publishes"),), sent);
        assert!(figure(&report, &format!("{label} raccordo commands/s")) > 0.0);
        assert!(figure(&report, &format!("{label} raccordo p99")) > 0.0);
    }
    let open = "[always] open loop at half raccordo's peak";
    assert_eq!(
        figure(&report, &format!("{open}: raccordo commands refused")),
        0.0
    );
    assert_eq!(
        figure(&report, &format!("{open}: raccordo commands sent")),
        figure(&report, &format!("{open}: raw publishes"))
    );
    assert_eq!(
        figure(
            &report,
            "[always]  2 clients, all of raccordo up running: commands refused"
        ),
        0.0
    );
}

#[test]
fn rebuild_applies_every_message_the_raw_read_reads() {
    let report = bench("rebuild");
    let read = figure(&report, "raw: messages read");
    assert_eq!(
        read, 400.0,
        "the ATS's inbox holds every event of the tiny log"
    );
    assert_eq!(figure(&report, "raccordo: messages applied"), read);
    assert!(figure(&report, "sled store on disk") > 0.0);
    assert!(figure(&report, "ratio raccordo/raw") > 0.0);
}

#[test]
fn history_reads_the_same_pathways_at_both_sizes() {
    let report = bench("history");
    for size in ["small log", "large log"] {
        for who in [
            "raccordo history",
            "raw direct get",
            "raw batched get, nothing decoded",
        ] {
            assert!(figure(&report, &format!("{size}: {who} p99")) > 0.0);
        }
    }
    assert!(figure(&report, "p99 large / p99 small (medians)") > 0.0);
}

#[test]
fn reconcile_holds_the_deadlines_and_fires_every_one() {
    let report = bench("reconcile");
    let pending = figure(&report, "deadlines pending after catch-up");
    assert!(
        pending >= 300.0,
        "every opening leaves a deadline: {pending}"
    );
    assert_eq!(figure(&report, "raw: events read"), 300.0);
    assert_eq!(figure(&report, "in memory: findings made"), pending);
    assert!(figure(&report, "raccordo: findings recorded in the log once due") > 0.0);
}
