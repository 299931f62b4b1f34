//! The governed package index: PEP 503 "simple" pages served by the egress proxy for the
//! reserved host `index.airlock`, listing only the `name==version` files the running
//! execution was granted, each with its `#sha256=` (pip verifies it). Everything else is 404.
//! pip in the sandbox reaches it through the same relay as any egress, so a package outside
//! the grant cannot be installed even by code that runs pip itself.

use airlock_gateway_domain::egress::{EgressGrant, EgressRecord};
use std::path::Path;
use tokio::io::{AsyncWrite, AsyncWriteExt};

pub const INDEX_HOST: &str = "index.airlock";

/// PEP 503 name normalisation: lower case, runs of `-`, `_`, `.` become `-`.
pub fn normalize_project(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut dash = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            dash = true;
        } else {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// (normalised project, version) of a wheel file name.
fn wheel_id(file: &str) -> Option<(String, String)> {
    let stem = file.strip_suffix(".whl")?;
    let mut parts = stem.split('-');
    Some((normalize_project(parts.next()?), parts.next()?.to_owned()))
}

fn granted(grant: Option<&EgressGrant>, project: &str, version: &str) -> bool {
    let want = format!("{project}=={version}");
    grant.is_some_and(|g| g.packages.iter().any(|p| p.eq_ignore_ascii_case(&want)))
}

/// A file of a granted pin is served only if its sha256 is one policy pinned (when it pinned any).
fn hash_allowed(grant: Option<&EgressGrant>, project: &str, version: &str, sha256: &str) -> bool {
    let key = format!("{project}=={version}");
    match grant.and_then(|g| g.package_hashes.get(&key)) {
        Some(hashes) if !hashes.is_empty() => hashes.iter().any(|h| h.eq_ignore_ascii_case(sha256)),
        _ => true,
    }
}

async fn respond<S: AsyncWrite + Unpin>(
    client: &mut S,
    status: &str,
    ctype: &str,
    reason: Option<&str>,
    body: &[u8],
) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(r) = reason {
        head.push_str(&format!("X-Airlock-Egress: {r}\r\n"));
    }
    head.push_str("\r\n");
    let _ = client.write_all(head.as_bytes()).await;
    let _ = client.write_all(body).await;
    let _ = client.shutdown().await;
}

pub async fn serve<S: AsyncWrite + Unpin>(
    mut client: S,
    mut rec: EgressRecord,
    method: &str,
    path: &str,
    grant: Option<&EgressGrant>,
    wheelhouse: Option<&Path>,
) -> EgressRecord {
    let files: Vec<String> = wheelhouse
        .and_then(|w| std::fs::read_dir(w).ok())
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| n.ends_with(".whl"))
                .collect()
        })
        .unwrap_or_default();
    let refuse = |reason: &str| {
        (
            reason.to_owned(),
            format!("airlock package index: {reason}\n"),
        )
    };
    let outcome: Result<(String, Vec<u8>), (String, String)> =
        if method != "GET" && method != "HEAD" {
            Err(refuse("method_not_allowed"))
        } else if let Some(project) = path
            .strip_prefix("/simple/")
            .map(|p| p.trim_end_matches('/'))
        {
            let project = normalize_project(project);
            let mut links = String::new();
            for f in &files {
                if let Some((p, v)) = wheel_id(f) {
                    if p == project && granted(grant, &p, &v) {
                        let bytes = wheelhouse
                            .and_then(|w| std::fs::read(w.join(f)).ok())
                            .unwrap_or_default();
                        let hash = sha256_hex(&bytes);
                        if !hash_allowed(grant, &p, &v, &hash) {
                            continue;
                        }
                        links.push_str(&format!(
                            "<a href=\"/files/{f}#sha256={hash}\">{f}</a><br/>\n"
                        ));
                    }
                }
            }
            if links.is_empty() {
                Err(refuse("package_not_granted"))
            } else {
                Ok((
                    "text/html".into(),
                    format!("<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n").into_bytes(),
                ))
            }
        } else if let Some(file) = path.strip_prefix("/files/") {
            let file = file.split('#').next().unwrap_or(file);
            match wheel_id(file) {
                Some((p, v)) if files.iter().any(|f| f == file) && granted(grant, &p, &v) => {
                    let bytes = wheelhouse
                        .and_then(|w| std::fs::read(w.join(file)).ok())
                        .unwrap_or_default();
                    if hash_allowed(grant, &p, &v, &sha256_hex(&bytes)) {
                        Ok(("application/octet-stream".into(), bytes))
                    } else {
                        Err(refuse("package_hash_mismatch"))
                    }
                }
                _ => Err(refuse("package_not_granted")),
            }
        } else {
            Err(refuse("package_not_granted"))
        };
    match outcome {
        Ok((ctype, body)) => {
            rec.admitted = true;
            rec.bytes_down = body.len() as u64;
            respond(
                &mut client,
                "200 OK",
                &ctype,
                None,
                if method == "HEAD" { &[] } else { &body },
            )
            .await;
        }
        Err((reason, body)) => {
            rec.admitted = false;
            let status = if reason == "method_not_allowed" {
                "405 Method Not Allowed"
            } else {
                "404 Not Found"
            };
            respond(
                &mut client,
                status,
                "text/plain",
                Some(&reason),
                body.as_bytes(),
            )
            .await;
            rec.reason = Some(reason);
        }
    }
    rec
}

/// SHA-256 in hex; std has no digest and this crate stays dependency-light, so the digest comes
/// from the domain crate's dependency (sha2) through a tiny wrapper there.
fn sha256_hex(bytes: &[u8]) -> String {
    airlock_gateway_domain::digest::sha256_hex(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_wheel_files() {
        assert_eq!(normalize_project("Airlock_Demo.Pkg"), "airlock-demo-pkg");
        assert_eq!(
            wheel_id("airlock_demo-1.0.0-py3-none-any.whl"),
            Some(("airlock-demo".into(), "1.0.0".into()))
        );
        assert_eq!(wheel_id("x.tar.gz"), None);
    }
}
