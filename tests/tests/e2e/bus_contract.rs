//! The bus contract (ARCHITECTURE.md §4 and invariant 5), read straight from JetStream with a
//! stock NATS client, as a Comune's case software would: one append-only stream, one subject per
//! pathway, CloudEvents 1.0 in binary mode with a W3C trace context, a JSON body with a
//! pseudonymous subject reference and never a fiscal code.

use std::time::Duration;

use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::StorageType;
use raccordo_api::v1;
use raccordo_domain::clock::Clock;
use raccordo_domain::codice_fiscale::CodiceFiscale;
use raccordo_tests::{
    CF_BIANCHI, CF_ROSSI, CF_VERDI, STREAM, TestApp, access_request, command_id, discharge_request,
    referral, subject_key,
};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;

/// A header of a stored message, which must be there.
fn header<'a>(message: &'a StreamMessage, name: &str) -> &'a str {
    message
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("message {} has no {name} header", message.sequence))
        .as_str()
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), checking its form.
fn trace_id(traceparent: &str) -> (&str, &str) {
    assert_eq!(traceparent.len(), 55, "{traceparent}");
    let parts: Vec<&str> = traceparent.split('-').collect();
    let [version, trace, span, flags] = parts[..] else {
        panic!("not a traceparent: {traceparent}");
    };
    assert_eq!(version, "00", "{traceparent}");
    assert!(
        is_lower_hex(trace, 32) && trace != "0".repeat(32),
        "{traceparent}"
    );
    assert!(
        is_lower_hex(span, 16) && span != "0".repeat(16),
        "{traceparent}"
    );
    assert!(is_lower_hex(flags, 2), "{traceparent}");
    (trace, span)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn the_stream_is_file_backed_and_append_only() {
    let app = TestApp::spawn().await;
    app.open_discharge("magenta").await;

    let info = app.stream_info().await;
    assert_eq!(info.config.name, STREAM);
    assert_eq!(info.config.storage, StorageType::File);
    assert!(info.config.deny_delete, "deny_delete");
    assert!(info.config.deny_purge, "deny_purge");
    assert_eq!(info.config.subjects, ["raccordo.pathway.>"]);
    assert_eq!(info.config.duplicate_window, Duration::from_secs(120));

    // JetStream itself refuses to forget: an outsider's purge or delete does not go through.
    let client = async_nats::connect(app.nats_url.as_str())
        .await
        .expect("NATS is reachable");
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream(STREAM).await.expect("the stream exists");
    assert!(stream.purge().await.is_err(), "a purge is refused");
    assert!(
        stream.delete_message(1).await.is_err(),
        "a delete is refused"
    );
    assert_eq!(app.log_length().await, 1);
    assert_eq!(app.stream_messages().await.len(), 1);
    app.stop().await;
}

/// A command accepted by the gateway, and what its event must say on the bus.
struct Accepted {
    org: &'static str,
    command_id: String,
    time: String,
    reply: v1::CommandReply,
}

#[tokio::test]
async fn every_event_is_a_cloudevent_on_its_pathways_own_subject() {
    let app = TestApp::spawn().await;
    let mut accepted = Vec::new();
    let now = |app: &TestApp| app.clock.now().format(&Rfc3339).unwrap();

    let mut asst = app.as_org("asst:705").await;
    let request = discharge_request(CF_ROSSI, "magenta", &app.date_in(3));
    let command = request.command_id.clone();
    let reply = asst.dimissione.request(request).await.unwrap().into_inner();
    let discharge = reply.pathway_id.clone();
    accepted.push(Accepted {
        org: "asst:705",
        command_id: command,
        time: now(&app),
        reply,
    });

    app.advance(time::Duration::minutes(95));
    let mut comune = app.as_org("comune:magenta").await;
    let receive = v1::ReceiveDischargeRequest {
        command_id: command_id("receive"),
        pathway_id: discharge,
    };
    let command = receive.command_id.clone();
    let reply = comune
        .dimissione
        .receive(receive)
        .await
        .unwrap()
        .into_inner();
    accepted.push(Accepted {
        org: "comune:magenta",
        command_id: command,
        time: now(&app),
        reply,
    });

    app.advance(time::Duration::seconds(7));
    let mut pua = app.as_org("asst:707").await;
    let access = access_request(CF_VERDI, "bresso", "707");
    let command = access.command_id.clone();
    let reply = pua.pua.register_access(access).await.unwrap().into_inner();
    accepted.push(Accepted {
        org: "asst:707",
        command_id: command,
        time: now(&app),
        reply,
    });

    let mut referrer = app.as_org("comune:cinisello-balsamo").await;
    let sent = referral(CF_BIANCHI, "cinisello-balsamo", "officina-dei-legami");
    let command = sent.command_id.clone();
    let reply = referrer
        .centro
        .send_referral(sent)
        .await
        .unwrap()
        .into_inner();
    let referral_id = reply.pathway_id.clone();
    accepted.push(Accepted {
        org: "comune:cinisello-balsamo",
        command_id: command,
        time: now(&app),
        reply,
    });

    let mut centro = app.as_org("centro:officina-dei-legami").await;
    let accept = v1::AcceptReferralRequest {
        command_id: command_id("accept"),
        pathway_id: referral_id,
    };
    let command = accept.command_id.clone();
    let reply = centro.centro.accept(accept).await.unwrap().into_inner();
    accepted.push(Accepted {
        org: "centro:officina-dei-legami",
        command_id: command,
        time: now(&app),
        reply,
    });

    let messages = app.stream_messages().await;
    assert_eq!(messages.len(), accepted.len());
    for (message, sent) in messages.iter().zip(&accepted) {
        let reply = &sent.reply;
        let kind = reply
            .event_type
            .split('.')
            .nth(1)
            .expect("raccordo.<kind>.<name>.v1");
        assert_eq!(
            message.subject.as_str(),
            format!("raccordo.pathway.{kind}.{}", reply.pathway_id)
        );
        assert_eq!(message.sequence, reply.sequence);
        assert_eq!(header(message, "ce-specversion"), "1.0");
        assert!(is_lower_hex(&reply.event_id, 32), "{}", reply.event_id);
        assert_eq!(header(message, "ce-id"), reply.event_id);
        assert_eq!(header(message, "Nats-Msg-Id"), reply.event_id);
        assert_eq!(header(message, "ce-type"), reply.event_type);
        assert_eq!(header(message, "ce-source"), sent.org);
        assert_eq!(header(message, "ce-subject"), reply.pathway_id);
        assert_eq!(header(message, "ce-time"), sent.time);
        assert_eq!(header(message, "content-type"), "application/json");
        assert_eq!(header(message, "ce-raccordocommandid"), sent.command_id);
        trace_id(header(message, "traceparent"));
        let body: Value = serde_json::from_slice(&message.payload).expect("the body is JSON");
        assert!(body.is_object(), "{body}");
    }
    assert_eq!(
        accepted
            .iter()
            .map(|a| a.reply.event_type.as_str())
            .collect::<Vec<_>>(),
        [
            "raccordo.dimissione_protetta.requested.v1",
            "raccordo.dimissione_protetta.received.v1",
            "raccordo.pua.access_registered.v1",
            "raccordo.centro_famiglia.referral_sent.v1",
            "raccordo.centro_famiglia.accepted.v1",
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_callers_trace_continues_into_the_event() {
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";
    let app = TestApp::spawn().await;
    let mut asst = app.as_org("asst:705").await;

    let mut traced = tonic::Request::new(discharge_request(CF_ROSSI, "magenta", &app.date_in(3)));
    traced.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE}-{SPAN}-01").parse().unwrap(),
    );
    asst.dimissione.request(traced).await.expect("accepted");
    let untraced = discharge_request(CF_ROSSI, "corbetta", &app.date_in(3));
    asst.dimissione.request(untraced).await.expect("accepted");

    let messages = app.stream_messages().await;
    let (trace, span) = trace_id(header(&messages[0], "traceparent"));
    assert_eq!(trace, TRACE, "the event joins the caller's trace");
    assert_ne!(span, SPAN, "under the gateway's own span");
    let (trace, _) = trace_id(header(&messages[1], "traceparent"));
    assert_ne!(trace, TRACE, "a call without a trace starts its own");
    app.stop().await;
}

#[tokio::test]
async fn no_fiscal_code_ever_reaches_the_bus() {
    let app = TestApp::spawn().await;
    let mut asst_705 = app.as_org("asst:705").await;
    let mut asst_707 = app.as_org("asst:707").await;
    let mut comune = app.as_org("comune:cinisello-balsamo").await;
    let synthetic = CodiceFiscale::synthetic(2026);
    let people = [CF_ROSSI, CF_VERDI, CF_BIANCHI, synthetic.expose()];

    let mut opened = Vec::new();
    for cf in people {
        // However the caller spells it.
        for spelling in [cf.to_owned(), format!("  {}  ", cf.to_lowercase())] {
            let request = discharge_request(&spelling, "magenta", &app.date_in(3));
            let reply = asst_705
                .dimissione
                .request(request)
                .await
                .expect("requested");
            opened.push((cf, reply.into_inner().pathway_id));
            let access = access_request(&spelling, "bresso", "707");
            let reply = asst_707
                .pua
                .register_access(access)
                .await
                .expect("registered");
            opened.push((cf, reply.into_inner().pathway_id));
            let sent = referral(&spelling, "cinisello-balsamo", "officina-dei-legami");
            let reply = comune.centro.send_referral(sent).await.expect("referred");
            opened.push((cf, reply.into_inner().pathway_id));
        }
    }

    let messages = app.stream_messages().await;
    assert_eq!(messages.len(), opened.len());
    for (message, (cf, pathway)) in messages.iter().zip(&opened) {
        for spelling in [cf.to_uppercase(), cf.to_lowercase()] {
            assert!(
                !contains(&message.payload, &spelling),
                "the body of {pathway} holds a fiscal code"
            );
            for (name, values) in message.headers.iter() {
                for value in values {
                    assert!(
                        !value.as_str().contains(&spelling),
                        "header {name} of {pathway} holds a fiscal code"
                    );
                }
            }
        }
        let body: Value = serde_json::from_slice(&message.payload).unwrap();
        let subject_ref = body["subject_ref"]
            .as_str()
            .expect("an opening event names its subject");
        assert!(is_lower_hex(subject_ref, 64), "{subject_ref}");
        let person: CodiceFiscale = cf.parse().unwrap();
        assert_eq!(subject_ref, subject_key().subject_ref(&person).as_str());
    }

    // What a party reads back through the API holds no fiscal code either.
    let (cf, pathway) = &opened[0];
    let read = asst_705
        .get(pathway)
        .await
        .expect("the ASST reads its request");
    assert!(!format!("{read:?}").contains(cf));
    app.stop().await;
}
