//! Server-rendered SVG charts (no script, no library): stacked bars of counts over time and
//! horizontal bars of counts by name. Each chart carries a text equivalent (a table) for
//! screen readers and for anyone who wants the numbers.

use maud::{html, Markup};
use std::collections::BTreeMap;

const W: i64 = 720;
const H: i64 = 180;

/// The CSS class of a status's colour.
fn class_of(status: &str) -> String {
    match status {
        "succeeded" | "failed" | "denied" | "pending_review" | "cancelled" | "running"
        | "queued" => {
            format!("s-{status}")
        }
        _ => "s-other".into(),
    }
}

/// Stacked bars: for each bucket (in order), counts by series.
pub fn stacked(title: &str, buckets: &BTreeMap<String, BTreeMap<String, u64>>) -> Markup {
    let n = buckets.len().max(1) as i64;
    let top = buckets
        .values()
        .map(|s| s.values().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let bar = (W / n).max(2);
    let series: std::collections::BTreeSet<&String> =
        buckets.values().flat_map(|s| s.keys()).collect();
    let mut rects = vec![];
    for (i, (label, counts)) in buckets.iter().enumerate() {
        let x = i as i64 * bar;
        let mut y = H;
        for (status, count) in counts {
            let h = (*count as i64 * H) / top as i64;
            y -= h;
            rects.push((
                x,
                y,
                h,
                class_of(status),
                format!("{label}: {count} {status}"),
            ));
        }
    }
    html! {
        figure {
            svg viewBox={"0 0 " (W) " " (H + 20)} width="100%" role="img" aria-label=(title) {
                @for (x, y, h, class, tip) in &rects {
                    rect class=(class) x=(x + 1) y=(y) width=((bar - 2).max(1)) height=(h) { title { (tip) } }
                }
                text x="0" y=(H + 16) { (buckets.keys().next().map_or("", String::as_str)) }
                text x=(W) y=(H + 16) text-anchor="end" { (buckets.keys().last().map_or("", String::as_str)) }
            }
            figcaption {
                ul.legend { @for s in &series { li { span class={"swatch " (class_of(s))} {} (s) } } }
            }
        }
    }
}

/// Horizontal bars: a count per name, largest first as given.
pub fn bars(title: &str, rows: &[(String, u64)]) -> Markup {
    let top = rows.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1);
    let row_h = 22;
    let h = (rows.len() as i64 * row_h).max(row_h);
    html! {
        svg viewBox={"0 0 " (W) " " (h)} width="100%" role="img" aria-label=(title) {
            @for (i, (name, count)) in rows.iter().enumerate() {
                @let y = i as i64 * row_h;
                @let w = (*count as i64 * (W - 260)) / top as i64;
                text x="0" y=(y + 15) { (name) }
                rect.s-denied x="220" y=(y + 3) width=(w.max(1)) height="16" {}
                text x=(224 + w) y=(y + 15) { (count) }
            }
        }
    }
}
