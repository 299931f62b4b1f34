//! The printed tables of the Kafka, Kubernetes and warehouse SQL benches.

use crate::{connectors, kafka, kubernetes, row};

pub(crate) async fn kafka_rows() {
    let Some(k) = kafka::kafka_bench().await else {
        return;
    };
    println!();
    println!("| audit to Kafka | value |\n|---|---|");
    println!(
        "| events relayed: a backlog drained, then 1,000 live appends | {} |",
        k.events
    );
    println!(
        "| relay draining the backlog: read from the outbox, acknowledged by the broker, marked | {:.0} events/s |",
        k.relay_per_s
    );
    println!(
        "| baseline: same events produced from memory, same publisher | {:.0} events/s |",
        k.baseline_per_s
    );
    println!(
        "| relay / baseline | {:.2}x |",
        k.relay_per_s / k.baseline_per_s
    );
    println!(
        "| outbox append (one event per commit) while the relay publishes, p50 / p99 ({} samples) | {:.0} µs / {:.0} µs |",
        k.append.n,
        k.append.p50 * 1e3,
        k.append.p99 * 1e3
    );
    println!(
        "| read back from the topic | {} messages, {} duplicates dropped, chain {} |",
        k.read_back,
        k.duplicates,
        if k.chain_ok {
            "verified, no loss"
        } else {
            "BROKEN OR INCOMPLETE"
        }
    );
}

pub(crate) async fn kubernetes_rows() {
    let r = kubernetes::pool_bench(300).await;
    println!(
        "| Kubernetes session start (fake API server) | samples | p50 | p99 |\n|---|---|---|---|"
    );
    row("session ready from the warm pool (claim)", &r.claim, false);
    row("one agent round trip (ping, baseline)", &r.ping, false);
    row(
        "cold start (pod created, watched ready, claimed)",
        &r.cold,
        false,
    );
    println!(
        "\ngateway time of a claim beyond one agent round trip: {:.2} ms p50, {:.2} ms p99 (target <= 50 ms); claims that fell back to a cold start: {}",
        r.claim.p50 - r.ping.p50,
        r.claim.p99 - r.ping.p99,
        r.fallbacks
    );
}

pub(crate) async fn connector_rows() {
    let Some(c) = connectors::connectors_bench().await else {
        return;
    };
    println!();
    println!("| warehouse SQL (PostgreSQL) | samples | p50 | p99 |\n|---|---|---|---|");
    row(
        "query with a standing login (baseline: connect, read-only tx, query)",
        &c.baseline,
        false,
    );
    row(
        "query with a per-query Vault login (issue + shorten, connect, query, revoke)",
        &c.governed,
        false,
    );
    row(
        "  of which: issue (Vault creates the role, lease shortened)",
        &c.issue,
        false,
    );
    row(
        "  of which: revoke (Vault drops the role)",
        &c.revoke,
        false,
    );
    println!(
        "per-query credential overhead at p50: {:.2} ms ({:.2}x the baseline)",
        c.governed.p50 - c.baseline.p50,
        c.governed.p50 / c.baseline.p50
    );
}
