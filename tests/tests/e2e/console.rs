//! The operator console, end to end: a real raccordo serving it on a loopback port, read over
//! plain HTTP (who may look, what each party sees, the audit trail of pathway pages) and in a real
//! browser, headless Chromium driven over the DevTools protocol through the sign-in form to a
//! pathway page with lanes, a breached deadline and findings, whose screenshot is kept as a test
//! artefact.

mod browser;
mod http;

use raccordo_api::v1;
use raccordo_domain::pathway::finding::FindingKind;
use raccordo_domain::timeline::{Purpose, Via};
use raccordo_eventlog::AuditFilter;
use raccordo_tests::{
    CF_BIANCHI, Clients, TestApp, command_id, data_json, participant, referral, token_of,
};
use time::Duration;
use time::macros::datetime;

use self::http::{Auth, Http};

/// The pathway page of `id`.
fn page_of(id: &str) -> String {
    format!("/percorsi/{id}")
}

async fn receive(comune: &mut Clients, pathway: &str) {
    comune
        .dimissione
        .receive(v1::ReceiveDischargeRequest {
            command_id: command_id("receive"),
            pathway_id: pathway.to_owned(),
        })
        .await
        .expect("the Comune takes the request in");
}

/// A protected discharge asst:705 asks of comune:magenta on Monday 2 March 2026 at 10:00, taken in
/// on Thursday at 10:00 when the protocol gave the Comune until the end of Wednesday (a deadline
/// closed late) and never acknowledged as received (a deadline still overdue): the reconciler
/// records `never_acknowledged`, `step_overdue` and `overdue_step_closed` on it.
async fn breached_discharge(app: &TestApp) -> String {
    let id = app.open_discharge("magenta").await;
    app.clock
        .set(datetime!(2026-03-05 09:00 +01:00).to_offset(time::UtcOffset::UTC));
    app.settle().await;
    app.advance(Duration::hours(1));
    let mut magenta = app.as_org("comune:magenta").await;
    receive(&mut magenta, &id).await;
    app.settle().await;
    id
}

#[tokio::test]
async fn the_console_asks_for_a_known_token_and_says_so_in_italian() {
    let app = TestApp::spawn().await;
    let http = Http::new(&app.console);

    let page = http.get("/percorsi", Auth::None).await;
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(page.body.contains("Accesso alla console"), "{}", page.body);
    assert!(
        page.body.contains("name=\"token\""),
        "the sign-in form: {}",
        page.body
    );
    assert!(
        page.body.contains("Per consultare la console serve"),
        "{}",
        page.body
    );

    let page = http
        .get(
            "/percorsi",
            Auth::Bearer("not-a-token-not-a-token-not-a-token".into()),
        )
        .await;
    assert_eq!(page.status, 401);
    assert!(page.body.contains("non è riconosciuto"), "{}", page.body);

    let page = http
        .get(
            "/percorsi",
            Auth::Cookie("raccordo_sessione=made-up".into()),
        )
        .await;
    assert_eq!(page.status, 401);
    assert!(page.body.contains("sessione è scaduta"), "{}", page.body);

    let page = http
        .post_form(
            "/accesso",
            &[("token", "not-a-token-not-a-token-not-a-token")],
            None,
        )
        .await;
    assert_eq!(page.status, 401);
    assert!(
        page.body.contains("Token non riconosciuto"),
        "{}",
        page.body
    );
    assert!(
        page.header("set-cookie").is_none(),
        "no session for a bad token"
    );

    // What every page is sent with: nothing cached, no script, nothing from elsewhere.
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(page.header("cache-control").as_deref(), Some("no-store"));
    let css = http.get("/stile.css", Auth::None).await;
    assert_eq!(css.status, 200);
    assert!(
        css.header("content-type")
            .unwrap_or_default()
            .starts_with("text/css")
    );
    app.stop().await;
}

#[tokio::test]
async fn signing_in_opens_a_session_that_signing_out_closes() {
    let app = TestApp::spawn().await;
    let http = Http::new(&app.console);
    let token = token_of("asst:705");

    let signed_in = http
        .post_form(
            "/accesso",
            &[("token", token.as_str()), ("dopo", "/rilievi")],
            None,
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.header("location").as_deref(), Some("/rilievi"));
    let cookie = signed_in.header("set-cookie").expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    assert!(
        !cookie.contains(&token),
        "the cookie carries a session id, not the token"
    );
    let session = cookie.split(';').next().unwrap().to_owned();

    let page = http.get("/percorsi", Auth::Cookie(session.clone())).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Ricerca percorsi"));
    assert!(page.body.contains("data-org=\"asst:705\""));
    assert!(
        page.body.contains("action=\"/uscita\""),
        "a session can sign out"
    );

    // Somewhere else than the console is never where signing in leads.
    let elsewhere = http
        .post_form(
            "/accesso",
            &[("token", token.as_str()), ("dopo", "//example.com/")],
            None,
        )
        .await;
    assert_eq!(elsewhere.header("location").as_deref(), Some("/percorsi"));

    let signed_out = http.post_form("/uscita", &[], Some(&session)).await;
    assert_eq!(signed_out.status, 303);
    assert!(
        signed_out
            .header("set-cookie")
            .unwrap()
            .contains("Max-Age=0")
    );
    let page = http.get("/percorsi", Auth::Cookie(session.clone())).await;
    assert_eq!(page.status, 401, "the session is closed");
    app.stop().await;
}

#[tokio::test]
async fn the_search_lists_the_callers_own_pathways_by_its_filters() {
    let app = TestApp::spawn().await;
    let http = Http::new(&app.console);
    let discharge = app.open_discharge("magenta").await;
    let mut comune = app.as_org("comune:cinisello-balsamo").await;
    let referral = comune
        .centro
        .send_referral(referral(
            CF_BIANCHI,
            "cinisello-balsamo",
            "officina-dei-legami",
        ))
        .await
        .expect("the referral is accepted")
        .into_inner()
        .pathway_id;
    app.settle().await;
    let asst = Auth::of("asst:705");

    let page = http.get("/percorsi", asst.clone()).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&format!("data-pathway=\"{discharge}\"")));
    assert!(
        !page.body.contains(&referral),
        "another party's pathway is not listed"
    );
    assert!(
        page.body.contains("Richiesta"),
        "statuses in Italian: {}",
        page.body
    );

    for (query, listed) in [
        ("?tipo=dimissione_protetta", true),
        ("?tipo=centro_famiglia", false),
        ("?stato=requested", true),
        ("?stato=received", false),
        ("?ambito=50032", true),
        ("?ambito=50069", false),
        ("?in_attesa=1", false),
    ] {
        let page = http.get(&format!("/percorsi{query}"), asst.clone()).await;
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        assert_eq!(
            page.body.contains(&format!("data-pathway=\"{discharge}\"")),
            listed,
            "{query}"
        );
    }
    // The Comune the request waits on finds it among those waiting on it.
    let page = http
        .get("/percorsi?in_attesa=1", Auth::of("comune:magenta"))
        .await;
    assert!(
        page.body.contains(&format!("data-pathway=\"{discharge}\"")),
        "{}",
        page.body
    );

    let page = http
        .get("/percorsi?stato=bogus&ambito=x", asst.clone())
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("non è uno stato"), "{}", page.body);
    assert!(
        page.body.contains("non è il codice di un Ambito"),
        "{}",
        page.body
    );

    let page = http
        .get(&format!("/percorsi?id={discharge}"), asst.clone())
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some(page_of(&discharge)));
    let page = http
        .get(&format!("/percorsi?id={referral}"), asst.clone())
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Nessun percorso"), "{}", page.body);
    app.stop().await;
}

#[tokio::test]
async fn a_pathway_of_another_party_is_not_found_like_one_that_does_not_exist() {
    let app = TestApp::spawn().await;
    let http = Http::new(&app.console);
    let id = app.open_discharge("magenta").await;
    app.settle().await;
    let elsewhere = Auth::of("asst:707");

    let theirs = http.get(&page_of(&id), elsewhere.clone()).await;
    let missing = http
        .get(&page_of("dp-00000000000000000000"), elsewhere.clone())
        .await;
    let malformed = http.get(&page_of("not-a-pathway"), elsewhere.clone()).await;
    for page in [&theirs, &missing, &malformed] {
        assert_eq!(page.status, 404, "{}", page.body);
        assert!(page.body.contains("Percorso non trovato"));
        assert!(!page.body.contains("linea-del-tempo"));
    }
    let ours = http.get(&page_of(&id), Auth::of("asst:705")).await;
    assert_eq!(ours.status, 200, "{}", ours.body);
    app.stop().await;
}

#[tokio::test]
async fn every_pathway_page_is_a_replay_recorded_in_the_audit_trail() {
    let app = TestApp::spawn().await;
    let http = Http::new(&app.console);
    let id = app.open_discharge("magenta").await;
    app.settle().await;
    let audit = app.log.audit().await.expect("the audit trail is set up");
    let trail = || async {
        audit
            .read(&AuditFilter {
                pathway: Some(id.parse().unwrap()),
                ..AuditFilter::default()
            })
            .await
            .expect("the audit trail reads")
    };
    assert!(trail().await.is_empty());

    let page = http.get(&page_of(&id), Auth::of("asst:705")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Questa consultazione è registrata"),
        "{}",
        page.body
    );
    let page = http
        .get(
            &format!("{}?finalita=verifica", page_of(&id)),
            Auth::of("asst:705"),
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("class=\"provenance\""),
        "an audit shows who acted"
    );
    http.get(&page_of(&id), Auth::of("ats:321")).await;
    http.get(&page_of(&id), Auth::of("asst:707")).await;

    let recorded = trail().await;
    let seen: Vec<(String, Purpose, bool)> = recorded
        .iter()
        .map(|e| {
            assert_eq!(e.replayed.via, Via::Console);
            (
                e.replayed.viewer.to_string(),
                e.replayed.purpose,
                e.replayed.refused.is_none(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("asst:705".to_owned(), Purpose::Care, true),
            ("asst:705".to_owned(), Purpose::Audit, true),
            ("ats:321".to_owned(), Purpose::Governance, true),
            ("asst:707".to_owned(), Purpose::Care, false),
        ],
        "one audit event per page, refused ones too"
    );
    assert!(
        page.body
            .contains(&format!("data-audit-sequence=\"{}\"", recorded[1].sequence))
    );
    app.stop().await;
}

#[tokio::test]
async fn the_ats_sees_a_pathway_without_anything_that_points_to_a_person() {
    let app = TestApp::spawn().await;
    let http = Http::new(&app.console);
    let id = breached_discharge(&app).await;
    let mut asst = app.as_org("asst:705").await;
    let as_asst = asst.get(&id).await.expect("the ASST reads its pathway");
    let subject_ref = data_json(&as_asst.history[0])["subject_ref"]
        .as_str()
        .expect("the request carries the person's reference")
        .to_owned();

    let care = http.get(&page_of(&id), Auth::of("asst:705")).await;
    assert_eq!(care.status, 200);
    assert!(
        care.body.contains(&subject_ref),
        "the ASST's care view has the person"
    );

    let ats = http.get(&page_of(&id), Auth::of("ats:321")).await;
    assert_eq!(ats.status, 200, "{}", ats.body);
    assert!(ats.body.contains("data-view=\"aggregate\""));
    assert!(
        ats.body.contains("class=\"deadline "),
        "deadlines are for governance too"
    );
    for personal in [
        subject_ref.as_str(),
        "subject_ref",
        "Persona (riferimento pseudonimo)",
        "Medicina generale",
        "Reparto",
        "Comune di residenza",
        "operatore.test",
        "provenance",
    ] {
        assert!(
            !ats.body.contains(personal),
            "the ATS page shows {personal}"
        );
    }
    assert!(
        ats.body.contains("data-lane=\"comune\""),
        "lanes named by kind only"
    );

    let refused = http
        .get(
            &format!("{}?finalita=cura", page_of(&id)),
            Auth::of("ats:321"),
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("finalità di governo"),
        "{}",
        refused.body
    );
    app.stop().await;
}

#[tokio::test]
async fn the_findings_list_holds_the_callers_findings_newest_first() {
    let app = TestApp::spawn().await;
    let http = Http::new(&app.console);
    let id = breached_discharge(&app).await;

    let page = http.get("/rilievi", Auth::of("comune:magenta")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let order: Vec<&str> = page
        .body
        .match_indices("<tr class=\"finding\" data-finding=\"")
        .map(|(at, m)| {
            let rest = &page.body[at + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(
        order,
        [
            FindingKind::OverdueStepClosed.as_str(),
            FindingKind::StepOverdue.as_str(),
            FindingKind::NeverAcknowledged.as_str(),
        ],
        "newest first"
    );
    assert!(page.body.contains(&format!("href=\"{}\"", page_of(&id))));
    assert!(
        page.body.contains("Passo in ritardo"),
        "findings named in Italian"
    );

    let page = http
        .get(
            "/rilievi?tipo=never_acknowledged",
            Auth::of("comune:magenta"),
        )
        .await;
    assert_eq!(page.body.matches("<tr class=\"finding\"").count(), 1);
    let page = http.get("/rilievi", Auth::of("asst:707")).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body.matches("<tr class=\"finding\"").count(),
        0,
        "not its pathway"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_indicators_of_an_ambito_are_shown_to_whom_may_see_them() {
    let app = TestApp::spawn().await;
    let http = Http::new(&app.console);
    let id = app.open_discharge("magenta").await;
    let mut magenta = app.as_org("comune:magenta").await;
    receive(&mut magenta, &id).await;
    magenta
        .dimissione
        .record_joint_assessment(v1::RecordJointAssessmentRequest {
            command_id: command_id("assessment"),
            pathway_id: id.clone(),
            assessed_on: app.today(),
            participants: vec![
                participant("asst:705", v1::Role::Physician),
                participant("comune:magenta", v1::Role::SocialWorker),
            ],
        })
        .await
        .expect("the assessment is recorded");
    app.settle().await;

    let page = http
        .get(
            "/indicatori?ambito=50032&trimestre=2026Q1",
            Auth::of("ats:321"),
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("id=\"grafico-quote\""),
        "a chart: {}",
        page.body
    );
    let row = page
        .body
        .split("data-indicator=\"social_worker_present_pct\"><td>")
        .nth(1)
        .expect("the table has the indicator");
    assert!(row.contains("100,0%") && row.contains("1 / 1"), "{row}");
    assert!(row.contains("raggiunto"), "{row}");

    // The quarter defaults to the last one with the caller's pathways in the Ambito.
    let page = http.get("/indicatori", Auth::of("comune:magenta")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("data-ambito=\"50032\" data-quarter=\"2026Q1\""),
        "{}",
        page.body
    );

    // Nor ASST Nord Milano, nor its Centro, have anything in the Magentino.
    let page = http
        .get("/indicatori?ambito=50032", Auth::of("asst:707"))
        .await;
    assert_eq!(page.status, 404, "{}", page.body);
    let page = http
        .get("/indicatori?trimestre=2026Q9", Auth::of("ats:321"))
        .await;
    assert_eq!(page.status, 400);
    app.stop().await;
}

#[tokio::test]
async fn a_browser_signs_in_and_sees_the_lanes_a_breached_deadline_and_the_findings() {
    let chromium = browser::chromium();
    let app = TestApp::spawn().await;
    let id = breached_discharge(&app).await;

    let mut browser = browser::Browser::launch(&chromium).await;
    let mut tab = browser.open_tab().await;
    let pathway = format!("{}{}", app.console, page_of(&id));
    tab.navigate(&pathway).await;
    tab.wait_for("document.querySelector('#accesso') !== null")
        .await;
    tab.eval(&format!(
        "document.querySelector('#token').value = {}; \
         document.querySelector('#accesso').submit(); true",
        serde_json::Value::from(token_of("asst:705"))
    ))
    .await;
    tab.wait_for(&format!(
        "location.pathname === '{}' && document.readyState === 'complete' && \
         document.querySelector('#percorso') !== null",
        page_of(&id)
    ))
    .await;

    let seen = tab
        .eval(
            "(() => {
               const all = (q) => [...document.querySelectorAll(q)];
               const box = document.querySelector('svg#timeline').getBoundingClientRect();
               return {
                 lanes: all('svg#timeline g.lane').map(g => g.dataset.lane),
                 tables: all('section.lane-detail').map(s => s.dataset.lane),
                 breached: all('svg#timeline g.deadline.breach').map(g => g.dataset.step + ':' + g.dataset.outcome),
                 breachedRows: all('tr.deadline.breach').map(r => r.dataset.step + ':' + r.dataset.outcome),
                 findings: all('svg#timeline g.finding').map(g => g.dataset.finding),
                 findingRows: all('tr.finding').map(r => r.dataset.finding),
                 audited: document.querySelector('#consultazione-registrata').textContent,
                 outcome: getComputedStyle(document.querySelector('svg#timeline g.deadline.late path')).fill,
                 width: box.width,
                 height: box.height,
               };
             })()",
        )
        .await;
    let strings = |key: &str| -> Vec<String> {
        seen[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} in {seen}"))
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(strings("lanes"), ["asst:705", "comune:magenta"], "{seen}");
    assert_eq!(strings("tables"), strings("lanes"));
    for breached in [strings("breached"), strings("breachedRows")] {
        assert!(
            breached.contains(&"dp-presa-in-carico:late".to_owned())
                && breached.contains(&"dp-conferma-ricezione:overdue".to_owned()),
            "{seen}"
        );
    }
    for findings in [strings("findings"), strings("findingRows")] {
        assert!(
            findings.contains(&"step_overdue".to_owned())
                && findings.contains(&"overdue_step_closed".to_owned()),
            "{seen}"
        );
    }
    assert!(
        seen["audited"]
            .as_str()
            .unwrap_or_default()
            .contains("Questa consultazione è registrata"),
        "{seen}"
    );
    assert!(
        seen["width"].as_f64().unwrap_or_default() > 800.0
            && seen["height"].as_f64().unwrap_or_default() > 200.0,
        "the timeline is drawn: {seen}"
    );
    // Drawn with raccordo's own stylesheet: a deadline closed late in its colour.
    assert_eq!(seen["outcome"], "rgb(224, 108, 0)", "{seen}");

    let png = tab.screenshot().await;
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG image");
    let path = browser::artefact("console-pathway.png", &png);
    println!("screenshot of the pathway page: {}", path.display());
    browser.close().await;
    app.stop().await;
}
