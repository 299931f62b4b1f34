//! One execution's egress: its grant, the connections it opened, and their end. Every
//! connection runs as a task of the epoch; [`Epoch::close`] cuts the ones still open when the
//! execution ends and returns once each has been recorded in the execution's log, so no
//! connection outlives its execution or escapes its record.
//!
//! A connection the code closed in its last line can still be on its way through the sandbox's
//! relay when the execution ends. Cutting it then would record a finished request as cut, so
//! the cut is not instant: every connection gets [`SETTLE`] for a close in flight to arrive, and
//! one that is ending by itself (only the upstream's answer left to pass: the code closed its
//! side of a tunnel, or sent all of a plain request) gets up to [`GRACE`] to finish. Nothing
//! the code sends after its execution ended gets further than [`SETTLE`]. Both are bounded, so the execution's end still is too.

use crate::proxy::{serve, ProxyConfig};
use airlock_gateway_domain::egress::{EgressGrant, EgressLog, EgressRecord, EgressRefusal};
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// How long `close` waits for cut connections to record themselves.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// How long any connection still open at the execution's end may take to show it is ending.
pub(crate) const SETTLE: Duration = Duration::from_millis(25);
/// How long a connection that is ending by itself may take to finish once its execution ended.
pub(crate) const GRACE: Duration = Duration::from_secs(1);

pub struct Epoch {
    grant: Option<EgressGrant>,
    log: Arc<EgressLog>,
    ended: CancellationToken,
    tasks: TaskTracker,
}

impl Epoch {
    /// An epoch under `grant` (None: every connection is refused, and recorded) writing to `log`.
    pub fn new(grant: Option<EgressGrant>, log: Arc<EgressLog>) -> Arc<Self> {
        Arc::new(Self {
            grant,
            log,
            ended: CancellationToken::new(),
            tasks: TaskTracker::new(),
        })
    }

    /// Serves one client connection under this epoch, recorded when it ends.
    pub fn serve<S>(self: &Arc<Self>, client: S, cfg: ProxyConfig)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let epoch = self.clone();
        self.tasks.spawn(async move {
            let mut rec = EgressRecord {
                decision_id: epoch.grant.as_ref().map(|g| g.decision_id.clone()),
                ..Default::default()
            };
            let settling = AtomicBool::new(false);
            let cut = tokio::select! {
                () = serve(client, epoch.grant.as_ref(), &cfg, &mut rec, &settling) => false,
                () = epoch.cut_time(&settling) => true,
            };
            if cut {
                rec.reason = Some(EgressRefusal::ExecutionEnded);
            }
            tracing::info!(host = %rec.host, port = rec.port, admitted = rec.admitted, reason = ?rec.reason, "egress connection");
            epoch.log.push(rec);
        });
    }

    /// Resolves when a connection of this epoch is to be cut: [`SETTLE`] after the execution
    /// ended, or up to [`GRACE`] after it for one that is `settling` by then.
    async fn cut_time(&self, settling: &AtomicBool) {
        self.ended.cancelled().await;
        tokio::time::sleep(SETTLE).await;
        if settling.load(Ordering::Acquire) {
            tokio::time::sleep(GRACE.saturating_sub(SETTLE)).await;
        }
    }

    /// Refuses a connection without serving it (a peer that is not the sandbox), recorded.
    pub fn refuse(&self, reason: EgressRefusal) {
        self.log.push(EgressRecord {
            reason: Some(reason),
            decision_id: self.grant.as_ref().map(|g| g.decision_id.clone()),
            ..Default::default()
        });
    }

    /// Ends the epoch: connections still open are cut, and this returns once every connection
    /// of the epoch is in the log.
    pub async fn close(&self) {
        self.ended.cancel();
        self.tasks.close();
        if tokio::time::timeout(CLOSE_WAIT, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::error!(
                "egress connections did not finish recording after their execution ended"
            );
        }
    }

    pub fn is_closed(&self) -> bool {
        self.ended.is_cancelled()
    }
}
