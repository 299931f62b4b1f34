//! Step 5 for SQL: the statement runs on the connector policy granted (`crate::connectors`),
//! its rows delivered where the caller needs them: a cell's workspace, or the running code
//! that asked through `sql.airlock`.

use super::{
    enforce::Enforced,
    prepare::{Ready, Turn},
    record::RunFailure,
};
use crate::{
    connectors::{Delivery, RunOpts},
    service::Gateway,
};
use airlock_gateway_domain::{connectors::ConnectorGrant, Principal};
use std::time::Duration;
use tracing::Instrument;

impl Gateway {
    pub(super) async fn on_connector(
        &self,
        p: &Principal,
        ready: &Ready,
        grant: &ConnectorGrant,
    ) -> Result<Enforced, RunFailure> {
        let exec = &ready.exec;
        let delivery = match ready.turn {
            Turn::InsideRunning { .. } => Delivery::RunningCode,
            Turn::Held { .. } => Delivery::Workspace {
                row_limit: grant.row_limit as usize,
            },
        };
        let opts = RunOpts {
            timeout: Duration::from_secs(u64::from(ready.timeout_seconds)),
            delivery,
            facts: ready.facts.sql.as_ref(),
        };
        let run = self
            .run_connector(p, exec, ready.turn.live(), grant, opts)
            .instrument(tracing::info_span!("enforce", backend = "connector"))
            .await;
        match run {
            Ok(r) => Ok(Enforced {
                outcome: r.outcome,
                streamed: None,
                events: r.events,
                labels: r.labels,
                held: None,
            }),
            Err((e, evs)) => Err(self.connector_failed(p, exec.clone(), evs, e).await),
        }
    }
}
