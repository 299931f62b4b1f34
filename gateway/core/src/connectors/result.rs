//! What a statement's rows become: scrubbed of the credential, shown to the model (up to the
//! grant's row limit, or every row for the code that asked), and kept whole as CSV in the
//! session's workspace.

use super::{query::Delivery, ConnectorEntry};
use crate::sessions::LiveSession;
use airlock_gateway_audit::Redactor;
use airlock_gateway_domain::{
    connectors::SqlResult,
    execution::{ExecutionError, Output},
    files::{FileInfo, WorkspacePath},
    ports::{JobEnd, JobOutcome},
    ExecutionErrorCode, ExecutionId,
};
use std::time::Duration;

/// Scrubs the result with the redactor (which knows the credential's password while the run
/// lasts: a query can read it back, for example from a comment the role was created with).
pub(super) fn scrub(red: &Redactor, r: &mut SqlResult) {
    for c in &mut r.columns {
        red.redact_str(c);
    }
    for row in &mut r.rows {
        for v in row.iter_mut() {
            red.redact_value(v);
        }
    }
}

/// Keeps a secret registered with the redactor until dropped, on every path out of a run.
pub(super) struct RegisteredSecret<'a>(&'a Redactor, String);

impl<'a> RegisteredSecret<'a> {
    pub fn new(red: &'a Redactor, secret: &str) -> Self {
        red.add_secret(secret);
        Self(red, secret.to_owned())
    }
}

impl Drop for RegisteredSecret<'_> {
    fn drop(&mut self) {
        self.0.forget_secret(&self.1);
    }
}

fn csv_bytes(r: &SqlResult) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(&r.columns);
    for row in &r.rows {
        let _ = w.write_record(row.iter().map(|v| match v {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }));
    }
    w.into_inner().unwrap_or_default()
}

/// A statement the database refused.
pub(super) fn failed(message: String, duration: Duration) -> JobOutcome {
    let mut o = JobOutcome::new(JobEnd::Failed, duration);
    o.error = Some(ExecutionError {
        name: "DatabaseError".into(),
        value: message,
        traceback: vec![],
        code: Some(ExecutionErrorCode::SqlError),
    });
    o
}

/// The rows as the execution's output (and, for a cell, its CSV artifact).
pub(super) async fn rows(
    live: &LiveSession,
    exec_id: &ExecutionId,
    entry: &ConnectorEntry,
    r: &SqlResult,
    delivery: Delivery,
    duration: Duration,
) -> JobOutcome {
    let mut o = JobOutcome::new(JobEnd::Completed, duration);
    o.usage.warehouse_rows = r.rows.len() as u64;
    let (file, show) = match delivery {
        // The kernel is busy running the code that asked; every row goes to it.
        Delivery::RunningCode => (None, r.rows.len()),
        Delivery::Workspace { row_limit } => (write_csv(live, exec_id, entry, r).await, row_limit),
    };
    let shown: Vec<&Vec<serde_json::Value>> = r.rows.iter().take(show).collect();
    let mut data = std::collections::BTreeMap::new();
    data.insert(
        "application/json".to_owned(),
        serde_json::json!({
            "columns": r.columns,
            "rows": shown,
            "row_count": r.rows.len(),
            "rows_shown": shown.len(),
            "truncated": r.truncated || shown.len() < r.rows.len(),
            "artifact": file.as_ref().map(|f| f.path.clone()),
        }),
    );
    o.outputs.push(Output {
        kind: "sql_result".into(),
        data,
    });
    o.stdout = format!(
        "{} row(s){}\n",
        r.rows.len(),
        file.as_ref()
            .map(|f| format!("; the full result is in {}", f.path))
            .unwrap_or_default()
    );
    o.artifacts.extend(file);
    o
}

/// Tells the caller, with the rows, which columns came masked and which rows were filtered.
pub(super) fn note_governed(o: &mut JobOutcome, governed: Option<&serde_json::Value>) {
    let Some(g) = governed else { return };
    for out in o.outputs.iter_mut().filter(|x| x.kind == "sql_result") {
        if let Some(serde_json::Value::Object(m)) = out.data.get_mut("application/json") {
            m.insert("governed".into(), g.clone());
        }
    }
}

async fn write_csv(
    live: &LiveSession,
    exec_id: &ExecutionId,
    entry: &ConnectorEntry,
    r: &SqlResult,
) -> Option<FileInfo> {
    let wp = WorkspacePath::parse(&format!("sql/{exec_id}.csv")).ok()?;
    match live.sandbox.write_file(&wp, csv_bytes(r)).await {
        Ok(mut f) => {
            f.classification = entry.labels.first().cloned();
            Some(f)
        }
        Err(e) => {
            tracing::error!(error = %e, "writing the SQL result artifact failed");
            None
        }
    }
}
