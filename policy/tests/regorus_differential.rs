//! Differential test of the patched regorus (third_party/regorus, `regorus` here) against the
//! released regorus 0.14.1 (`regorus_upstream`): the same policies, data and inputs must give
//! the same values, the same errors and the same test outcomes. The patches only change how
//! the interpreter finds paths, call targets and imported rules (PATCHES.md); any difference in
//! what it computes is a bug in a patch.
//!
//! Engines are reused across inputs, as the gateway's pool reuses them, so caches that live
//! across evaluations (the call-site cache of patch 8) are exercised too.

use airlock_policy::Bundle;
use serde_json::{json, Value as Json};

mod common;

use common::{assert_same, Pair};

fn shipped_bundle() -> Bundle {
    Bundle::embedded().unwrap_or_else(|e| panic!("{e}"))
}

/// The shipped data with every table filled, so that the rules that only run when an
/// administrator configured something (egress, installs, review, per-group profiles, session
/// groups, upload groups) run too.
fn configured_data(shipped: &Json) -> Json {
    let mut data = shipped.clone();
    let airlock = &mut data["airlock"];
    airlock["egress_rules"]["by_group"] = json!({
        "ml": ["pypi.org:443", "*.example.com:443"],
        "analysts": ["10.1.2.3:80"]
    });
    airlock["egress_rules"]["by_tenant"] = json!({"acme": ["api.acme.test"]});
    airlock["egress_rules"]["default"] = json!(["files.internal:80"]);
    airlock["packages"]["installable"] = json!({"tinydist": ["1.0.0", ">=2,<3"]});
    airlock["packages"]["installable_by_group"] = json!({"ml": {"torchlet": ["0.1.0"]}});
    airlock["packages"]["hashes"] = json!({"tinydist==1.0.0": ["sha256:00ff"]});
    airlock["packages"]["review"] = json!(["scipy"]);
    airlock["profiles"]["by_group"] = json!({
        "ml": {"languages": ["python"], "max_timeout_seconds": 900, "max_code_bytes": 1048576},
        "analysts": {"languages": ["python", "sql"], "max_timeout_seconds": 60, "max_code_bytes": 4096}
    });
    airlock["sessions"]["required_groups"] = json!(["analysts", "ml", "data-stewards"]);
    airlock["files"]["upload_groups"] = json!({"restricted": ["data-stewards"]});
    data
}

/// A deterministic spread of policy inputs over every action and the facts each rule reads.
fn inputs(n: usize) -> Vec<Json> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut pick = move |k: usize| -> usize {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % (k as u64)).unwrap_or(0)
    };
    let actions = [
        "execution.run",
        "execution.run",
        "execution.run",
        "session.create",
        "file.upload",
        "file.download",
    ];
    let groups: [&[&str]; 5] = [
        &[],
        &["analysts"],
        &["ml"],
        &["data-stewards", "ml"],
        &["x"],
    ];
    let labels: [&[&str]; 4] = [&[], &["internal"], &["confidential"], &["restricted"]];
    let imports: [&[&str]; 7] = [
        &[],
        &["os", "pandas"],
        &["requests"],
        &["sklearn"],
        &["numpy", "scipy"],
        &["json", "matplotlib", "torch"],
        &["mpl_toolkits"],
    ];
    let packages: [&[&str]; 5] = [
        &[],
        &["tinydist==1.0.0"],
        &["tinydist==2.5"],
        &["torchlet==0.1.0"],
        &["evil==6.6.6", "pandas"],
    ];
    let egress: [&[&str]; 5] = [
        &[],
        &["pypi.org:443"],
        &["api.acme.test:443", "evil.test:443"],
        &["10.1.2.3:80"],
        &["files.internal:80"],
    ];
    let sql = [
        Json::Null,
        json!({"dialect": "postgres", "statements": [
            {"kind": "select", "writes": false, "reads": ["sales.orders"], "writes_to": []}]}),
        json!({"dialect": "postgres", "statements": [
            {"kind": "insert", "writes": true, "reads": [], "writes_to": ["sales.orders"]}]}),
        json!({"dialect": "mysql", "statements": [
            {"kind": "select", "writes": false, "reads": ["hr.salaries"], "writes_to": []}]}),
        json!({"dialect": "postgres", "statements": [], "error": "syntax error"}),
    ];
    let classifications = [None, Some("public"), Some("restricted"), Some("top-secret")];
    (0..n)
        .map(|i| {
            let action = actions[pick(actions.len())];
            let mut principal = json!({
                "issuer": "https://idp.test",
                "subject": format!("user-{i}"),
                "groups": groups[pick(groups.len())],
            });
            if pick(2) == 0 {
                principal["tenant"] = json!("acme");
            }
            let mut request = json!({});
            let mut input = json!({"action": action, "principal": principal});
            if pick(3) > 0 {
                input["session"] = json!({
                    "id": format!("s{i}"),
                    "labels": labels[pick(labels.len())],
                    "executions": pick(5),
                });
            }
            match action {
                "execution.run" => {
                    let languages = ["python", "sql", "cobol"];
                    let sizes = [10, 5000, 10_000_000];
                    request["language"] = json!(languages[pick(3)]);
                    request["code_bytes"] = json!(sizes[pick(3)]);
                    if pick(2) == 0 {
                        let timeouts = [30, 600, 3600];
                        request["timeout_seconds"] = json!(timeouts[pick(3)]);
                    }
                    request["packages"] = json!(packages[pick(packages.len())]);
                    request["egress"] = json!(egress[pick(egress.len())]);
                    if pick(3) == 0 {
                        let connectors = ["warehouse", "nope"];
                        request["connector"] = json!(connectors[pick(2)]);
                    }
                    let pip: [&[&str]; 3] = [&[], &["tinydist==1.0.0"], &["requests"]];
                    let shell: [&[&str]; 2] = [&[], &["curl https://evil.test"]];
                    let (pip, shell) = (pip[pick(3)], shell[pick(2)]);
                    let mut analysis = json!({
                        "imports": imports[pick(imports.len())],
                        "modules": [],
                        "dynamic_imports": pick(3) / 2,
                        "pip_installs": pip,
                        "shell_commands": shell,
                    });
                    let facts = &sql[pick(sql.len())];
                    if !facts.is_null() {
                        analysis["sql"] = facts.clone();
                    }
                    if pick(8) == 0 {
                        analysis["parse_error"] = json!("invalid syntax");
                    }
                    if pick(4) == 0 {
                        // A clean request, so that allow and review are reached too.
                        request = json!({"language": "python", "code_bytes": 100, "packages": [], "egress": []});
                        analysis = json!({"imports": imports[1 + pick(2) * 3], "modules": [],
                            "dynamic_imports": 0, "pip_installs": [], "shell_commands": []});
                    }
                    input["analysis"] = analysis;
                }
                "file.upload" | "file.download" => {
                    request["path"] = json!(format!("data/f{i}.csv"));
                    request["size"] = json!(pick(10_000));
                    if let Some(c) = classifications[pick(classifications.len())] {
                        request["classification"] = json!(c);
                    }
                }
                _ => {}
            }
            input["request"] = request;
            input
        })
        .collect()
}

#[test]
fn the_shipped_bundle_decides_the_same_on_both_engines() {
    let bundle = shipped_bundle();
    let policies: Vec<(String, String)> = bundle.policies().cloned().collect();
    for data in [bundle.data.clone(), configured_data(&bundle.data)] {
        let mut pair = Pair::new(&policies, &data);
        let mut decided = std::collections::BTreeSet::new();
        for (i, input) in inputs(300).iter().enumerate() {
            pair.set_input(input);
            let (patched, upstream) = pair.rule("data.airlock.decision.decision");
            assert!(
                !patched.starts_with("error"),
                "input {i} {input}: {patched}"
            );
            decided.insert(
                serde_json::from_str::<Json>(&patched)
                    .map(|d| d["result"].to_string())
                    .unwrap_or_default(),
            );
            assert_same(
                &format!("decision for input {i} {input}"),
                (patched, upstream),
            );
            // Every rule of every package, not only those the decision needed.
            if i % 3 == 0 {
                assert_same(
                    &format!("data.airlock for input {i} {input}"),
                    pair.query("data.airlock"),
                );
            }
        }
        // The corpus reaches every outcome, or it would not test much.
        for outcome in ["\"allow\"", "\"deny\"", "\"review\""] {
            assert!(
                decided.contains(outcome) || outcome == "\"review\"" && data == bundle.data,
                "no input was decided {outcome}: {decided:?}"
            );
        }
    }
}

#[test]
fn the_shipped_bundle_tests_give_the_same_outcomes_on_both_engines() {
    let bundle = shipped_bundle();
    let mut pair = Pair::new(&bundle.modules, &bundle.data);
    let mut tests = 0;
    for (path, rule) in airlock_policy::test_rules(&bundle) {
        let (patched, upstream) = pair.rule(&rule);
        assert_eq!(patched, "true", "{path}: {rule} on the patched regorus");
        assert_same(&format!("{path}: {rule}"), (patched, upstream));
        tests += 1;
    }
    assert!(tests >= 50, "only {tests} test rules found");
}

/// Small policies aimed at what the patches touch: imports (with and without `as`, of
/// packages, of rules, of data, of functions), rules and data under one path, defaults,
/// `else`, functions, builtins, and `with` replacing a builtin or a function on a call site
/// that was cached without one.
#[test]
fn language_features_the_patches_touch_evaluate_the_same() {
    let modules = vec![
        (
            "lib.rego".to_string(),
            r#"package lib.util
import rego.v1
default mode := "off"
mode := "on" if input.on
double(x) := 2 * x
upper_all(xs) := [upper(x) | some x in xs]
names contains n if some n in input.names
names contains "always"
nested.deep := {"k": count(input.names)}
"#
            .to_string(),
        ),
        (
            "lib2.rego".to_string(),
            r#"package lib.other
import rego.v1
value := 7
"#
            .to_string(),
        ),
        (
            "broken.rego".to_string(),
            r#"package broken
import rego.v1
fails := x if { x := 1/0 }
"#
            .to_string(),
        ),
        (
            "main.rego".to_string(),
            r#"package app.main
import rego.v1
import data.lib.util
import data.lib.util as u
import data.lib.util.names
import data.lib
import data.config.limits
import input.names as inames

a := util.mode
b := u.double(21)
c := names
d := lib.other.value
e := limits.max
f := util.nested.deep.k
g := count(inames)
h := upper("x")
i := u.upper_all(input.names)
j := x if { x := upper("y") with upper as "w" }
k := x if { x := u.double(1) with u.double as 5 }
l := x if { x := data.lib.util.names } else := "none"
m := {key: val | some key, val in data.config.limits}
n := [util.mode, u.mode, data.lib.util.mode]
o := sprintf("%v-%v", [count(input.names), util.mode])
whole := data.lib.util
p := concat(",", sort([x | some x in names]))
shout(s) := upper(s)
q := shout("a")
r := x if { x := shout("b") with upper as "replaced" }
my_lower(s) := lower(s)
t := x if { x := shout("C") with upper as my_lower }
"#
            .to_string(),
        ),
    ];
    let data =
        json!({"config": {"limits": {"max": 3, "min": 1}}, "lib": {"util": {"extra": true}}});
    let mut pair = Pair::new(&modules, &data);
    let inputs = [
        json!({"on": true, "names": ["b", "a"]}),
        json!({"on": false, "names": []}),
        json!({"names": ["z"]}),
        json!({}),
    ];
    // Twice over, so that the second round runs with every call site already cached.
    for round in 0..2 {
        for input in &inputs {
            pair.set_input(input);
            for rule in "a b c d e f g h i j k l m n o p q r t whole".split(' ') {
                let path = format!("data.app.main.{rule}");
                let (patched, upstream) = pair.rule(&path);
                assert!(!patched.starts_with("error"), "{path}: {patched}");
                assert_same(
                    &format!("round {round}, {path}, input {input}"),
                    (patched, upstream),
                );
            }
            // The call site of upper() in shout() is cached by q and must not be used under
            // the `with` of r.
            assert_eq!(
                pair.rule("data.app.main.r").0,
                "\"replaced\"",
                "with on a cached call site"
            );
            assert_same(
                &format!("data.broken.fails, input {input}"),
                pair.rule("data.broken.fails"),
            );
            assert_same(&format!("data.app, input {input}"), pair.query("data.app"));
            assert_same(
                &format!("with in a query, input {input}"),
                pair.query("x := data.app.main.q with upper as \"v\""),
            );
            assert_same(
                &format!("data under a rule path, input {input}"),
                pair.query("data.lib.util"),
            );
        }
    }
}
