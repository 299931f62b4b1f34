//! The page shell every console page shares: a skip link, the navigation, who is signed in
//! and the sign-out form, then the page's own content in `main`.

use crate::{assets, guard::Viewer, BASE};
use airlock_gateway_domain::GatewayError;
use maud::{html, Markup, DOCTYPE};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Reviews,
    Audit,
    Sessions,
    Playground,
}

const ITEMS: [(Nav, &str, &str); 5] = [
    (Nav::Overview, "", "Overview"),
    (Nav::Reviews, "/reviews", "Reviews"),
    (Nav::Audit, "/audit", "Audit"),
    (Nav::Sessions, "/sessions", "My sessions"),
    (Nav::Playground, "/playground", "Policy playground"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Airlock" }
            link rel="stylesheet" href=(assets::url("console.css"));
            script src=(assets::url("console.js")) defer {}
        }
    }
}

pub fn page(v: &Viewer, nav: Nav, title: &str, content: Markup) -> Markup {
    let p = &v.principal;
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "Airlock" }
                    nav aria-label="Console" {
                        ul {
                            @for (item, path, label) in ITEMS {
                                li {
                                    @if item == nav {
                                        a href={(BASE) (path)} aria-current="page" { (label) }
                                    } @else {
                                        a href={(BASE) (path)} { (label) }
                                    }
                                }
                            }
                        }
                    }
                    div.who {
                        span #who { (p.subject) }
                        @if let Some(t) = &p.tenant { span.tag { "tenant " (t) } }
                        form method="post" action={(BASE) "/logout"} {
                            input type="hidden" name="csrf" value=(v.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// A page outside the signed-in shell (sign-in, errors).
pub fn bare(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { span.brand { "Airlock" } }
                main #main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

pub fn error_page(e: &GatewayError) -> Markup {
    bare(
        "Something was refused",
        html! {
            p.error role="alert" {
                code { (e.code.as_str()) } ": " (e.message)
            }
            p { a href=(BASE) { "Back to the console" } }
        },
    )
}

/// A time as people read it (UTC).
pub fn when(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.format(&f).unwrap_or_else(|_| t.to_string())
}

/// A duration in milliseconds, briefly.
pub fn took(ms: i64) -> String {
    match ms {
        ..=999 => format!("{ms} ms"),
        1_000..=119_999 => format!("{:.1} s", ms as f64 / 1000.0),
        120_000..=7_199_999 => format!("{} min", ms / 60_000),
        _ => format!("{:.1} h", ms as f64 / 3_600_000.0),
    }
}
