//! regorus 0.14.1 (released and patched alike) panics on some policies: a module's hoisted loop
//! looked up in another module, reached through `with` replacing a function by a rule, when the
//! package is evaluated as a query (found by `regorus_generated.rs`; minimised here). The
//! gateway evaluates rules, not queries, and catches a panic of the engine as a failed
//! evaluation (a denial) anyway: a customer's bundle must never take the gateway down.

use airlock_gateway_domain::{
    policy_input::{Action, PolicyInput, RequestFacts},
    ports::PolicyEngine,
    Principal,
};

const LIB: &str = r#"package lib
import rego.v1
import data.app.main
r0 := concat(",", ["y", "x"])
r2 contains v4 if {
    every v1 in {v2 | some v2 in null} { v1 != true }
    v3 := {concat(",", [r0, "zz"]), object.get("y", "d", 3)} with input as input["b"]["a"]
    v4 := max([[input["d"], v3], null])
}
"#;

const MAIN: &str = r#"package app.main
import rego.v1
f2(p) := {"c": 2}
r3 := 2 if {
    v8 := data.d.a with data.app.main.f2 as data.lib.r2
} else := 4
"#;

const DECISION: &str = r#"package airlock.decision
import rego.v1
decision := {"result": "allow", "violations": [], "review": [], "obligations": {"x": data.app.main}}
"#;

fn input() -> PolicyInput {
    PolicyInput {
        action: Action::ExecutionRun,
        principal: Principal {
            issuer: "i".into(),
            subject: "s".into(),
            email: None,
            groups: vec![],
            tenant: None,
            via: None,
        },
        session: None,
        request: RequestFacts::default(),
        analysis: None,
    }
}

#[test]
fn a_panicking_policy_is_a_failed_decision_not_a_crash() {
    // The engine itself panics on it.
    let mut raw = regorus::Engine::new();
    raw.add_policy("lib.rego".into(), LIB.into())
        .unwrap_or_else(|e| panic!("{e}"));
    raw.add_policy("main.rego".into(), MAIN.into())
        .unwrap_or_else(|e| panic!("{e}"));
    raw.add_policy("decision.rego".into(), DECISION.into())
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = raw
        .add_data(regorus::Value::from_json_str(r#"{"d": {}}"#).unwrap_or_else(|e| panic!("{e}")));
    let as_json = serde_json::to_string(&input()).unwrap_or_default();
    let _ = raw.set_input_json(&as_json);
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        raw.eval_query("data.app.main".into(), false)
    }))
    .is_err();
    // Through the gateway's engine: an error (the gateway denies), and the engine keeps working.
    let files = vec![
        (
            ".manifest".to_string(),
            br#"{"revision": "panics", "roots": ["airlock", "lib", "app", "d"]}"#.to_vec(),
        ),
        ("data.json".to_string(), br#"{"d": {}}"#.to_vec()),
        ("lib/lib.rego".to_string(), LIB.as_bytes().to_vec()),
        ("app/main.rego".to_string(), MAIN.as_bytes().to_vec()),
        (
            "airlock/decision/decision.rego".to_string(),
            DECISION.as_bytes().to_vec(),
        ),
    ];
    let bundle = airlock_policy::Bundle::from_raw(files).unwrap_or_else(|e| panic!("{e}"));
    let policy = airlock_policy::RegoPolicy::new(&bundle).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        panicked,
        "the fixture no longer makes regorus panic (fixed upstream?): keep the guard, update this test"
    );
    // The gateway's path over the same bundle answers (a decision or an error), repeatedly.
    for _ in 0..3 {
        let _ = policy.decide(&input());
    }
}
