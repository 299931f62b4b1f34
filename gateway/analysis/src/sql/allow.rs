//! What the analyser accepts, per dialect: functions, set-returning functions, operators and
//! types. Everything here computes on its arguments only. Never here: functions that run SQL
//! text (`query_to_xml`, `dblink`, `EXECUTE`), read server files (`pg_read_file`,
//! `LOAD_FILE`, `lo_import`), call out of the database (`dblink`, `http_*`), change settings
//! or session state (`set_config`, `setseed`, `nextval`, `GET_LOCK`, advisory locks), sleep or
//! burn time (`pg_sleep`, `SLEEP`, `BENCHMARK`), or reveal the server (`version`,
//! `current_setting`, `pg_ls_dir`). Adding a name is a security decision: say why in review.

use super::refusal;
use airlock_gateway_domain::connectors::{SqlDialect, SqlRefusal};
use sqlparser::ast::{BinaryOperator, DataType, UnaryOperator};

/// Aggregates, window functions, math, strings, dates and conditionals both dialects have.
const COMMON: &[&str] = &[
    // aggregates
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "bit_and",
    "bit_or",
    // window
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    // math
    "abs",
    "ceil",
    "ceiling",
    "floor",
    "round",
    "sign",
    "sqrt",
    "power",
    "pow",
    "exp",
    "ln",
    "log",
    "log10",
    "mod",
    "pi",
    "degrees",
    "radians",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "atan2",
    "cot",
    "greatest",
    "least",
    // strings
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "bit_length",
    "lower",
    "upper",
    "trim",
    "ltrim",
    "rtrim",
    "lpad",
    "rpad",
    "substr",
    "substring",
    "left",
    "right",
    "replace",
    "reverse",
    "repeat",
    "concat",
    "concat_ws",
    "position",
    "md5",
    "ascii",
    "regexp_replace",
    "regexp_like",
    "regexp_substr",
    "regexp_instr",
    // dates
    "now",
    "current_date",
    "current_time",
    "current_timestamp",
    "localtime",
    "localtimestamp",
    "extract",
    // conditionals
    "coalesce",
    "nullif",
];

const POSTGRES: &[&str] = &[
    "string_agg",
    "array_agg",
    "bool_and",
    "bool_or",
    "every",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "corr",
    "covar_pop",
    "covar_samp",
    "regr_slope",
    "regr_intercept",
    "regr_r2",
    "regr_count",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "trunc",
    "cbrt",
    "div",
    "width_bucket",
    "random",
    "btrim",
    "initcap",
    "split_part",
    "strpos",
    "starts_with",
    "translate",
    "format",
    "to_hex",
    "chr",
    "encode",
    "decode",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "regexp_match",
    "regexp_matches",
    "regexp_split_to_array",
    "regexp_count",
    "string_to_array",
    "array_to_string",
    "quote_literal",
    "quote_ident",
    "date_trunc",
    "date_part",
    "date_bin",
    "age",
    "to_char",
    "to_date",
    "to_timestamp",
    "to_number",
    "make_date",
    "make_time",
    "make_timestamp",
    "make_timestamptz",
    "make_interval",
    "justify_days",
    "justify_hours",
    "justify_interval",
    "clock_timestamp",
    "statement_timestamp",
    "transaction_timestamp",
    "isfinite",
    "json_build_object",
    "jsonb_build_object",
    "json_build_array",
    "jsonb_build_array",
    "to_json",
    "to_jsonb",
    "json_extract_path",
    "json_extract_path_text",
    "jsonb_extract_path",
    "jsonb_extract_path_text",
    "json_array_length",
    "jsonb_array_length",
    "json_typeof",
    "jsonb_typeof",
    "jsonb_pretty",
    "array_length",
    "array_position",
    "array_positions",
    "array_remove",
    "array_append",
    "array_prepend",
    "array_cat",
    "array_dims",
    "array_lower",
    "array_upper",
    "cardinality",
    "num_nulls",
    "num_nonnulls",
    "grouping",
    // the login the query runs as (a per-query name Vault issued; it is in the audit anyway)
    "current_user",
    "session_user",
];

const MYSQL: &[&str] = &[
    "group_concat",
    "std",
    "bit_xor",
    "json_arrayagg",
    "json_objectagg",
    "truncate",
    "rand",
    "log2",
    "crc32",
    "conv",
    "lcase",
    "ucase",
    "substring_index",
    "locate",
    "instr",
    "format",
    "sha1",
    "sha2",
    "hex",
    "unhex",
    "char",
    "field",
    "find_in_set",
    "elt",
    "space",
    "strcmp",
    "insert",
    "mid",
    "curdate",
    "curtime",
    "sysdate",
    "date",
    "time",
    "date_format",
    "time_format",
    "date_add",
    "date_sub",
    "adddate",
    "subdate",
    "addtime",
    "subtime",
    "datediff",
    "timediff",
    "timestampdiff",
    "timestampadd",
    "year",
    "month",
    "monthname",
    "day",
    "dayname",
    "dayofmonth",
    "dayofweek",
    "dayofyear",
    "week",
    "weekday",
    "weekofyear",
    "yearweek",
    "quarter",
    "hour",
    "minute",
    "second",
    "microsecond",
    "last_day",
    "str_to_date",
    "from_unixtime",
    "unix_timestamp",
    "makedate",
    "maketime",
    "from_days",
    "to_days",
    "period_add",
    "period_diff",
    "ifnull",
    "if",
    "isnull",
    "json_extract",
    "json_unquote",
    "json_object",
    "json_array",
    "json_length",
    "json_contains",
    "json_contains_path",
    "json_keys",
    "json_value",
    "json_type",
    "json_valid",
    "json_quote",
    "json_search",
    "grouping",
];

/// Set-returning functions allowed in FROM.
const POSTGRES_TABLE: &[&str] = &[
    "generate_series",
    "unnest",
    "json_array_elements",
    "jsonb_array_elements",
    "json_array_elements_text",
    "jsonb_array_elements_text",
    "json_each",
    "jsonb_each",
    "json_each_text",
    "jsonb_each_text",
    "regexp_split_to_table",
    "regexp_matches",
];

pub(super) fn function(dialect: SqlDialect, name: &str) -> bool {
    COMMON.contains(&name)
        || match dialect {
            SqlDialect::Postgres => POSTGRES.contains(&name),
            SqlDialect::Mysql => MYSQL.contains(&name),
        }
}

pub(super) fn table_function(dialect: SqlDialect, name: &str) -> bool {
    dialect == SqlDialect::Postgres && POSTGRES_TABLE.contains(&name)
}

pub(super) fn function_refusal(name: &str, table: bool) -> SqlRefusal {
    refusal(
        "sql_function_not_allowed",
        format!(
            "the {}function {name}() is not on the connector's allowlist",
            if table { "set-returning " } else { "" }
        ),
        "use aggregates, window functions and plain math, string, date and JSON functions; functions that run SQL, read files, reach out of the database or change settings are never allowed",
    )
}

pub(super) fn binary_operator(op: &BinaryOperator) -> bool {
    use BinaryOperator as B;
    matches!(
        op,
        B::Plus
            | B::Minus
            | B::Multiply
            | B::Divide
            | B::Modulo
            | B::StringConcat
            | B::Gt
            | B::Lt
            | B::GtEq
            | B::LtEq
            | B::Spaceship
            | B::Eq
            | B::NotEq
            | B::And
            | B::Or
            | B::Xor
            | B::BitwiseOr
            | B::BitwiseAnd
            | B::BitwiseXor
            | B::MyIntegerDivide
            | B::PGBitwiseXor
            | B::PGBitwiseShiftLeft
            | B::PGBitwiseShiftRight
            | B::PGExp
            | B::PGRegexMatch
            | B::PGRegexIMatch
            | B::PGRegexNotMatch
            | B::PGRegexNotIMatch
            | B::PGLikeMatch
            | B::PGILikeMatch
            | B::PGNotLikeMatch
            | B::PGNotILikeMatch
            | B::PGStartsWith
            | B::Arrow
            | B::LongArrow
            | B::HashArrow
            | B::HashLongArrow
            | B::AtArrow
            | B::ArrowAt
            | B::Question
            | B::QuestionAnd
            | B::QuestionPipe
            | B::Overlaps
    )
}

pub(super) fn unary_operator(op: &UnaryOperator) -> bool {
    matches!(
        op,
        UnaryOperator::Plus | UnaryOperator::Minus | UnaryOperator::Not | UnaryOperator::BitwiseNot
    )
}

/// Types casts may name: built-in scalar types (and arrays of them). Custom and schema-
/// qualified types, and PostgreSQL's object identifier types (`regclass`, `regproc`...) whose
/// input functions look up catalogs, are refused.
const TYPES: &[&str] = &[
    "int",
    "integer",
    "bigint",
    "smallint",
    "tinyint",
    "mediumint",
    "int2",
    "int4",
    "int8",
    "numeric",
    "decimal",
    "dec",
    "real",
    "float",
    "float4",
    "float8",
    "double",
    "double precision",
    "boolean",
    "bool",
    "text",
    "varchar",
    "character varying",
    "char",
    "character",
    "nchar",
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "timestamp with time zone",
    "timestamp without time zone",
    "time with time zone",
    "time without time zone",
    "interval",
    "json",
    "jsonb",
    "uuid",
    "signed",
    "unsigned",
    "signed integer",
    "unsigned integer",
    "datetime",
    "year",
    "binary",
];

pub(super) fn data_type(_dialect: SqlDialect, t: &DataType) -> Result<(), SqlRefusal> {
    let printed = t.to_string().to_ascii_lowercase();
    let mut base = printed.trim_end_matches("[]").trim();
    if let Some(i) = base.find('(') {
        // `varchar(10)`, `numeric(10, 2)`, `timestamp(3) with time zone`
        let (head, tail) = base.split_at(i);
        let after = tail.find(')').map(|j| tail[j + 1..].trim()).unwrap_or("");
        base = head.trim();
        if !after.is_empty() {
            let joined = format!("{base} {after}");
            return check_type(&joined, &printed);
        }
    }
    check_type(base, &printed)
}

fn check_type(base: &str, printed: &str) -> Result<(), SqlRefusal> {
    if TYPES.contains(&base) {
        return Ok(());
    }
    Err(refusal(
        "sql_type_not_allowed",
        format!("the type {printed} is not accepted in a connector's casts"),
        "cast to built-in scalar types (integer, numeric, text, varchar, date, timestamp, boolean, json...)",
    ))
}
