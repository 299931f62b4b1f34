//! Canonical JSON for hashing: object keys sorted by their UTF-16 code units (RFC 8785 order),
//! no insignificant whitespace, serde_json's number and string encoding.
//!
//! Hand-written (40 lines) rather than a crate: the hash chain must not change if any crate in the
//! build turns on serde_json's `preserve_order`, and the available JCS crates pull in their own
//! number formatting we do not need (audit events carry only integers).

use serde_json::Value;

pub fn to_canonical_string(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_recursively_without_whitespace() {
        let v = json!({"b": 1, "a": {"z": [3, {"y": "x", "c": null}], "é": true}});
        assert_eq!(
            to_canonical_string(&v),
            r#"{"a":{"z":[3,{"c":null,"y":"x"}],"é":true},"b":1}"#
        );
    }
}
