//! Column masks and row filters for warehouse SQL: what policy's connector grant says about a
//! governed table, and the port through which a connector completes the rewritten statement
//! with the table's columns (read in the statement's own transaction). No I/O here.

use super::SqlRefusal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a masked column's values reach the statement that reads them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ColumnMask {
    /// Every value is NULL. (Variants are structs so that unknown fields are refused: serde
    /// ignores them on unit variants of a tagged enum.)
    Null {},
    /// Every non-NULL value is the text `****`.
    Redact {},
    /// `****` followed by the last `keep` characters of the value as text; values of at most
    /// `2 * keep` characters are redacted whole (a short value would be shown entire).
    KeepLast { keep: u8 },
}

/// A literal a row filter compares with: text or a number, never SQL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
#[serde(untagged)]
pub enum FilterValue {
    Text(String),
    #[schema(value_type = f64)]
    Number(#[schemars(with = "f64")] serde_json::Number),
}

/// One condition of a row filter: the column's value is one of `in` (an empty list lets no row
/// through).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RowCondition {
    pub column: String,
    #[serde(rename = "in")]
    pub one_of: Vec<FilterValue>,
}

/// What a statement may see of one governed table: its columns masked, its rows filtered (the
/// conditions all hold). Applies to every reference of the table in the statement.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct TableRules {
    /// Column name (matched without regard to case) to its mask.
    #[serde(default)]
    pub masks: BTreeMap<String, ColumnMask>,
    #[serde(default)]
    pub row_filter: Vec<RowCondition>,
}

/// A table as the database names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableName {
    pub schema: String,
    pub table: String,
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

/// The statement a connector runs. When it reads governed tables, the connector reads their
/// column lists (in the order the table defines them) in the statement's own transaction,
/// with the run's credential, and asks for the statement to run over them.
pub trait StatementPlan: Send + Sync {
    /// Tables whose columns the statement needs; empty when nothing is governed.
    fn governed_tables(&self) -> &[TableName];
    /// The SQL to run; `columns[i]` are the columns of `governed_tables()[i]` (empty when the
    /// table does not exist or the login may not see it, which refuses the statement).
    fn statement(&self, columns: &[Vec<String>]) -> Result<String, SqlRefusal>;
}

/// A statement that reads no governed table: the analysed text as it is.
pub struct PlainStatement(pub String);

impl StatementPlan for PlainStatement {
    fn governed_tables(&self) -> &[TableName] {
        &[]
    }

    fn statement(&self, _columns: &[Vec<String>]) -> Result<String, SqlRefusal> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_from_policy_json() {
        let r: TableRules = serde_json::from_value(serde_json::json!({
            "masks": {"email": {"kind": "redact"}, "card": {"kind": "keep_last", "keep": 4}},
            "row_filter": [{"column": "region", "in": ["north", 7]}],
        }))
        .expect("valid rules");
        assert_eq!(r.masks["card"], ColumnMask::KeepLast { keep: 4 });
        assert_eq!(r.row_filter[0].one_of[0], FilterValue::Text("north".into()));
        assert!(matches!(r.row_filter[0].one_of[1], FilterValue::Number(_)));
    }

    #[test]
    fn unknown_mask_kinds_and_fields_are_refused() {
        for bad in [
            serde_json::json!({"masks": {"email": {"kind": "hash"}}}),
            serde_json::json!({"masks": {"email": {"kind": "redact", "with": "x"}}}),
            serde_json::json!({"row_filter": [{"column": "region", "in": [["nested"]]}]}),
            serde_json::json!({"row_filter": [{"column": "region", "in": [true]}]}),
            serde_json::json!({"rowfilter": []}),
        ] {
            assert!(
                serde_json::from_value::<TableRules>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
