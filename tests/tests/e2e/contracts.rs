//! The published bus contracts in `contracts/`: the JSON Schema of every event type, the golden
//! examples, and the AsyncAPI document. These tests keep code, schemas and examples in agreement,
//! and keep every published version readable (ARCHITECTURE.md §4). Besides the pathways' events
//! (stream `RACCORDO`) the audit trail's events are published too (stream `RACCORDO_AUDIT`).
//!
//! `RACCORDO_BLESS=1` makes the schema test (re)write the schema files from the code instead of
//! comparing them. Golden examples are never rewritten: they are what consumers were promised.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use async_nats::HeaderMap;
use raccordo_domain::ids::{CommandId, EventId, OrgId, PathwayId};
use raccordo_domain::pathway::{DecodeError, EventData};
use raccordo_domain::timeline::{HISTORY_REPLAYED, Replayed};
use raccordo_eventlog::{audit, codec};
use serde_json::Value;
use time::OffsetDateTime;

const SCHEMA_SUFFIX: &str = ".schema.json";
const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

fn contracts_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts"))
}

fn events_dir() -> PathBuf {
    contracts_dir().join("events")
}

fn schema_path(event_type: &str) -> PathBuf {
    events_dir().join(format!("{event_type}{SCHEMA_SUFFIX}"))
}

fn blessing() -> bool {
    std::env::var("RACCORDO_BLESS").is_ok_and(|v| v == "1")
}

/// The event types of the audit trail, which are not events of a pathway.
const AUDIT_TYPES: [&str; 1] = [HISTORY_REPLAYED];

fn is_audit(event_type: &str) -> bool {
    AUDIT_TYPES.contains(&event_type)
}

/// Every event type the code has, with its schema exactly as it is published: pretty-printed
/// JSON with a trailing newline.
fn generated_schemas() -> Vec<(String, String)> {
    EventData::schemas()
        .into_iter()
        .chain([(HISTORY_REPLAYED.to_owned(), Replayed::schema())])
        .map(|(event_type, schema)| {
            let mut text = serde_json::to_string_pretty(&schema).expect("schemas serialise");
            text.push('\n');
            (event_type, text)
        })
        .collect()
}

fn code_types() -> BTreeSet<String> {
    generated_schemas().into_iter().map(|(t, _)| t).collect()
}

/// The event types that have a published schema file.
fn published_types() -> BTreeSet<String> {
    fs::read_dir(events_dir())
        .expect("contracts/events is readable")
        .map(|entry| entry.expect("a directory entry").file_name())
        .filter_map(|name| {
            name.to_str()
                .and_then(|n| n.strip_suffix(SCHEMA_SUFFIX))
                .map(str::to_owned)
        })
        .collect()
}

fn read_json(path: &Path) -> Value {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// One golden example: a whole bus message as a consumer receives it.
#[derive(Debug)]
struct Example {
    path: PathBuf,
    /// The directory the example is filed under: the event type it is an example of.
    event_type: String,
    subject: String,
    headers: BTreeMap<String, String>,
    data: Value,
}

impl Example {
    fn read(path: PathBuf, event_type: &str) -> Self {
        let json = read_json(&path);
        let shown = path.display().to_string();
        let object = json
            .as_object()
            .unwrap_or_else(|| panic!("{shown}: not a JSON object"));
        let keys: BTreeSet<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["data", "headers", "subject"]),
            "{shown}: an example has exactly subject, headers and data"
        );
        let subject = json["subject"]
            .as_str()
            .unwrap_or_else(|| panic!("{shown}: subject is not a string"))
            .to_owned();
        let headers = json["headers"]
            .as_object()
            .unwrap_or_else(|| panic!("{shown}: headers is not an object"))
            .iter()
            .map(|(name, value)| {
                let value = value
                    .as_str()
                    .unwrap_or_else(|| panic!("{shown}: header {name} is not a string"));
                (name.clone(), value.to_owned())
            })
            .collect();
        Self {
            path,
            event_type: event_type.to_owned(),
            subject,
            headers,
            data: json["data"].clone(),
        }
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("{}: no header {name}", self.path.display()))
    }

    fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            map.insert(name.as_str(), value.as_str());
        }
        map
    }
}

/// Every golden example, by the event type it is filed under.
fn examples() -> Vec<Example> {
    let root = events_dir().join("examples");
    let mut found = Vec::new();
    let mut dirs: Vec<_> = fs::read_dir(&root)
        .expect("contracts/events/examples is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    dirs.sort();
    for dir in dirs {
        assert!(
            dir.is_dir(),
            "{}: examples are filed in a directory per event type",
            dir.display()
        );
        let event_type = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("an event type is UTF-8")
            .to_owned();
        let mut files: Vec<_> = fs::read_dir(&dir)
            .expect("an examples directory is readable")
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        files.sort();
        for file in files {
            assert!(
                file.extension().is_some_and(|e| e == "json"),
                "{}: examples are .json files",
                file.display()
            );
            found.push(Example::read(file, &event_type));
        }
    }
    found
}

#[test]
fn committed_schemas_are_the_ones_the_code_generates() {
    let generated = generated_schemas();
    assert!(!generated.is_empty(), "the code publishes no event type");
    if blessing() {
        fs::create_dir_all(events_dir()).expect("contracts/events can be created");
        for (event_type, text) in &generated {
            fs::write(schema_path(event_type), text).expect("a schema file can be written");
        }
        return;
    }
    let mut differing = Vec::new();
    for (event_type, text) in &generated {
        match fs::read_to_string(schema_path(event_type)) {
            Ok(committed) if committed == *text => {}
            Ok(_) => differing.push(format!("{event_type}: differs from the code")),
            Err(e) => differing.push(format!("{event_type}: {e}")),
        }
    }
    assert!(
        differing.is_empty(),
        "contracts/events disagrees with the code:\n  {}\n\
         A new event type: rerun with RACCORDO_BLESS=1 to write its schema. A changed published \
         type is a breaking change: publish it as a new version (v2) instead.",
        differing.join("\n  ")
    );
}

#[test]
fn every_published_schema_is_of_a_type_the_code_still_decodes() {
    let published = published_types();
    assert!(!published.is_empty(), "contracts/events holds no schema");
    for event_type in published.iter().filter(|t| !is_audit(t)) {
        // Any body will do: only an unknown type is refused before the body is looked at.
        let outcome = EventData::from_type_and_body(event_type, Value::Null);
        assert!(
            !matches!(outcome, Err(DecodeError::UnknownType(_))),
            "{event_type} is published but the code no longer decodes it: published versions stay \
             readable for as long as the log may hold them"
        );
    }
}

#[test]
fn golden_examples_validate_against_their_schemas_and_decode() {
    let examples = examples();
    assert!(!examples.is_empty(), "there are no golden examples");
    let mut validators = BTreeMap::new();
    let mut decoded = Vec::new();
    let mut audited = Vec::new();
    for example in &examples {
        let shown = example.path.display().to_string();
        let validator = validators
            .entry(example.event_type.clone())
            .or_insert_with(|| {
                let path = schema_path(&example.event_type);
                assert!(path.is_file(), "{shown}: no schema {}", path.display());
                jsonschema::options()
                    .should_validate_formats(true)
                    .build(&read_json(&path))
                    .unwrap_or_else(|e| panic!("{}: not a valid JSON Schema: {e}", path.display()))
            });
        let errors: Vec<String> = validator
            .iter_errors(&example.data)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{shown}: data does not match its schema:\n  {}",
            errors.join("\n  ")
        );

        if is_audit(&example.event_type) {
            audited.push((shown, audit_example(example)));
            continue;
        }

        let body = serde_json::to_vec(&example.data).expect("JSON serialises");
        let recorded = codec::decode(&example.subject, &example.header_map(), &body, 1)
            .unwrap_or_else(|e| panic!("{shown}: does not decode: {e}"));
        let event = &recorded.event;
        assert_eq!(
            event.data.event_type(),
            example.event_type,
            "{shown}: filed under the wrong type"
        );
        assert_eq!(
            example.header(codec::TYPE),
            example.event_type,
            "{shown}: ce-type"
        );
        assert_eq!(
            event.data.to_body(),
            example.data,
            "{shown}: data does not survive decoding"
        );

        // The headers are exactly those the codec writes for this event, plus the trace context.
        let (encoded, _) = codec::encode(event);
        let mut expected = BTreeMap::new();
        for (name, values) in encoded.iter() {
            let value = values
                .last()
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            expected.insert(name.to_string(), value);
        }
        let mut actual = example.headers.clone();
        let traceparent = actual.remove(TRACEPARENT);
        actual.remove(TRACESTATE);
        assert_eq!(
            actual, expected,
            "{shown}: headers are not what the codec writes"
        );
        let traceparent = traceparent
            .unwrap_or_else(|| panic!("{shown}: a golden example carries a traceparent"));
        assert!(
            is_traceparent(&traceparent),
            "{shown}: malformed traceparent {traceparent}"
        );
        assert_eq!(
            example.subject,
            codec::subject_of(&event.pathway),
            "{shown}: subject"
        );

        // Ids are derived the way raccordo derives them, so that examples show real relations:
        // an opening command's event id from its organisation and command id, and its pathway id
        // from that event id; any other command's event id also from the pathway it acts on.
        let org: OrgId = example
            .header(codec::SOURCE)
            .parse()
            .expect("decoded already");
        let command: CommandId = example
            .header(codec::COMMAND_ID)
            .parse()
            .expect("decoded already");
        let opening = EventId::derive(&org, &command, event.pathway.kind());
        let opens = event.id == opening
            && PathwayId::derive(event.pathway.kind(), &opening) == event.pathway;
        assert!(
            opens || event.id == EventId::derive_on(&org, &command, &event.pathway),
            "{shown}: ce-id is not derived from ce-source, the command id and the pathway"
        );
        assert!(
            is_lower_hex(&event.command_digest, 32),
            "{shown}: command digest is not 32 lowercase hex digits"
        );
        decoded.push((shown, opens, recorded.event));
    }

    // Examples come in whole pathways: every pathway an example is on was opened by an example,
    // no later than the example itself.
    let opened: BTreeMap<&PathwayId, OffsetDateTime> = decoded
        .iter()
        .filter(|(_, opens, _)| *opens)
        .map(|(_, _, event)| (&event.pathway, event.time))
        .collect();
    for (shown, _, event) in &decoded {
        let opened_at = opened.get(&event.pathway);
        assert!(
            opened_at.is_some_and(|t| *t <= event.time),
            "{shown}: no golden example opens pathway {} before it",
            event.pathway
        );
    }
    // Replays are of pathways the examples show, after they opened.
    for (shown, replayed) in &audited {
        let opened_at = opened.get(&replayed.pathway);
        assert!(
            opened_at.is_some_and(|t| *t <= replayed.at),
            "{shown}: no golden example opens pathway {} before it is replayed",
            replayed.pathway
        );
    }
}

/// Checks an example of the audit trail: it reads back to the record it carries, and its subject
/// and headers are exactly those `Audit::record` writes for that record (no trace context: a
/// replay is no command). The record read back.
fn audit_example(example: &Example) -> Replayed {
    let shown = example.path.display().to_string();
    let body = serde_json::to_vec(&example.data).expect("JSON serialises");
    let event = audit::decode(1, &example.header_map(), &body)
        .unwrap_or_else(|e| panic!("{shown}: does not decode: {e}"));
    assert_eq!(
        serde_json::to_value(&event.replayed).expect("a record serialises"),
        example.data,
        "{shown}: data does not survive decoding"
    );
    assert!(
        is_lower_hex(&event.id, 32),
        "{shown}: ce-id is not 32 lowercase hex digits"
    );
    let (subject, headers, _) = audit::encode(&event.replayed, &event.id);
    let expected: BTreeMap<String, String> = headers
        .iter()
        .map(|(name, values)| {
            let value = values
                .last()
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            (name.to_string(), value)
        })
        .collect();
    assert_eq!(
        example.headers, expected,
        "{shown}: headers are not what the audit trail writes"
    );
    assert_eq!(example.subject, subject, "{shown}: subject");
    event.replayed
}

#[test]
fn every_event_type_has_a_golden_example() {
    let with_examples: BTreeSet<String> = examples().into_iter().map(|e| e.event_type).collect();
    let missing: Vec<String> = code_types()
        .union(&published_types())
        .filter(|t| !with_examples.contains(*t))
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "event types without a golden example: {missing:?}"
    );
    let strays: Vec<&String> = with_examples
        .iter()
        .filter(|t| !schema_path(t).is_file())
        .collect();
    assert!(
        strays.is_empty(),
        "examples filed under types with no schema: {strays:?}"
    );
}

#[test]
fn asyncapi_describes_every_event_type() {
    let path = contracts_dir().join("asyncapi.yaml");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        text.starts_with("asyncapi: 3."),
        "{}: not an AsyncAPI 3 document",
        path.display()
    );
    let missing: Vec<String> = code_types()
        .union(&published_types())
        .filter(|t| !text.contains(&format!("./events/{t}{SCHEMA_SUFFIX}")))
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "asyncapi.yaml does not reference the schemas of {missing:?}"
    );
}

/// A W3C trace context `traceparent`: version 00, a non-zero trace id and span id, flags.
fn is_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    matches!(parts.as_slice(), [version, trace, span, flags]
        if *version == "00"
            && is_lower_hex(trace, 32) && trace.bytes().any(|b| b != b'0')
            && is_lower_hex(span, 16) && span.bytes().any(|b| b != b'0')
            && is_lower_hex(flags, 2))
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
