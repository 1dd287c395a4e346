//! The reconciler as an operator meets it through the real binary: `raccordo up` refuses to
//! start on a protocol file it cannot use, naming the file and the reason, and `raccordo
//! reconcile --replay` finds, on the log a demo left, exactly the findings the live reconciler
//! recorded there.
//!
//! The demo test prints how long each run took; see it with `--nocapture`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use raccordo_domain::pathway::finding::FindingKind;
use raccordo_domain::protocol::Protocols;

/// The real binary, with nothing inherited from the caller's environment that would point it
/// elsewhere.
fn raccordo(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_raccordo"));
    command
        .args(args)
        .env_remove("RACCORDO_NATS_URL")
        .env_remove("RACCORDO_STATE_DIR")
        .env_remove("RACCORDO_LISTEN")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs `command` to its end, which must come within `limit`: a child still running then is
/// killed and the test fails. Its output is read as it comes, so that a chatty child never
/// blocks on a full pipe.
fn run_within(command: &mut Command, limit: Duration) -> Output {
    let mut child = command.spawn().expect("the binary starts");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).map(|_| bytes)
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout is piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr is piped")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited on") {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().unwrap().unwrap();
    let stderr = stderr.join().unwrap().unwrap();
    let Some(status) = status else {
        panic!(
            "still running after {limit:?}; stderr:\n{}",
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}

/// The shipped protocol files, copied into `dir`, with `edit` applied to the Magentino's.
fn protocols_folder(dir: &Path, edit: impl Fn(&str) -> String) {
    fs::create_dir_all(dir).unwrap();
    for file in Protocols::embedded_files() {
        let contents = if file.name.starts_with("ovest-milanese-magentino") {
            edit(file.contents)
        } else {
            file.contents.to_owned()
        };
        fs::write(dir.join(file.name), contents).unwrap();
    }
}

/// `raccordo up` on a fresh state folder with the protocols of `protocols`: it must stop on its
/// own, unsuccessfully and before it starts anything. Returns its stderr.
fn up_refuses(tmp: &Path, protocols: &Path) -> String {
    let state = tmp.join("state");
    let began = Instant::now();
    let output = run_within(
        raccordo(&["up", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(&state)
            .arg("--protocols")
            .arg(protocols),
        Duration::from_secs(30),
    );
    println!("raccordo up refused in {:.2?}", began.elapsed());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .contains("error: the protocols cannot be used; raccordo does not start without them"),
        "{stderr}"
    );
    // Refused before anything started: no event log, no reconciler store, no tokens made.
    for made in ["nats", "reconciler", "tokens.csv", "subject.key"] {
        assert!(!state.join(made).exists(), "{made} was created:\n{stderr}");
    }
    stderr
}

#[test]
fn up_does_not_start_with_a_protocol_naming_an_event_the_pathway_does_not_have() {
    let tmp = tempfile::tempdir().unwrap();
    let protocols = tmp.path().join("protocols");
    protocols_folder(&protocols, |text| {
        assert!(text.contains(r#"closed_by = ["received"]"#));
        text.replacen(
            r#"closed_by = ["received"]"#,
            r#"closed_by = ["recieved"]"#,
            1,
        )
    });
    let file = protocols.join("ovest-milanese-magentino.v1.toml");

    let stderr = up_refuses(tmp.path(), &protocols);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in:\n{stderr}"));
    assert!(
        line.contains(&format!("protocol file {}", file.display())),
        "{line}"
    );
    assert!(line.contains("steps[0] (dp-presa-in-carico)"), "{line}");
    assert!(
        line.contains("closed_by: dimissione_protetta has no event 'recieved'"),
        "{line}"
    );
    // It says what the pathway has, so the typo is easy to mend.
    assert!(line.contains("received"), "{line}");
}

#[test]
fn up_does_not_start_with_a_protocol_file_that_is_not_toml() {
    let tmp = tempfile::tempdir().unwrap();
    let protocols = tmp.path().join("protocols");
    protocols_folder(&protocols, str::to_owned);
    let file = protocols.join("zz-notes.toml");
    fs::write(
        &file,
        "Magentino: 2 giorni lavorativi per la presa in carico\n",
    )
    .unwrap();

    let stderr = up_refuses(tmp.path(), &protocols);
    assert!(
        stderr.contains(&format!(
            "protocol file {}: TOML parse error",
            file.display()
        )),
        "{stderr}"
    );
}

/// The `name value` lines a run printed.
fn summary(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

fn succeeded(what: &str, output: &Output) -> String {
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn a_replay_of_the_demos_log_finds_the_findings_the_live_reconciler_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("demo");

    // 120 pathways over 45 days: the smallest demo (of the default seed) in which every kind of
    // finding occurs, so that the comparison covers each of them.
    let began = Instant::now();
    let demo = run_within(
        raccordo(&["demo", "--pathways", "120", "--days", "45", "--state-dir"]).arg(&state),
        Duration::from_secs(300),
    );
    let played = succeeded("raccordo demo", &demo);
    let demo_took = began.elapsed();
    for kind in FindingKind::ALL {
        let reported = played.lines().any(|line| {
            let mut words = line.split_whitespace();
            words.next() == Some(kind.as_str())
                && words.next().and_then(|n| n.parse::<u64>().ok()) > Some(0)
        });
        assert!(reported, "the demo found no {kind}:\n{played}");
    }

    // raccordo is stopped: the replay starts the state folder's own nats-server for the run.
    let began = Instant::now();
    let replay = run_within(
        raccordo(&["reconcile", "--replay", "--state-dir"]).arg(&state),
        Duration::from_secs(120),
    );
    let stdout = succeeded("raccordo reconcile --replay", &replay);
    let replay_took = began.elapsed();
    println!("demo: {demo_took:.1?}; replay: {replay_took:.1?}\n{stdout}");

    let lines = summary(&stdout);
    let number = |name: &str| -> u64 {
        lines
            .get(name)
            .unwrap_or_else(|| panic!("no {name} line in:\n{stdout}"))
            .parse()
            .unwrap()
    };
    assert_eq!(
        lines.get("agrees").map(String::as_str),
        Some("yes"),
        "{stdout}"
    );
    assert!(number("findings_in_log") > 0, "{stdout}");
    assert_eq!(number("findings_replayed"), number("findings_in_log"));
    assert!(number("events") > number("findings_in_log"), "{stdout}");
}
