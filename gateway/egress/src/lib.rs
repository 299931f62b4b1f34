//! The egress proxy. Sandboxes have no network route; inside each, the agent offers an HTTP(S)
//! proxy on the sandbox loopback that relays every connection over the session's socket to
//! [`serve`] here, which admits a CONNECT or a plain-HTTP request only when the host and port
//! are in the running execution's grant (from the policy decision's obligations), checks that a
//! TLS ClientHello names the same host (SNI), refuses raw IPs unless granted as such, resolves
//! names once and refuses private and metadata addresses, holds the `Host` header to the
//! target, limits plain-HTTP methods, forwards exactly the admitted request, and records every
//! connection of an execution in its log ([`Epoch`]), cutting those still open when it ends.

mod epoch;
pub mod head;
mod hub;
mod index;
mod proxy;
pub mod resolve;
mod sql;
mod tls;

pub use epoch::Epoch;
pub use hub::{EgressHub, EgressTicket, PREAMBLE_PREFIX};
pub use index::{normalize_project, INDEX_HOST};
pub use proxy::{serve, ProxyConfig};
pub use sql::{SqlHook, SQL_HOST};
pub use tls::{build_client_hello, client_hello_sni, Sni};

/// The HTTP client type the proxy fetches mirror files with.
pub type HttpClient = reqwest::Client;

/// A client for the package mirror: timeouts, no redirects off the mirror.
pub fn http_client() -> HttpClient {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .unwrap_or_default()
}
