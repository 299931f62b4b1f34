//! `airlock policy test`: runs the `test_*` rules of `*_test.rego` files, like `opa test`.

use crate::bundle::{Bundle, LoadError};

#[derive(Clone, Debug)]
pub struct TestOutcome {
    pub name: String,
    pub passed: bool,
    pub error: Option<String>,
}

pub fn run_tests(bundle: &Bundle) -> Result<Vec<TestOutcome>, LoadError> {
    let mut engine = bundle.engine(true)?;
    let mut out = vec![];
    for (path, name) in test_rules(bundle) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine.eval_rule(name.clone())
        }));
        let (passed, error) = match outcome {
            Ok(Ok(v)) => (v == regorus::Value::from(true), None),
            Ok(Err(e)) => (false, Some(e.to_string())),
            Err(_) => {
                // A panic may leave the engine inconsistent: the next tests get a fresh one.
                engine = bundle.engine(true)?;
                (false, Some("the policy engine panicked".into()))
            }
        };
        out.push(TestOutcome {
            name: format!("{path}: {name}"),
            passed,
            error,
        });
    }
    Ok(out)
}

/// The `test_*` rules of the bundle's `*_test.rego` files, as (file path, rule path such as
/// `data.airlock.common_test.test_x`), in file order.
pub fn test_rules(bundle: &Bundle) -> Vec<(String, String)> {
    let mut out = vec![];
    for (path, text) in bundle
        .modules
        .iter()
        .filter(|(p, _)| p.ends_with("_test.rego"))
    {
        let package = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("package "))
            .map(str::trim)
            .unwrap_or_default();
        let mut names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("test_"))
            .filter_map(|rest| {
                rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
            })
            .collect();
        names.dedup();
        out.extend(
            names
                .into_iter()
                .map(|n| (path.clone(), format!("data.{package}.test_{n}"))),
        );
    }
    out
}
