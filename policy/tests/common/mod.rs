//! What the differential tests share: one policy loaded into the patched and the released
//! regorus, evaluated on both.

use serde_json::Value as Json;

/// One policy loaded into both engines.
pub struct Pair {
    pub patched: regorus::Engine,
    pub upstream: regorus_upstream::Engine,
}

impl Pair {
    /// Both engines with `modules` and `data`, or the two engines' verdicts on the modules
    /// when either refuses them (they must then refuse alike).
    #[allow(dead_code)]
    pub fn try_new(modules: &[(String, String)], data: &Json) -> Result<Pair, (String, String)> {
        let mut patched = regorus::Engine::new();
        let mut upstream = regorus_upstream::Engine::new();
        let mut verdicts = (String::new(), String::new());
        for (path, text) in modules {
            if let Err(e) = patched.add_policy(path.clone(), text.clone()) {
                verdicts.0 = format!("error: {}", first_line(&e.to_string()));
            }
            if let Err(e) = upstream.add_policy(path.clone(), text.clone()) {
                verdicts.1 = format!("error: {}", first_line(&e.to_string()));
            }
        }
        if !verdicts.0.is_empty() || !verdicts.1.is_empty() {
            return Err(verdicts);
        }
        let data = data.to_string();
        let (Ok(pd), Ok(ud)) = (
            regorus::Value::from_json_str(&data),
            regorus_upstream::Value::from_json_str(&data),
        ) else {
            return Err(("bad data".into(), "bad data".into()));
        };
        let (a, b) = (patched.add_data(pd), upstream.add_data(ud));
        if a.is_err() || b.is_err() {
            return Err((
                format!("{:?}", a.err().map(|e| e.to_string())),
                format!("{:?}", b.err().map(|e| e.to_string())),
            ));
        }
        Ok(Pair { patched, upstream })
    }

    #[allow(dead_code)]
    pub fn new(modules: &[(String, String)], data: &Json) -> Pair {
        let mut patched = regorus::Engine::new();
        let mut upstream = regorus_upstream::Engine::new();
        for (path, text) in modules {
            patched
                .add_policy(path.clone(), text.clone())
                .unwrap_or_else(|e| panic!("patched regorus rejected {path}: {e}"));
            upstream
                .add_policy(path.clone(), text.clone())
                .unwrap_or_else(|e| panic!("regorus rejected {path}: {e}"));
        }
        let data = data.to_string();
        patched
            .add_data(regorus::Value::from_json_str(&data).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        upstream
            .add_data(
                regorus_upstream::Value::from_json_str(&data).unwrap_or_else(|e| panic!("{e}")),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        Pair { patched, upstream }
    }

    #[allow(dead_code)]
    pub fn set_input(&mut self, input: &Json) {
        let text = input.to_string();
        self.patched
            .set_input_json(&text)
            .unwrap_or_else(|e| panic!("{e}"));
        self.upstream
            .set_input_json(&text)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// `eval_rule` on both; the value as JSON, or the error's first line.
    pub fn rule(&mut self, path: &str) -> (String, String) {
        let patched = guarded(|| match self.patched.eval_rule(path.into()) {
            Ok(v) => v
                .to_json_str()
                .unwrap_or_else(|e| format!("unprintable: {e}")),
            Err(e) => format!("error: {}", first_line(&e.to_string())),
        });
        let upstream = guarded(|| match self.upstream.eval_rule(path.into()) {
            Ok(v) => v
                .to_json_str()
                .unwrap_or_else(|e| format!("unprintable: {e}")),
            Err(e) => format!("error: {}", first_line(&e.to_string())),
        });
        (patched, upstream)
    }

    /// `eval_query` on both; the results as JSON, or the error's first line.
    #[allow(dead_code)]
    pub fn query(&mut self, query: &str) -> (String, String) {
        let patched = guarded(|| match self.patched.eval_query(query.into(), false) {
            Ok(r) => serde_json::to_string(&r).unwrap_or_else(|e| format!("unprintable: {e}")),
            Err(e) => format!("error: {}", first_line(&e.to_string())),
        });
        let upstream = guarded(|| match self.upstream.eval_query(query.into(), false) {
            Ok(r) => serde_json::to_string(&r).unwrap_or_else(|e| format!("unprintable: {e}")),
            Err(e) => format!("error: {}", first_line(&e.to_string())),
        });
        (patched, upstream)
    }
}

/// The error on one line (regorus's messages start with a newline and quote the source).
pub fn first_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[allow(dead_code)]
pub fn assert_same(what: &str, (patched, upstream): (String, String)) {
    assert_eq!(
        patched, upstream,
        "{what}: the patched regorus differs from regorus 0.14.1"
    );
}

/// An evaluation's outcome, a panic included (as "panic: <message>", so that the engines are
/// compared on panics too: the gateway turns a panicking evaluation into a denial).
pub fn guarded(f: impl FnOnce() -> String) -> String {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(s) => s,
        Err(p) => format!(
            "panic: {}",
            p.downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("?")
        ),
    }
}
