//! Relations: joins, tables (resolved like the server resolves them, rewritten qualified and
//! quoted), derived tables, set-returning functions, aliases and names.

use super::{
    allow, refusal,
    walk::{unsupported, Walk, Walker},
};
use airlock_gateway_domain::connectors::{SqlDialect, SqlRefusal};
use sqlparser::ast::{
    Ident, Join, JoinConstraint, JoinOperator, ObjectName, TableAlias, TableFactor, TableWithJoins,
};

impl Walker<'_> {
    pub(super) fn table_with_joins(&mut self, t: &mut TableWithJoins) -> Walk {
        self.deeper()?;
        self.table_factor(&mut t.relation)?;
        for j in t.joins.iter_mut() {
            self.join(j)?;
        }
        self.depth -= 1;
        Ok(())
    }

    fn join(&mut self, j: &mut Join) -> Walk {
        if j.global {
            return Err(unsupported("sql_relation_not_supported", "GLOBAL JOIN"));
        }
        self.table_factor(&mut j.relation)?;
        let constraint = match &mut j.join_operator {
            JoinOperator::Join(c)
            | JoinOperator::Inner(c)
            | JoinOperator::Left(c)
            | JoinOperator::LeftOuter(c)
            | JoinOperator::Right(c)
            | JoinOperator::RightOuter(c)
            | JoinOperator::FullOuter(c)
            | JoinOperator::CrossJoin(c)
            | JoinOperator::StraightJoin(c) => c,
            _ => {
                return Err(unsupported(
                    "sql_relation_not_supported",
                    "this kind of join",
                ))
            }
        };
        match constraint {
            JoinConstraint::On(e) => self.expr(e),
            JoinConstraint::Using(cols) => {
                for c in cols {
                    for p in &c.0 {
                        match p.as_ident() {
                            Some(i) => self.ident(i)?,
                            None => {
                                return Err(unsupported(
                                    "sql_expression_not_supported",
                                    "USING with a non-column",
                                ))
                            }
                        }
                    }
                }
                Ok(())
            }
            JoinConstraint::Natural | JoinConstraint::None => Ok(()),
            JoinConstraint::UsingAlias(..) => {
                Err(unsupported("sql_relation_not_supported", "USING ... AS"))
            }
        }
    }

    fn table_factor(&mut self, t: &mut TableFactor) -> Walk {
        match t {
            TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                with_ordinality: _,
                partitions,
                json_path,
                sample,
                index_directives: _,
                inheritance: _,
            } => {
                if !with_hints.is_empty()
                    || version.is_some()
                    || json_path.is_some()
                    || sample.is_some()
                {
                    return Err(unsupported(
                        "sql_clause_not_supported",
                        "a table hint, version, path or sample",
                    ));
                }
                for p in partitions.iter() {
                    self.ident(p)?;
                }
                match args {
                    Some(a) => {
                        if a.settings.is_some() {
                            return Err(unsupported("sql_clause_not_supported", "SETTINGS"));
                        }
                        self.table_function(name, &mut a.args)?;
                    }
                    None => self.relation(name, true)?,
                }
                match alias {
                    Some(a) => self.alias(a),
                    None => Ok(()),
                }
            }
            TableFactor::Derived {
                lateral: _,
                subquery,
                alias,
                sample,
            } => {
                if sample.is_some() {
                    return Err(unsupported("sql_clause_not_supported", "TABLESAMPLE"));
                }
                if let Some(a) = alias {
                    self.alias(a)?;
                }
                self.query(subquery)
            }
            TableFactor::Function {
                lateral: _,
                name,
                args,
                with_ordinality: _,
                alias,
            } => {
                if let Some(a) = alias {
                    self.alias(a)?;
                }
                self.table_function(name, args)
            }
            TableFactor::UNNEST {
                alias,
                array_exprs,
                with_offset,
                with_offset_alias: _,
                with_ordinality: _,
            } => {
                if *with_offset {
                    return Err(unsupported("sql_clause_not_supported", "WITH OFFSET"));
                }
                if let Some(a) = alias {
                    self.alias(a)?;
                }
                self.functions.insert("unnest".into());
                self.exprs(array_exprs)
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                if let Some(a) = alias {
                    self.alias(a)?;
                }
                self.table_with_joins(table_with_joins)
            }
            _ => Err(unsupported(
                "sql_relation_not_supported",
                "this kind of relation",
            )),
        }
    }

    /// A set-returning function in FROM (`generate_series(1, 10)`): allowlisted, never a table.
    fn table_function(
        &mut self,
        name: &ObjectName,
        args: &mut [sqlparser::ast::FunctionArg],
    ) -> Walk {
        let n = self.function_name(name)?;
        if !allow::table_function(self.dialect, &n) {
            return Err(allow::function_refusal(&n, true));
        }
        self.functions.insert(n);
        for a in args {
            self.function_arg(a)?;
        }
        Ok(())
    }

    pub(super) fn alias(&mut self, a: &TableAlias) -> Walk {
        self.ident(&a.name)?;
        for c in &a.columns {
            if c.data_type.is_some() {
                return Err(unsupported(
                    "sql_clause_not_supported",
                    "typed alias columns",
                ));
            }
            self.ident(&c.name)?;
        }
        Ok(())
    }

    /// A table name in a read (`read`) or as a write target: a visible CTE when unqualified
    /// and in scope, else `schema.table` recorded and rewritten qualified and quoted.
    pub(super) fn relation(&mut self, name: &mut ObjectName, read: bool) -> Walk {
        let parts: Vec<&Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
        if parts.len() != name.0.len() {
            return Err(unsupported(
                "sql_relation_not_supported",
                "a computed table name",
            ));
        }
        let (schema, table) =
            match parts.as_slice() {
                [t] => {
                    let t = self.resolved(t)?;
                    if read && self.scopes.iter().any(|s| s.contains(&t)) {
                        return Ok(());
                    }
                    (self.default_schema.to_owned(), t)
                }
                [s, t] => (self.resolved(s)?, self.resolved(t)?),
                _ => return Err(refusal(
                    "sql_relation_not_supported",
                    format!("{name} names a table through another database or catalog"),
                    "name tables as schema.table (or just table in the connector's default schema)",
                )),
            };
        let full = format!("{schema}.{table}");
        if read {
            self.reads.insert(full);
        } else {
            self.writes_to.insert(full);
        }
        let quote = self.quote();
        *name = ObjectName::from(vec![
            Ident::with_quote(quote, schema),
            Ident::with_quote(quote, table),
        ]);
        Ok(())
    }

    fn quote(&self) -> char {
        match self.dialect {
            SqlDialect::Postgres => '"',
            SqlDialect::Mysql => '`',
        }
    }

    /// A name part as the server resolves it: PostgreSQL folds unquoted names to lower case
    /// and keeps quoted ones exactly; MySQL/MariaDB keep both as written (database and table
    /// names are case-sensitive on Linux; on a case-insensitive server a mismatch only refuses
    /// more). Parts that could make `schema.table` ambiguous are refused.
    fn resolved(&self, i: &Ident) -> Result<String, SqlRefusal> {
        self.ident(i)?;
        let name = match (self.dialect, i.quote_style) {
            (SqlDialect::Postgres, None) => i.value.to_lowercase(),
            _ => i.value.clone(),
        };
        if name.is_empty() || name.contains(['.', '*', '"', '`', '\'']) {
            return Err(refusal(
                "sql_identifier_not_supported",
                format!("the table name part {name:?} cannot be checked unambiguously"),
                "name tables without dots, stars or quotes inside a name",
            ));
        }
        Ok(name)
    }

    pub(super) fn unqualified(&self, i: &Ident) -> String {
        match (self.dialect, i.quote_style) {
            (SqlDialect::Postgres, None) => i.value.to_lowercase(),
            _ => i.value.clone(),
        }
    }

    /// Any identifier: no control characters, no session variables (`@x`, `@@x`) or
    /// placeholders (`$1`) in disguise.
    pub(super) fn ident(&self, i: &Ident) -> Walk {
        if i.value.chars().any(char::is_control) {
            return Err(refusal(
                "sql_identifier_not_supported",
                "a name contains control characters",
                "use printable names",
            ));
        }
        if i.quote_style.is_none() && i.value.starts_with(['@', '$', ':', '?']) {
            return Err(refusal(
                "sql_variable_not_allowed",
                format!("{} is a session variable or placeholder", i.value),
                "write the value into the statement as a literal",
            ));
        }
        Ok(())
    }
}
