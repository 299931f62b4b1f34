//! Executions and refusals as MCP tool results: text for people and models, `image/png` as
//! image content, workspace files as resource links, rows as structured content and an
//! embedded CSV, and a denial as `isError: true` with the violations and hints.

use crate::tools::{ErrorSummary, ExecutionSummary, ViolationSummary};
use airlock_gateway_domain::{Execution, ExecutionStatus, GatewayError, Output};
use rmcp::model::{CallToolResult, ContentBlock as Content, Resource, ResourceContents};

/// The URI of a workspace file (read it with the `read_file` tool).
pub(crate) fn file_uri(session: &str, path: &str) -> String {
    format!("airlock://sessions/{session}/files/{path}")
}

pub(crate) fn execution(e: &Execution) -> CallToolResult {
    let summary = summary(e);
    let mut content = vec![Content::text(text_of(e, &summary))];
    for (i, o) in e.outputs.iter().enumerate() {
        content.extend(output_content(o));
        // A table (a DataFrame's HTML) also as a resource a client can render.
        if let Some(html) = o.data.get("text/html").and_then(|v| v.as_str()) {
            let uri = format!("airlock://executions/{}/outputs/{i}.html", e.id);
            let table = ResourceContents::text(html, uri).with_mime_type("text/html");
            content.push(Content::resource(table));
        }
    }
    for a in &e.artifacts {
        let link = Resource::new(file_uri(e.session_id.as_str(), &a.path), a.path.clone())
            .with_mime_type(a.media_type.clone())
            .with_size(a.size);
        content.push(Content::resource_link(link));
    }
    if let (Some(cols), Some(rows)) = (&summary.columns, &summary.rows) {
        let uri = format!("airlock://executions/{}/rows.csv", e.id);
        content.push(Content::embedded_text(uri, csv(cols, rows)));
    }
    let structured = serde_json::to_value(&summary).unwrap_or_default();
    let mut r = if is_error(e.status) {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    };
    r.structured_content = Some(structured);
    r
}

/// Whether the model should read the result as a failure to fix.
fn is_error(s: ExecutionStatus) -> bool {
    matches!(
        s,
        ExecutionStatus::Denied
            | ExecutionStatus::Failed
            | ExecutionStatus::TimedOut
            | ExecutionStatus::Cancelled
    )
}

fn summary(e: &Execution) -> ExecutionSummary {
    let sql = e
        .outputs
        .iter()
        .find(|o| o.kind == "sql_result")
        .and_then(|o| o.data.get("application/json"));
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    ExecutionSummary {
        execution_id: e.id.to_string(),
        session_id: e.session_id.to_string(),
        status: e.status.as_str().to_owned(),
        stdout: e.stdout.clone(),
        stderr: e.stderr.clone(),
        error: e.error.as_ref().map(|x| ErrorSummary {
            code: x.code.as_ref().map(|c| c.as_str().to_owned()),
            name: x.name.clone(),
            value: x.value.clone(),
            traceback: x.traceback.clone(),
        }),
        violations: e
            .decision
            .violations
            .iter()
            .map(|v| ViolationSummary {
                code: v.code.clone(),
                message: v.message.clone(),
                hint: v.hint.clone(),
            })
            .collect(),
        artifacts: e.artifacts.iter().map(|a| a.path.clone()).collect(),
        case_id: e.case_id.as_ref().map(ToString::to_string),
        columns: sql.map(|s| strings(&s["columns"])),
        rows: sql.and_then(|s| serde_json::from_value(s["rows"].clone()).ok()),
        row_count: sql.and_then(|s| s["row_count"].as_u64()),
    }
}

fn text_of(e: &Execution, s: &ExecutionSummary) -> String {
    let mut t = String::new();
    match e.status {
        ExecutionStatus::Denied => {
            t.push_str("Policy denied this execution; nothing ran. Rewrite the code:\n");
            for v in &s.violations {
                t.push_str(&format!("- [{}] {}", v.code, v.message));
                if let Some(h) = &v.hint {
                    t.push_str(&format!(" (hint: {h})"));
                }
                t.push('\n');
            }
        }
        ExecutionStatus::PendingReview => {
            let case = s.case_id.as_deref().unwrap_or("?");
            t.push_str(&format!(
                "Held for compliance review (case {case}); a reviewer decides. Follow it with \
                 review_status {{\"case_id\": \"{case}\"}}.\n"
            ));
        }
        _ => {}
    }
    t.push_str(&e.stdout);
    if !e.stderr.is_empty() {
        t.push_str(&format!("[stderr]\n{}", e.stderr));
    }
    if let Some(err) = &e.error {
        t.push_str(&format!("{}: {}\n", err.name, err.value));
        for line in &err.traceback {
            t.push_str(line);
            t.push('\n');
        }
    }
    if t.is_empty() {
        t.push_str(e.status.as_str());
    }
    t
}

/// A rich output: PNG as an image, otherwise its plain text (HTML tables follow as resources;
/// JSON stays in `GET /v1/executions/{id}`).
fn output_content(o: &Output) -> Option<Content> {
    if o.kind == "sql_result" {
        return None;
    }
    if let Some(png) = o.data.get("image/png").and_then(|v| v.as_str()) {
        return Some(Content::image(png.replace('\n', ""), "image/png"));
    }
    o.data
        .get("text/plain")
        .and_then(|v| v.as_str())
        .map(|t| Content::text(t.to_owned()))
}

fn csv(columns: &[String], rows: &[Vec<serde_json::Value>]) -> String {
    let field = |s: String| -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    };
    let mut out = columns
        .iter()
        .cloned()
        .map(field)
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .map(|v| match v {
                serde_json::Value::String(s) => field(s.clone()),
                serde_json::Value::Null => String::new(),
                other => field(other.to_string()),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// A refusal of the gateway (session limits, an unknown connector, a bad path...) as a tool
/// error with its stable code.
pub(crate) fn gateway_error(e: &GatewayError) -> CallToolResult {
    let mut r = CallToolResult::error(vec![Content::text(format!(
        "{}: {}",
        e.code.as_str(),
        e.message
    ))]);
    r.structured_content = Some(serde_json::json!({
        "error": {"code": e.code.as_str(), "message": e.message, "details": e.details},
    }));
    r
}
