//! The web console in a real browser: people sign in through the test OpenID Provider's own
//! login page (authorization code with PKCE), then review, audit and follow executions as
//! they would. axe-core checks every page; every page is saved as a screenshot.

mod browser;
mod flows;

use crate::harness::{self, Gateway};
use browser::Browser;
use serde_json::json;

/// The console's confidential client at the test provider, and the bundle that holds numpy.
fn gateway(dir: &std::path::Path) -> Gateway {
    let bundle = harness::bundle_copy(dir, |d| {
        d["airlock"]["packages"]["review"] = json!(["numpy"]);
    });
    Gateway::start_opts(
        "[console]\nclient_id = \"airlock-console-confidential\"\nclient_secret = \"console-secret\"\nresource = \"urn:airlock\"\n",
        &[("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str())],
    )
}

/// A browser signed in as `user` through the provider's login page.
fn signed_in(gw: &Gateway, user: &str) -> Browser {
    let b = Browser::start();
    b.goto(&format!("{}/console", gw.url));
    // Sent to the issuer's interactive login.
    b.fill("#username", user);
    let password: String = user.chars().rev().collect();
    b.fill("#password", &password);
    b.click("#sign-in");
    b.wait_text("#who", user, std::time::Duration::from_secs(20));
    assert!(
        b.url().starts_with(&format!("{}/console", gw.url)),
        "{}",
        b.url()
    );
    b
}
