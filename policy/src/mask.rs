//! Decision-log masking, as OPA's `system.log.mask`: a bundle may define
//! `data.system.log.mask`, evaluated with the decision event as `input`, returning JSON
//! pointers to erase (`"/input/request/path"`) or `{"op": "upsert", "path", "value"}` objects
//! to overwrite. Applied to every `policy.decided` audit event before it is sealed.

use serde_json::Value;

pub const MASK_RULE: &str = "data.system.log.mask";

/// Applies the rule's answer to `event`. Unknown shapes are ignored.
pub fn apply(event: &mut Value, ops: &Value) {
    let items: Vec<&Value> = match ops {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    for op in items {
        match op {
            Value::String(path) => remove(event, path),
            Value::Object(o) if o.get("op").and_then(Value::as_str) == Some("upsert") => {
                if let (Some(path), Some(value)) =
                    (o.get("path").and_then(Value::as_str), o.get("value"))
                {
                    upsert(event, path, value.clone());
                }
            }
            Value::Object(o) if o.get("op").and_then(Value::as_str) == Some("remove") => {
                if let Some(path) = o.get("path").and_then(Value::as_str) {
                    remove(event, path);
                }
            }
            _ => {}
        }
    }
}

fn tokens(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn remove(event: &mut Value, path: &str) {
    let toks = tokens(path);
    let Some((last, parents)) = toks.split_last() else {
        return;
    };
    let mut cur = event;
    for t in parents {
        cur = match cur {
            Value::Object(m) => match m.get_mut(t) {
                Some(v) => v,
                None => return,
            },
            Value::Array(a) => match t.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    match cur {
        Value::Object(m) => {
            m.remove(last);
        }
        Value::Array(a) => {
            if let Some(i) = last.parse::<usize>().ok().filter(|i| *i < a.len()) {
                a.remove(i);
            }
        }
        _ => {}
    }
}

fn upsert(event: &mut Value, path: &str, value: Value) {
    let toks = tokens(path);
    let Some((last, parents)) = toks.split_last() else {
        return;
    };
    let mut cur = event;
    for t in parents {
        if !cur.is_object() {
            return;
        }
        cur = &mut cur[t.as_str()];
        if cur.is_null() {
            *cur = Value::Object(Default::default());
        }
    }
    if let Value::Object(m) = cur {
        m.insert(last.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn removes_and_upserts_by_pointer() {
        let mut e = json!({"input": {"request": {"path": "secret.csv", "code_bytes": 3}, "a/b": 1}, "result": "allow"});
        apply(
            &mut e,
            &json!(["/input/request/path", "/input/a~1b", "/nope/x", {"op": "upsert", "path": "/input/request/code_bytes", "value": "**"}]),
        );
        assert_eq!(
            e,
            json!({"input": {"request": {"code_bytes": "**"}}, "result": "allow"})
        );
    }
}
