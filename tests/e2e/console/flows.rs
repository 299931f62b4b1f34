use super::{gateway, signed_in};
use crate::harness;
use fantoccini::key::Key;
use serde_json::json;
use std::time::Duration;

/// Held (numpy), prints, sleeps, prints.
const HELD: &str = "import numpy as np\nprint('first line', flush=True)\nimport time\ntime.sleep(1)\nprint('sum', int(np.arange(5).sum()))";

#[test]
fn a_reviewer_approves_an_analysts_held_execution_in_the_browser_and_the_analyst_sees_it_run() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let gw = gateway(dir.path());
    let console = format!("{}/console", gw.url);

    // Alice (an analyst of acme) runs held code from her session page.
    let alice = signed_in(&gw, "alice");
    alice.check_page("overview");
    alice.goto(&format!("{console}/sessions"));
    alice.find("#new-session");
    alice.check_page("sessions");
    alice.click("#new-session");
    alice.find("#run-code");
    alice.check_page("session");
    alice.fill("#run-code", HELD);
    alice.click("#run");
    alice.wait_text("#status", "pending_review", Duration::from_secs(20));
    let exec_page = alice.url();
    let case_link = alice.find("dd a[href*='/console/reviews/']");
    let case_url = format!(
        "{}{}",
        gw.url,
        alice
            .rt_attr(&case_link, "href")
            .unwrap_or_else(|| panic!("no case link on {exec_page}"))
    );

    // Her own case shows no approve button (and the server would refuse it anyway).
    alice.goto(&case_url);
    alice.find("#case-status");
    assert!(
        !alice.has("#approve"),
        "the requester sees no approve button"
    );
    assert!(alice.has("#own-case"));
    alice.goto(&exec_page);
    alice.wait_text("#status", "pending_review", Duration::from_secs(10));

    // Rita (a reviewer of acme) works the queue with the keyboard alone.
    let rita = signed_in(&gw, "rita");
    rita.goto(&format!("{console}/reviews"));
    rita.find("#queue");
    rita.check_page("review-queue");
    rita.tab_to("the case link", |f| f["cls"].as_str() == Some("case-link"));
    rita.press(Key::Enter);
    rita.find("#case-facts");
    assert_eq!(rita.url(), case_url);
    assert!(rita.text("pre.code").contains("np.arange(5)"));
    assert!(rita.has("pre.code span.kw"), "the code is highlighted");
    assert!(rita.text("#reasons").contains("package_requires_review"));
    rita.check_page("review-case");

    // A form posted without the CSRF token changes nothing.
    let refused = rita.run(
        "return fetch(arguments[0] + '/comment', {method: 'POST', headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'text=sneaky'}).then((r) => r.status);",
        vec![json!(case_url)],
    );
    assert_eq!(refused, json!(403));
    let approve_forged = rita.run(
        "return fetch(arguments[0] + '/approve', {method: 'POST', headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'csrf=wrong'}).then((r) => r.status);",
        vec![json!(case_url)],
    );
    assert_eq!(approve_forged, json!(403));
    rita.goto(&case_url);
    assert_eq!(rita.text("#case-status"), "pending", "nothing changed");

    rita.tab_to("the approval comment", |f| {
        f["id"].as_str() == Some("approve-comment")
    });
    rita.press_text("fine by me");
    rita.press(Key::Tab);
    assert_eq!(rita.focused()["id"], "approve");
    rita.press(Key::Enter);
    rita.wait_text("#case-status", "approved", Duration::from_secs(20));

    // Alice's page, open all along, shows the approved execution run and its output.
    alice.wait_text("#status", "succeeded", Duration::from_secs(60));
    alice.wait_text("#stdout", "sum 10", Duration::from_secs(10));
    assert!(alice.text("#stdout").contains("first line"));
    alice.check_page("execution");

    // Gina, a reviewer of another tenant, cannot see the case at all.
    let gina = signed_in(&gw, "gina");
    gina.goto(&format!("{console}/reviews?status=all"));
    gina.find("#empty-queue");
    gina.goto(&case_url);
    assert!(gina.text("p.error").contains("case_not_found"));
    gina.check_page("error");
}

#[test]
fn an_auditor_filters_events_sees_the_chain_verified_and_tries_the_playground() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let gw = gateway(dir.path());
    let console = format!("{}/console", gw.url);
    // Some activity to look at, through the API.
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    assert_eq!(api.run(&sid, "python", "print(1)").status, 200);
    assert_eq!(api.run(&sid, "python", "import paramiko").status, 403);

    let audrey = signed_in(&gw, "audrey");
    audrey.goto(&format!("{console}/audit"));
    audrey.fill("#f-type", "execution.requested");
    audrey.fill("#f-subject", "alice-tool");
    audrey.click("#filter");
    audrey.find("#events");
    audrey.wait_text("#chain-verified", "Chain verified", Duration::from_secs(10));
    let rows = audrey.run(
        "return document.querySelectorAll('#events tbody tr').length;",
        vec![],
    );
    assert_eq!(rows, json!(2), "the two requests of alice-tool");
    assert!(!audrey.text("#events").contains("session.created"));
    audrey.check_page("audit");
    let cp = audrey.run(
        "return fetch('/console/audit/checkpoint').then((r) => r.json());",
        vec![],
    );
    assert!(
        cp["signature"].is_string()
            || cp["sig"].is_string()
            || cp.get("head").is_some()
            || cp.get("hash").is_some(),
        "{cp}"
    );

    audrey.goto(&format!("{console}/playground"));
    audrey.fill("#p-code", "import paramiko");
    audrey.click("#evaluate");
    audrey.wait_text("#decision", "deny", Duration::from_secs(10));
    assert!(
        audrey.text("#violations").contains("import"),
        "{}",
        audrey.text("#violations")
    );
    audrey.check_page("playground");

    audrey.goto(&console);
    audrey.find("#executions-total");
    assert_eq!(audrey.text("#executions-total"), "2");
    audrey.find("#denials");
    audrey.check_page("overview-auditor");

    // A non-auditor is refused by the core, not by the page.
    let alice = signed_in(&gw, "alice");
    alice.goto(&format!("{console}/audit"));
    assert!(alice.text("p.error").contains("not_an_auditor"));
    // Signing out ends the console session: the next page sends the browser to sign in
    // again (the provider's own session is the provider's to end).
    alice.goto(&console);
    let before = "return fetch('/console/sessions', {redirect: 'manual'}).then((r) => r.type + ' ' + r.status);";
    assert_eq!(alice.run(before, vec![]), json!("basic 200"));
    alice.click("header form button");
    alice.find("#signed-out");
    alice.check_page("signed-out");
    assert_eq!(alice.run(before, vec![]), json!("opaqueredirect 0"));
}

/// The quick start: with only the development issuer, the console's own sign-in form.
#[test]
fn the_development_issuer_signs_in_on_the_consoles_own_form_and_nowhere_else() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut gw = harness::Gateway::configure(dir.path(), "[auth.dev_issuer]\nenabled = true\n");
    // No identity provider: only the development issuer, as deploy/airlock.dev.toml.
    let text = std::fs::read_to_string(&gw.config).unwrap_or_default();
    let start = text.find("[[auth.issuers]]").unwrap_or(0);
    let end = text[start..]
        .find("[limits]")
        .map_or(text.len(), |i| start + i);
    let text = format!("{}{}", &text[..start], &text[end..]);
    std::fs::write(&gw.config, text).unwrap_or_else(|e| panic!("{e}"));
    gw.spawn();

    let b = super::browser::Browser::start();
    // A `next` that leaves the console is dropped (no open redirect).
    b.goto(&format!(
        "{}/console/login?next=https://evil.example/",
        gw.url
    ));
    b.find("#subject");
    b.check_page("dev-sign-in");
    b.fill("#subject", "dana");
    b.fill("#groups", "analysts");
    b.fill("#tenant", "acme");
    b.click("button[type=submit]");
    b.wait_text("#who", "dana", Duration::from_secs(20));
    assert_eq!(b.url(), format!("{}/console", gw.url));

    // The form's nonce is bound to the browser that was served it.
    let forged = b.run(
        "return fetch('/console/login/dev', {method: 'POST', credentials: 'omit', headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'nonce=x&subject=root&groups=airlock-auditors'}).then((r) => r.status);",
        vec![],
    );
    assert_eq!(forged, json!(401), "sign_in_failed");
    // And there is no OIDC callback to abuse.
    let cb = b.run(
        "return fetch('/console/callback?code=x&state=y').then((r) => r.status);",
        vec![],
    );
    assert_eq!(cb, json!(401));
}
