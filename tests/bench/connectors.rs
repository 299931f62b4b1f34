//! Warehouse SQL with a credential per query: what Vault issuing a login (and the lease
//! shortened), connecting with it and revoking it costs, beside the same query through the same
//! connector code with a standing login (the baseline). OpenBao dev server and the warehouse of
//! deploy/test-warehouse.sh.

use airlock_connector_sql::{PostgresConnector, PostgresSettings};
use airlock_connector_vault::{VaultAuth, VaultBroker, VaultSettings};
use airlock_gateway_domain::connectors::{
    CredentialBroker, DbCredential, PlainStatement, QueryLimits, SqlConnector,
};
use std::time::{Duration, Instant};

pub struct ConnectorReport {
    pub governed: crate::Stats,
    pub baseline: crate::Stats,
    pub issue: crate::Stats,
    pub revoke: crate::Stats,
}

const QUERY: &str = "SELECT region, sum(amount) AS total FROM sales.orders GROUP BY region";

pub async fn connectors_bench() -> Option<ConnectorReport> {
    let bao = match tokio::task::spawn_blocking(|| {
        std::panic::catch_unwind(airlock_tests::vault::Bao::start)
    })
    .await
    {
        Ok(Ok(b)) => b,
        _ => {
            println!(
                "(connectors: OpenBao or the warehouse is not set up; run deploy/test.sh first)"
            );
            return None;
        }
    };
    let broker = VaultBroker::new(VaultSettings {
        address: bao.address(),
        auth: VaultAuth::Token(airlock_tests::vault::ROOT_TOKEN.into()),
        timeout: Duration::from_secs(10),
        attempts: 1,
    });
    let connector = PostgresConnector::new(PostgresSettings {
        host: "127.0.0.1".into(),
        port: 5432,
        database: airlock_tests::vault::WAREHOUSE_DB.into(),
        default_schema: "public".into(),
        ssl_mode: "disable".into(),
        connect_timeout: Duration::from_secs(10),
    });
    let limits = QueryLimits {
        max_rows: 1000,
        timeout: Duration::from_secs(30),
        read_only: true,
    };
    let standing = DbCredential {
        username: "airlock_vault".into(),
        password: "vault-admin-7Hq2".into(),
        lease_id: String::new(),
        ttl: Duration::ZERO,
    };
    let plain = PlainStatement(QUERY.to_owned());
    let (mut governed, mut baseline, mut issue, mut revoke) = (vec![], vec![], vec![], vec![]);
    for i in 0..220 {
        let t = Instant::now();
        let r = connector.query(&standing, &plain, &limits).await;
        let base = t.elapsed();
        assert!(r.is_ok_and(|r| r.rows.len() == 3));

        let t = Instant::now();
        let cred = broker
            .issue("database", "analyst_read", Duration::from_secs(45))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let issued = t.elapsed();
        let r = connector.query(&cred, &plain, &limits).await;
        assert!(r.is_ok_and(|r| r.rows.len() == 3));
        let t2 = Instant::now();
        broker
            .revoke(&cred.lease_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let revoked = t2.elapsed();
        if i >= 20 {
            baseline.push(base);
            governed.push(t.elapsed());
            issue.push(issued);
            revoke.push(revoked);
        }
    }
    drop(tokio::task::spawn_blocking(move || drop(bao)).await);
    Some(ConnectorReport {
        governed: crate::stats(governed),
        baseline: crate::stats(baseline),
        issue: crate::stats(issue),
        revoke: crate::stats(revoke),
    })
}
