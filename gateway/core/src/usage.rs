//! Usage metering: what a run or a case adds to its principal's figures of the day (a change in
//! the same commit as its record), the Prometheus counters per tenant, and the figures read
//! back for `GET /v1/usage`: an auditor's for every tenant, a tenant auditor's for their
//! tenant, anyone else's for themselves.

use crate::service::{err, store_err, Gateway};
use airlock_gateway_audit::AuditScope;
use airlock_gateway_domain::{
    ports::{Change, RunUsage},
    usage::{Usage, UsageEntry, UsageQuery, UsageTotal},
    ErrorCode, GatewayError, Principal,
};
use time::{format_description::well_known::Iso8601, Date, Duration, OffsetDateTime};

/// The longest range one read covers.
const MAX_DAYS: i64 = 366;

/// Which figures a caller asks for (days inclusive; default: the last 30 days).
#[derive(Clone, Debug, Default)]
pub struct UsageFilter {
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub tenant: Option<String>,
}

/// The figures a caller may see.
#[derive(Clone, Debug)]
pub struct UsageReport {
    pub from: Date,
    pub to: Date,
    /// `all`, `tenant` or `self`: whose figures these are.
    pub scope: &'static str,
    pub rows: Vec<UsageTotal>,
    pub total: Usage,
}

/// One execution's usage: its run's CPU, egress and rows, and its sandbox's memory for its
/// wall time.
pub(crate) fn of_run(run: &RunUsage, memory_mib: u32, duration_ms: u64) -> Usage {
    Usage {
        executions: 1,
        cpu_ms: run.cpu.map_or(0, |d| d.as_millis() as u64),
        memory_mib_ms: u64::from(memory_mib) * duration_ms,
        egress_bytes: run.egress_bytes,
        warehouse_rows: run.warehouse_rows,
        review_cases: 0,
    }
}

/// One review case opened.
pub(crate) fn of_case() -> Usage {
    Usage {
        review_cases: 1,
        ..Usage::default()
    }
}

fn day(t: OffsetDateTime) -> String {
    day_of(t.to_offset(time::UtcOffset::UTC).date())
}

fn day_of(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl Gateway {
    /// The change that adds `u` to `p`'s figures of today (commit it with the record).
    pub(crate) fn usage_change(&self, p: &Principal, u: Usage) -> Change {
        Change::AddUsage(UsageEntry {
            day: day(self.now()),
            tenant: p.tenant.clone(),
            principal: p.owner_key(),
            usage: u,
        })
    }

    /// Counts committed usage in the Prometheus counters (labelled by tenant only: principals
    /// are too many for labels; their figures are in `GET /v1/usage`).
    pub(crate) fn count_usage(p: &Principal, u: &Usage) {
        use crate::metric::usage as m;
        let tenant = p.tenant.clone().unwrap_or_default();
        let add = |name: &'static str, v: u64| {
            if v > 0 {
                metrics::counter!(name, "tenant" => tenant.clone()).increment(v);
            }
        };
        add(m::EXECUTIONS, u.executions);
        add(m::CPU_MS, u.cpu_ms);
        add(m::MEMORY_MIB_MS, u.memory_mib_ms);
        add(m::EGRESS_BYTES, u.egress_bytes);
        add(m::WAREHOUSE_ROWS, u.warehouse_rows);
        add(m::REVIEW_CASES, u.review_cases);
    }

    /// The usage figures `p` may read.
    pub async fn usage(&self, p: &Principal, f: UsageFilter) -> Result<UsageReport, GatewayError> {
        let today = self.now().to_offset(time::UtcOffset::UTC).date();
        let to = f.to.unwrap_or(today);
        let from = f.from.unwrap_or(to - Duration::days(29));
        if from > to || (to - from).whole_days() >= MAX_DAYS {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!("from must not be after to, and the range at most {MAX_DAYS} days"),
            ));
        }
        let (scope, tenant, principal) = match self.audit_reader.scope(p) {
            Ok(AuditScope::All) => ("all", f.tenant, None),
            Ok(AuditScope::Tenant(t)) => {
                if f.tenant.as_ref().is_some_and(|asked| *asked != t) {
                    return Err(err(
                        ErrorCode::NotAnAuditor,
                        "a tenant auditor reads only their own tenant's usage",
                    ));
                }
                ("tenant", Some(t), None)
            }
            // Their own figures under whatever tenant they had on each day.
            Err(_) => ("self", None, Some(p.owner_key())),
        };
        let q = UsageQuery {
            from: day_of(from),
            to: day_of(to),
            tenant,
            principal,
        };
        let rows = self.deps.store.usage(&q).await.map_err(store_err)?;
        let mut total = Usage::default();
        for r in &rows {
            total.add(&r.usage);
        }
        Ok(UsageReport {
            from,
            to,
            scope,
            rows,
            total,
        })
    }
}

/// A `YYYY-MM-DD` query parameter.
pub fn parse_day(s: &str) -> Result<Date, GatewayError> {
    Date::parse(s, &Iso8601::DATE).map_err(|_| {
        err(
            ErrorCode::InvalidRequest,
            format!("{s:?} is not a date (YYYY-MM-DD)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_and_zero_padded() {
        let t = OffsetDateTime::from_unix_timestamp(1_767_225_600 - 1)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            .to_offset(time::UtcOffset::from_hms(5, 0, 0).unwrap_or(time::UtcOffset::UTC));
        assert_eq!(day(t), "2025-12-31");
        assert_eq!(
            parse_day("2026-02-03").map(day_of).ok().as_deref(),
            Some("2026-02-03")
        );
        assert!(parse_day("2026-13-01").is_err());
        assert!(parse_day("yesterday").is_err());
    }

    #[test]
    fn a_runs_memory_is_its_limit_for_its_wall_time() {
        let run = RunUsage {
            cpu: Some(std::time::Duration::from_millis(1500)),
            egress_bytes: 10,
            warehouse_rows: 3,
        };
        let u = of_run(&run, 512, 2000);
        assert_eq!(
            u,
            Usage {
                executions: 1,
                cpu_ms: 1500,
                memory_mib_ms: 1_024_000,
                egress_bytes: 10,
                warehouse_rows: 3,
                review_cases: 0
            }
        );
    }
}
