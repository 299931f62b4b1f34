//! The governed package index: PEP 503 "simple" pages served by the egress proxy for the
//! reserved host `index.airlock`, listing only the `name==version` files the running
//! execution was granted, each with its `#sha256=` (pip verifies it). Everything else is 404.
//! pip in the sandbox reaches it through the same relay as any egress, so a package outside
//! the grant cannot be installed even by code that runs pip itself.

use airlock_gateway_domain::{
    digest::sha256_hex,
    egress::{EgressGrant, EgressRecord, EgressRefusal},
};
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
    reason: Option<EgressRefusal>,
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
    // The client accepts PEP 691 JSON.
    json: bool,
    grant: Option<&EgressGrant>,
    cfg: &crate::ProxyConfig,
) -> EgressRecord {
    let wheelhouse = cfg.wheelhouse.as_deref();
    if let Some(project) = path
        .strip_prefix("/simple/")
        .map(|p| normalize_project(p.trim_end_matches('/')))
    {
        if let Err(e) = fill_from_mirror(cfg, grant, &project).await {
            tracing::warn!(project = %project, error = %e, "package mirror");
        }
    }
    let files: Vec<String> = wheelhouse
        .and_then(|w| std::fs::read_dir(w).ok())
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| n.ends_with(".whl"))
                .collect()
        })
        .unwrap_or_default();
    let refuse = |reason: EgressRefusal| (reason, format!("airlock package index: {reason}\n"));
    let outcome: Result<(String, Vec<u8>), (EgressRefusal, String)> = if method != "GET"
        && method != "HEAD"
    {
        Err(refuse(EgressRefusal::MethodNotAllowed))
    } else if let Some(project) = path
        .strip_prefix("/simple/")
        .map(|p| p.trim_end_matches('/'))
    {
        let project = normalize_project(project);
        let mut json_files: Vec<serde_json::Value> = vec![];
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
                    json_files.push(serde_json::json!({"filename": f, "url": format!("/files/{f}"), "hashes": {"sha256": hash}}));
                }
            }
        }
        if links.is_empty() {
            Err(refuse(EgressRefusal::PackageNotGranted))
        } else if json {
            Ok((
                    "application/vnd.pypi.simple.v1+json".into(),
                    serde_json::json!({"meta": {"api-version": "1.0"}, "name": project, "files": json_files}).to_string().into_bytes(),
                ))
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
                    Err(refuse(EgressRefusal::PackageHashMismatch))
                }
            }
            _ => Err(refuse(EgressRefusal::PackageNotGranted)),
        }
    } else {
        Err(refuse(EgressRefusal::PackageNotGranted))
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
            let status = if reason == EgressRefusal::MethodNotAllowed {
                "405 Method Not Allowed"
            } else {
                "404 Not Found"
            };
            respond(
                &mut client,
                status,
                "text/plain",
                Some(reason),
                body.as_bytes(),
            )
            .await;
            rec.reason = Some(reason);
        }
    }
    rec
}

/// Fetches the approved files of the granted pins of `project` that the wheelhouse lacks from
/// the mirror, keeping only files whose sha256 policy approved, and caches them there.
async fn fill_from_mirror(
    cfg: &crate::ProxyConfig,
    grant: Option<&EgressGrant>,
    project: &str,
) -> Result<usize, String> {
    let (Some(mirror), Some(wheelhouse), Some(grant)) =
        (cfg.mirror.as_deref(), cfg.wheelhouse.as_deref(), grant)
    else {
        return Ok(0);
    };
    // version -> approved hashes; a mirror download needs a policy hash to be checked against.
    let pins: std::collections::HashMap<&str, &Vec<String>> = grant
        .packages
        .iter()
        .filter_map(|p| {
            let (n, v) = p.split_once("==")?;
            let hashes = grant.package_hashes.get(p).filter(|h| !h.is_empty())?;
            (n == project).then_some((v, hashes))
        })
        .collect();
    if pins.is_empty() {
        return Ok(0);
    }
    let page = reqwest::Url::parse(&format!("{}/{project}/", mirror.trim_end_matches('/')))
        .map_err(|e| e.to_string())?;
    let html = cfg
        .http
        .get(page.clone())
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let mut fetched = 0;
    for href in html
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
    {
        let Ok(url) = page.join(href) else { continue };
        let Some(name) = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .map(str::to_owned)
        else {
            continue;
        };
        let Some((p, v)) = wheel_id(&name) else {
            continue;
        };
        let Some(hashes) = pins.get(v.as_str()) else {
            continue;
        };
        if p != project || name.contains('/') || wheelhouse.join(&name).exists() {
            continue;
        }
        let mut clean = url.clone();
        clean.set_fragment(None);
        let bytes = cfg
            .http
            .get(clean)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?
            .bytes()
            .await
            .map_err(|e| e.to_string())?;
        let digest = sha256_hex(&bytes);
        if !hashes.iter().any(|h| h.eq_ignore_ascii_case(&digest)) {
            tracing::warn!(file = %name, sha256 = %digest, "mirror file does not match the policy hash; not cached");
            continue;
        }
        let tmp = wheelhouse.join(format!(".{name}.part"));
        std::fs::write(&tmp, &bytes)
            .and_then(|()| std::fs::rename(&tmp, wheelhouse.join(&name)))
            .map_err(|e| e.to_string())?;
        fetched += 1;
    }
    Ok(fetched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pages_list_only_granted_files_in_html_and_json() {
        use tokio::io::AsyncReadExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for f in ["demo-1.0-py3-none-any.whl", "demo-2.0-py3-none-any.whl"] {
            std::fs::write(dir.path().join(f), f).unwrap_or_else(|e| panic!("{e}"));
        }
        let cfg = crate::ProxyConfig {
            wheelhouse: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let grant = EgressGrant {
            packages: vec!["demo==1.0".into()],
            ..Default::default()
        };
        for json in [false, true] {
            let (a, mut b) = tokio::io::duplex(1 << 16);
            let rec = serve(
                a,
                EgressRecord::default(),
                "GET",
                "/simple/Demo/",
                json,
                Some(&grant),
                &cfg,
            )
            .await;
            let mut out = String::new();
            let _ = b.read_to_string(&mut out).await;
            assert!(rec.admitted);
            assert!(
                out.contains("demo-1.0-py3-none-any.whl") && !out.contains("demo-2.0"),
                "{out}"
            );
            assert_eq!(
                out.contains("application/vnd.pypi.simple.v1+json"),
                json,
                "{out}"
            );
            assert!(out.contains(&sha256_hex(b"demo-1.0-py3-none-any.whl")));
        }
        let (a, _b) = tokio::io::duplex(1 << 16);
        let rec = serve(
            a,
            EgressRecord::default(),
            "GET",
            "/files/demo-2.0-py3-none-any.whl",
            false,
            Some(&grant),
            &cfg,
        )
        .await;
        assert_eq!(rec.reason, Some(EgressRefusal::PackageNotGranted));
    }

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
