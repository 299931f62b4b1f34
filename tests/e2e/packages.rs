//! The governed package index: only pinned, allowlisted wheels install, from the gateway's
//! wheelhouse through the egress relay; nothing else can be installed, not even by code that
//! runs pip itself.

use crate::harness::{self, stdout_of, Gateway};
use serde_json::json;

/// A pure-Python wheel `name-version-py3-none-any.whl` whose module prints its version.
fn build_wheel(dir: &std::path::Path, dist: &str, module: &str, version: &str) {
    let script = format!(
        r#"import zipfile, hashlib, base64
name, module, version = {dist:?}, {module:?}, {version:?}
info = f"{{name}}-{{version}}.dist-info"
files = {{
    f"{{module}}/__init__.py": f"VERSION = {{version!r}}\n",
    f"{{info}}/METADATA": f"Metadata-Version: 2.1\nName: {{name}}\nVersion: {{version}}\n",
    f"{{info}}/WHEEL": "Wheel-Version: 1.0\nGenerator: airlock-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}}
record = []
for p, text in files.items():
    d = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
    record.append(f"{{p}},sha256={{d}},{{len(text.encode())}}")
record.append(f"{{info}}/RECORD,,")
files[f"{{info}}/RECORD"] = "\n".join(record) + "\n"
with zipfile.ZipFile(f"{{name}}-{{version}}-py3-none-any.whl", "w") as z:
    for p, text in files.items():
        z.writestr(p, text)
"#
    );
    let ok = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "building the {dist} wheel");
}

#[test]
fn only_granted_pins_install_from_the_index() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let wheels = tmp.path().join("wheelhouse");
    std::fs::create_dir_all(&wheels).unwrap_or_else(|e| panic!("{e}"));
    build_wheel(&wheels, "airlock_demo", "airlock_demo", "1.0.0");
    build_wheel(&wheels, "airlock_demo", "airlock_demo", "2.0.0");
    build_wheel(&wheels, "sneaky_pkg", "sneaky_pkg", "1.0");
    let b = harness::bundle_copy(&tmp.path().join("bundle"), |data| {
        data["airlock"]["packages"]["installable"] = json!({"airlock-demo": ["1.0.0"]});
        // Policy pins the wheel's hash (hashes are required by default).
        let wheel =
            std::fs::read(wheels.join("airlock_demo-1.0.0-py3-none-any.whl")).unwrap_or_default();
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&wheel));
        data["airlock"]["packages"]["hashes"] = json!({"airlock-demo==1.0.0": [digest]});
        if let Some(a) = data["airlock"]["packages"]["allowed"].as_array_mut() {
            a.push("airlock-demo".into());
        }
        data["airlock"]["packages"]["import_to_distribution"]["airlock_demo"] =
            "airlock-demo".into();
    });
    let w = wheels.display().to_string();
    let gw = Gateway::start_opts(
        "",
        &[
            ("AIRLOCK_POLICY__BUNDLE_DIR", b.as_str()),
            ("AIRLOCK_PACKAGES__WHEELHOUSE", w.as_str()),
        ],
    );
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();

    // The allowlisted pin installs and imports.
    let r = api.run_with(&sid, json!({"language": "python", "code": "import airlock_demo\nprint(airlock_demo.VERSION)", "packages": ["airlock-demo==1.0.0"]}));
    assert_eq!(stdout_of(&r), "1.0.0\n");
    // Another version and an unlisted package are denied by policy, with the installable pins.
    let r = api.run_with(&sid, json!({"language": "python", "code": "import airlock_demo", "packages": ["airlock-demo==2.0.0"]}));
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.body["decision"]["violations"][0]["code"],
        "package_install_not_allowed"
    );
    assert!(r.body["decision"]["violations"][0]["hint"]
        .as_str()
        .unwrap_or_default()
        .contains("airlock-demo==1.0.0"));
    let r = api.run_with(
        &sid,
        json!({"language": "python", "code": "1", "packages": ["sneaky-pkg==1.0"]}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    // pip run by the code itself, hidden from analysis: the index refuses ungranted files and
    // the public index is not reachable.
    let sneaky = "import subprocess, sys\nbase = [sys.executable, '-m', 'pip']\nfor idx in ['http://index.airlock/simple/', 'https://pypi.org/simple']:\n    r = subprocess.run(base + ['install', '--target', '/tmp/x', '--trusted-host', 'index.airlock', '--index-url', idx, 'sneaky-pkg'], capture_output=True, text=True)\n    print(idx, r.returncode != 0)";
    let r = api.run(&sid, "python", sneaky);
    assert_eq!(
        stdout_of(&r),
        "http://index.airlock/simple/ True\nhttps://pypi.org/simple True\n"
    );
    // `%pip install` in the code is denied before it runs.
    let r = api.run(&sid, "python", "%pip install sneaky-pkg");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body["decision"]["violations"][0]["hint"]
        .as_str()
        .unwrap_or_default()
        .contains("packages field"));

    let events = harness::audit_events(&gw.audit_file());
    let index: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "egress.connection" && e["data"]["host"] == "index.airlock")
        .collect();
    assert!(
        index.iter().any(|e| e["data"]["admitted"] == true),
        "no admitted index request"
    );
    assert!(
        index
            .iter()
            .any(|e| e["data"]["reason"] == "package_not_granted"),
        "no refused index request"
    );
    assert!(events.iter().any(|e| e["type"] == "egress.connection"
        && e["data"]["host"] == "pypi.org"
        && e["data"]["admitted"] == false));
}

#[test]
fn a_wheel_that_does_not_match_the_policy_hash_is_not_installed() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let wheels = tmp.path().join("wheelhouse");
    std::fs::create_dir_all(&wheels).unwrap_or_else(|e| panic!("{e}"));
    build_wheel(&wheels, "airlock_demo", "airlock_demo", "1.0.0");
    let b = harness::bundle_copy(&tmp.path().join("bundle"), |data| {
        data["airlock"]["packages"]["installable"] = json!({"airlock-demo": ["1.0.0"]});
        // The wheelhouse holds a different file than the one policy approved (a swapped artifact).
        data["airlock"]["packages"]["hashes"] = json!({"airlock-demo==1.0.0": ["0".repeat(64)]});
    });
    let w = wheels.display().to_string();
    let gw = Gateway::start_opts(
        "",
        &[
            ("AIRLOCK_POLICY__BUNDLE_DIR", b.as_str()),
            ("AIRLOCK_PACKAGES__WHEELHOUSE", w.as_str()),
        ],
    );
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let r = api.run_with(&sid, json!({"language": "python", "code": "print('never')", "packages": ["airlock-demo==1.0.0"]}));
    assert_eq!(r.body["status"], "failed", "{}", r.body);
    assert_eq!(r.body["error"]["name"], "PackageInstallError", "{}", r.body);
    assert_eq!(
        r.body["stdout"], "",
        "the code must not run after a failed install"
    );
    // Asking again changes nothing: the index serves no file for that pin.
    let r = api.run_with(
        &sid,
        json!({"language": "python", "code": "1", "packages": ["airlock-demo==1.0.0"]}),
    );
    assert_eq!(r.body["status"], "failed");
}

#[test]
fn approved_files_come_from_the_mirror_verified_and_cached() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (mirror, wheels) = (tmp.path().join("mirror"), tmp.path().join("cache"));
    let files = mirror.join("files");
    for d in [&files, &wheels] {
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{e}"));
    }
    build_wheel(&files, "airlock_demo", "airlock_demo", "1.0.0");
    build_wheel(&files, "other_lib", "other_lib", "1.0");
    let digest = |f: &str| {
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            std::fs::read(files.join(f)).unwrap_or_default(),
        ))
    };
    for (project, file) in [
        ("airlock-demo", "airlock_demo-1.0.0-py3-none-any.whl"),
        ("other-lib", "other_lib-1.0-py3-none-any.whl"),
    ] {
        let dir = mirror.join("simple").join(project);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.join("index.html"),
            format!(
                "<html><body><a href=\"../../files/{file}#sha256={}\">{file}</a></body></html>",
                digest(file)
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    // The mirror: a plain static HTTP server on 127.0.0.4.
    let port = std::net::TcpListener::bind("127.0.0.4:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0);
    let _server = harness::KillOnDrop(
        std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.4",
                &port.to_string(),
                "--directory",
            ])
            .arg(&mirror)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.4", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let b = harness::bundle_copy(&tmp.path().join("bundle"), |data| {
        data["airlock"]["packages"]["installable"] =
            json!({"airlock-demo": ["1.0.0"], "other-lib": ["1.0"]});
        // other-lib's approved hash is not the mirror's file: a compromised or changed upstream.
        data["airlock"]["packages"]["hashes"] = json!({"airlock-demo==1.0.0": [digest("airlock_demo-1.0.0-py3-none-any.whl")], "other-lib==1.0": ["f".repeat(64)]});
    });
    let (w, m) = (
        wheels.display().to_string(),
        format!("http://127.0.0.4:{port}/simple"),
    );
    let gw = Gateway::start_opts(
        "",
        &[
            ("AIRLOCK_POLICY__BUNDLE_DIR", b.as_str()),
            ("AIRLOCK_PACKAGES__WHEELHOUSE", w.as_str()),
            ("AIRLOCK_PACKAGES__MIRROR", m.as_str()),
        ],
    );
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let r = api.run_with(&sid, json!({"language": "python", "code": "import airlock_demo\nprint(airlock_demo.VERSION)", "packages": ["airlock-demo==1.0.0"]}));
    assert_eq!(stdout_of(&r), "1.0.0\n");
    assert!(
        wheels.join("airlock_demo-1.0.0-py3-none-any.whl").exists(),
        "verified file cached in the wheelhouse"
    );
    let r = api.run_with(
        &sid,
        json!({"language": "python", "code": "print('never')", "packages": ["other-lib==1.0"]}),
    );
    assert_eq!(r.body["error"]["name"], "PackageInstallError", "{}", r.body);
    assert!(
        !wheels.join("other_lib-1.0-py3-none-any.whl").exists(),
        "a file with the wrong hash was cached"
    );
}
