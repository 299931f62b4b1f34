//! The user story, end to end over HTTP with a real OIDC token.

use crate::harness::{self, stdout_of, Gateway};
use base64::Engine;
use serde_json::json;

fn decode_png(bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()));
    let reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("not a PNG: {e}"));
    let info = reader.info();
    (info.width, info.height)
}

#[test]
fn analyst_session_from_upload_to_delete() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();

    // 1. upload
    let csv = b"region,units,revenue\nnorth,10,100.5\nsouth,5,50\nnorth,3,30\n".to_vec();
    let up = api.upload(&sid, "sales.csv", csv.clone(), Some("confidential"));
    assert_eq!(up.status, 201, "{}", up.body);
    assert_eq!(
        up.body["sha256"],
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&csv))
    );

    // 2. the table, then the figure
    let r = api.run(
        &sid,
        "python",
        "import pandas as pd; df = pd.read_csv(\"sales.csv\"); df.groupby(\"region\").sum()",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "succeeded", "{}", r.body);
    let table = r.body["outputs"][0]["data"]["text/plain"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        table.contains("north") && table.contains("130.5") && table.contains("south"),
        "{table}"
    );
    assert!(r.body["outputs"][0]["data"]["text/html"]
        .as_str()
        .unwrap_or_default()
        .contains("<table"));

    let r = api.run(&sid, "python", "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\ndf.groupby('region').sum()['revenue'].plot.bar()\nplt.show()");
    assert_eq!(r.body["status"], "succeeded", "{}", r.body);
    assert_eq!(
        r.body["stderr"], "",
        "no font or backend warnings expected: {}",
        r.body["stderr"]
    );
    let png_b64 = r.body["outputs"]
        .as_array()
        .and_then(|o| o.iter().find_map(|x| x["data"]["image/png"].as_str()))
        .unwrap_or_else(|| panic!("no image/png output: {}", r.body));
    let png = base64::engine::general_purpose::STANDARD
        .decode(png_b64.replace('\n', ""))
        .unwrap_or_default();
    let (w, h) = decode_png(&png);
    assert!(w > 100 && h > 100, "{w}x{h}");
    let art = r.body["artifacts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["media_type"] == "image/png"))
        .unwrap_or_else(|| panic!("no PNG artifact: {}", r.body))
        .clone();
    let path = art["path"].as_str().unwrap_or_default();
    let dl = api.get(&format!("/v1/sessions/{sid}/files/{path}"));
    assert_eq!(dl.status, 200);
    assert_eq!(decode_png(&dl.bytes), (w, h));
    assert_eq!(
        art["sha256"],
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&dl.bytes))
    );

    // 3. an exception with name, value and the full traceback, colour codes stripped
    let r = api.run(
        &sid,
        "python",
        "def ratio(a, b):\n    return a / b\nratio(1, 0)",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "failed");
    assert_eq!(r.body["error"]["name"], "ZeroDivisionError");
    assert_eq!(r.body["error"]["value"], "division by zero");
    let tb = r.body["error"]["traceback"].to_string();
    assert!(
        tb.contains("ratio(1, 0)") && tb.contains("return a / b"),
        "{tb}"
    );
    assert!(!tb.contains("\\u001b["), "ANSI codes left in {tb}");

    // 4. a package outside the allowlist: 403 with an actionable violation
    let r = api.run(
        &sid,
        "python",
        "import requests\nrequests.get('https://example.com')",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["status"], "denied");
    let v = &r.body["decision"]["violations"][0];
    assert_eq!(v["code"], "package_not_allowed");
    assert!(v["message"]
        .as_str()
        .unwrap_or_default()
        .contains("requests"));
    assert!(v["hint"].as_str().unwrap_or_default().contains("pandas"));
    // ... the model rewrites the code per the hint and it runs
    let r = api.run(
        &sid,
        "python",
        "import urllib.parse\nprint(urllib.parse.quote('a b'))",
    );
    assert_eq!(stdout_of(&r), "a%20b\n");

    // 5. state persists like a notebook
    assert_eq!(
        stdout_of(&api.run(&sid, "python", "total = df['units'].sum()")),
        ""
    );
    assert_eq!(
        stdout_of(&api.run(&sid, "python", "print(total * 2)")),
        "36\n"
    );

    // bash, JavaScript and SQL share the workspace
    assert_eq!(
        stdout_of(&api.run(&sid, "bash", "wc -l < sales.csv")).trim(),
        "4"
    );
    assert_eq!(
        stdout_of(&api.run(
            &sid,
            "javascript",
            "console.log(require('fs').readFileSync('sales.csv','utf8').split('\\n')[0])"
        )),
        "region,units,revenue\n"
    );
    let r = api.run(
        &sid,
        "sql",
        "SELECT region, SUM(revenue) AS revenue FROM 'sales.csv' GROUP BY region ORDER BY region",
    );
    assert_eq!(r.body["status"], "succeeded", "{}", r.body);
    let text = r.body["outputs"][0]["data"]["text/plain"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("north") && text.contains("130.5"), "{text}");

    // the execution can be read back
    let eid = r.body["id"].as_str().unwrap_or_default();
    let again = api.get(&format!("/v1/executions/{eid}"));
    assert_eq!(again.status, 200);
    assert_eq!(again.body["status"], "succeeded");

    // another principal sees nothing of it
    let bob = gw.api(&harness::token("bob-tool"));
    for path in [
        format!("/v1/sessions/{sid}"),
        format!("/v1/sessions/{sid}/files"),
        format!("/v1/executions/{eid}"),
    ] {
        let r = bob.get(&path);
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    assert_eq!(bob.run(&sid, "python", "1").status, 404);

    // 6. delete: sandbox and files gone
    let ws = gw.sandboxes_dir();
    assert_eq!(std::fs::read_dir(&ws).map(|d| d.count()).unwrap_or(0), 1);
    let d = api.delete(&format!("/v1/sessions/{sid}"));
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(d.body["status"], "deleted");
    assert_eq!(
        std::fs::read_dir(&ws).map(|d| d.count()).unwrap_or(0),
        0,
        "workspace left behind"
    );
    let r = api.run(&sid, "python", "1");
    assert_eq!(r.status, 409);
    assert_eq!(r.body["error"]["code"], "session_not_active");
    assert_eq!(
        api.get(&format!("/v1/sessions/{sid}")).body["status"],
        "deleted"
    );

    // the auditor: every step, chain intact
    let (code, out) = harness::verify(&gw.audit_file());
    assert_eq!(code, 0, "{out}");
    let events = harness::audit_events(&gw.audit_file());
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    for t in [
        "session.created",
        "file.uploaded",
        "execution.requested",
        "policy.decided",
        "execution.completed",
        "file.downloaded",
        "session.deleted",
    ] {
        assert!(types.contains(&t), "missing {t} in {types:?}");
    }
    let denied = events
        .iter()
        .find(|e| e["type"] == "policy.decided" && e["data"]["result"] == "deny")
        .unwrap_or_else(|| panic!("no deny recorded"));
    assert_eq!(
        denied["data"]["violations"][0]["code"],
        "package_not_allowed"
    );
    assert_eq!(denied["data"]["principal"]["subject"], "alice-tool");
    assert_eq!(denied["data"]["principal"]["groups"], json!(["analysts"]));
}

#[test]
fn policy_dry_run_and_postgres_state() {
    // The same gateway on PostgreSQL instead of SQLite.
    let pg = harness::PostgresDb::create();
    let url = pg.url.clone();
    let mut g = Gateway::configure(&tempdir_path(), "");
    g.use_database(&url);
    g.spawn();
    let api = g.api(&harness::token("alice-tool"));
    let r = api.post(
        "/v1/policy/evaluate",
        json!({"action": "execution.run", "language": "python", "code": "import sklearn"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["decision"]["result"], "deny");
    assert!(r.body["decision"]["violations"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("scikit-learn"));
    let sid = api.session();
    assert_eq!(stdout_of(&api.run(&sid, "python", "print(6*7)")), "42\n");
    let n: u32 = pg
        .query("SELECT count(*) FROM audit_outbox")
        .first()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(n >= 5, "outbox rows in PostgreSQL: {n}");
    g.stop();
    let _ = std::fs::remove_dir_all(&g.dir);
}

fn tempdir_path() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("airlock-e2e-pg-{}", harness::free_port()));
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    d
}
