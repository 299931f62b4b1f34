//! The allowlist walk over statements, queries and relations (expressions in `expr.rs`).
//!
//! Every struct is destructured field by field, so a sqlparser upgrade that adds a clause
//! fails to compile here until someone decides whether the analyser understands it. Table
//! names are resolved the way the server resolves them and rewritten fully qualified and
//! quoted; common table expressions are scoped the way SQL scopes them.

use super::{allow, refusal, refused_statement_facts, too_complex};
use airlock_gateway_domain::connectors::{SqlDialect, SqlRefusal, SqlStatementFacts};
use sqlparser::ast::{
    Cte, Delete, Distinct, FromTable, GroupByExpr, Ident, Insert, Join, JoinConstraint,
    JoinOperator, LimitClause, ObjectName, OrderBy, OrderByKind, Query, Select, SelectFlavor,
    SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, TableAlias, TableFactor,
    TableObject, TableWithJoins, Update, WildcardAdditionalOptions, With,
};
use std::collections::BTreeSet;

/// Nesting of queries and expressions beyond which the statement is refused.
pub(super) const MAX_DEPTH: usize = 128;

pub(super) type Walk = Result<(), SqlRefusal>;

pub(crate) struct Walker<'a> {
    pub(super) dialect: SqlDialect,
    default_schema: &'a str,
    /// Names of common table expressions visible here, innermost scope last.
    scopes: Vec<Vec<String>>,
    kind: &'static str,
    writes: bool,
    reads: BTreeSet<String>,
    writes_to: BTreeSet<String>,
    pub(super) functions: BTreeSet<String>,
    pub(super) depth: usize,
}

pub(super) fn unsupported(code: &str, what: impl std::fmt::Display) -> SqlRefusal {
    let hint = match code {
        "sql_relation_not_supported" => "read from tables, subqueries, joins, VALUES and common table expressions only",
        "sql_clause_not_supported" => "leave the clause out; a connector runs plain reads (SELECT with joins, filters, grouping, ordering, limits)",
        "sql_statement_not_allowed" => "send one SELECT (or an INSERT, UPDATE or DELETE your grant allows)",
        _ => "rewrite the statement with plain SQL forms",
    };
    refusal(
        code,
        format!("{what} is not accepted through a connector"),
        hint,
    )
}

impl<'a> Walker<'a> {
    pub(crate) fn new(dialect: SqlDialect, default_schema: &'a str) -> Self {
        Self {
            dialect,
            default_schema,
            scopes: vec![],
            kind: "other",
            writes: true,
            reads: BTreeSet::new(),
            writes_to: BTreeSet::new(),
            functions: BTreeSet::new(),
            depth: 0,
        }
    }

    pub(crate) fn facts(&self, s: &Statement) -> SqlStatementFacts {
        if self.kind == "other" {
            return refused_statement_facts(statement_kind(s));
        }
        SqlStatementFacts {
            kind: self.kind.into(),
            writes: self.writes,
            reads: self.reads.iter().cloned().collect(),
            writes_to: self.writes_to.iter().cloned().collect(),
            functions: self.functions.iter().cloned().collect(),
        }
    }

    pub(super) fn deeper(&mut self) -> Walk {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(too_complex());
        }
        Ok(())
    }

    pub(crate) fn statement(&mut self, s: &mut Statement) -> Walk {
        match s {
            Statement::Query(q) => {
                (self.kind, self.writes) = ("select", false);
                self.query(q)
            }
            Statement::Insert(i) => {
                (self.kind, self.writes) = ("insert", true);
                self.insert(i)
            }
            Statement::Update(u) => {
                (self.kind, self.writes) = ("update", true);
                self.update(u)
            }
            Statement::Delete(d) => {
                (self.kind, self.writes) = ("delete", true);
                self.delete(d)
            }
            other => Err(unsupported(
                "sql_statement_not_allowed",
                format!("a {} statement", statement_kind(other).to_uppercase()),
            )),
        }
    }

    pub(super) fn query(&mut self, q: &mut Query) -> Walk {
        self.deeper()?;
        let Query {
            with,
            body,
            order_by,
            limit_clause,
            fetch,
            locks,
            for_clause,
            settings,
            format_clause,
            pipe_operators,
        } = q;
        if !locks.is_empty() {
            return Err(refusal(
                "sql_clause_not_supported",
                "row locks (FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE) are not accepted through a connector",
                "leave the locking clause out: connector reads never lock rows",
            ));
        }
        if for_clause.is_some() || settings.is_some() || format_clause.is_some() {
            return Err(unsupported(
                "sql_clause_not_supported",
                "a FOR/SETTINGS/FORMAT clause",
            ));
        }
        if !pipe_operators.is_empty() {
            return Err(unsupported("sql_clause_not_supported", "a pipe operator"));
        }
        let scoped = with.is_some();
        if let Some(w) = with {
            self.with(w)?;
        }
        self.set_expr(body)?;
        if let Some(o) = order_by {
            self.order_by(o)?;
        }
        if let Some(l) = limit_clause {
            self.limit(l)?;
        }
        if let Some(f) = fetch {
            if let Some(e) = &mut f.quantity {
                self.expr(e)?;
            }
        }
        if scoped {
            self.scopes.pop();
        }
        self.depth -= 1;
        Ok(())
    }

    /// Pushes the scope of the WITH clause (popped by the query) after walking each body with
    /// the names it may see: earlier ones; with RECURSIVE in PostgreSQL every one (forward
    /// references are allowed), in MySQL/MariaDB itself and earlier ones. Where dialects differ
    /// the narrower rule is the safe one: a name wrongly taken for a table is qualified and
    /// checked; a name wrongly taken for a CTE would not be.
    fn with(&mut self, w: &mut With) -> Walk {
        let With {
            with_token: _,
            recursive,
            cte_tables,
        } = w;
        let names: Vec<String> = cte_tables
            .iter()
            .map(|c| self.unqualified(&c.alias.name))
            .collect();
        for (i, cte) in cte_tables.iter_mut().enumerate() {
            let visible: Vec<String> = match (*recursive, self.dialect) {
                (true, SqlDialect::Postgres) => names.clone(),
                (true, SqlDialect::Mysql) => names[..=i].to_vec(),
                (false, _) => names[..i].to_vec(),
            };
            self.scopes.push(visible);
            let r = self.cte(cte);
            self.scopes.pop();
            r?;
        }
        self.scopes.push(names);
        Ok(())
    }

    fn cte(&mut self, c: &mut Cte) -> Walk {
        let Cte {
            alias,
            query,
            from,
            materialized: _,
            closing_paren_token: _,
        } = c;
        if from.is_some() {
            return Err(unsupported("sql_clause_not_supported", "CTE ... FROM"));
        }
        self.alias(alias)?;
        self.query(query)
    }

    fn set_expr(&mut self, s: &mut SetExpr) -> Walk {
        self.deeper()?;
        match s {
            SetExpr::Select(sel) => self.select(sel)?,
            SetExpr::Query(q) => self.query(q)?,
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left)?;
                self.set_expr(right)?;
            }
            SetExpr::Values(v) => {
                for row in &mut v.rows {
                    self.exprs(row)?;
                }
            }
            SetExpr::Table(_) => {
                return Err(refusal(
                    "sql_relation_not_supported",
                    "TABLE name is not accepted through a connector",
                    "write SELECT * FROM name",
                ))
            }
            SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
                return Err(unsupported(
                    "sql_statement_not_allowed",
                    "a data-modifying statement inside a query",
                ))
            }
        }
        self.depth -= 1;
        Ok(())
    }

    fn select(&mut self, s: &mut Select) -> Walk {
        let Select {
            select_token: _,
            optimizer_hints,
            distinct,
            select_modifiers,
            top,
            top_before_distinct: _,
            projection,
            exclude,
            into,
            from,
            lateral_views,
            prewhere,
            selection,
            connect_by,
            group_by,
            cluster_by,
            distribute_by,
            sort_by,
            having,
            named_window,
            qualify,
            window_before_qualify: _,
            value_table_mode,
            flavor,
        } = s;
        if into.is_some() {
            return Err(unsupported(
                "sql_statement_not_allowed",
                "SELECT ... INTO (it writes a table, a file or variables)",
            ));
        }
        if !optimizer_hints.is_empty() || select_modifiers.is_some() || top.is_some() {
            return Err(unsupported(
                "sql_clause_not_supported",
                "a SELECT modifier or hint",
            ));
        }
        if exclude.is_some()
            || !lateral_views.is_empty()
            || prewhere.is_some()
            || !connect_by.is_empty()
            || !cluster_by.is_empty()
            || !distribute_by.is_empty()
            || !sort_by.is_empty()
            || qualify.is_some()
            || value_table_mode.is_some()
            || !matches!(flavor, SelectFlavor::Standard)
        {
            return Err(unsupported(
                "sql_clause_not_supported",
                "this SELECT clause",
            ));
        }
        if let Some(Distinct::On(exprs)) = distinct {
            self.exprs(exprs)?;
        }
        // FROM first: the names the projection refers to come from it.
        for t in from.iter_mut() {
            self.table_with_joins(t)?;
        }
        for item in projection.iter_mut() {
            self.select_item(item)?;
        }
        if let Some(e) = selection {
            self.expr(e)?;
        }
        match group_by {
            GroupByExpr::Expressions(exprs, _modifiers) => self.exprs(exprs)?,
            GroupByExpr::All(_) => {
                return Err(unsupported("sql_clause_not_supported", "GROUP BY ALL"))
            }
        }
        if let Some(e) = having {
            self.expr(e)?;
        }
        for w in named_window.iter_mut() {
            self.named_window(&mut w.1)?;
        }
        Ok(())
    }

    pub(super) fn select_item(&mut self, item: &mut SelectItem) -> Walk {
        match item {
            SelectItem::UnnamedExpr(e) => self.expr(e),
            SelectItem::ExprWithAlias { expr, alias } => {
                self.ident(alias)?;
                self.expr(expr)
            }
            SelectItem::Wildcard(o) => plain_wildcard(o),
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(_), o) => {
                plain_wildcard(o)
            }
            _ => Err(unsupported(
                "sql_expression_not_supported",
                "this select item",
            )),
        }
    }

    fn order_by(&mut self, o: &mut OrderBy) -> Walk {
        if o.interpolate.is_some() {
            return Err(unsupported(
                "sql_clause_not_supported",
                "ORDER BY ... INTERPOLATE",
            ));
        }
        match &mut o.kind {
            OrderByKind::Expressions(list) => self.order_by_exprs(list),
            OrderByKind::All(_) => Err(unsupported("sql_clause_not_supported", "ORDER BY ALL")),
        }
    }

    pub(super) fn order_by_exprs(&mut self, list: &mut [sqlparser::ast::OrderByExpr]) -> Walk {
        for e in list {
            if e.with_fill.is_some() {
                return Err(unsupported("sql_clause_not_supported", "WITH FILL"));
            }
            self.expr(&mut e.expr)?;
        }
        Ok(())
    }

    fn limit(&mut self, l: &mut LimitClause) -> Walk {
        match l {
            LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            } => {
                if !limit_by.is_empty() {
                    return Err(unsupported("sql_clause_not_supported", "LIMIT BY"));
                }
                if let Some(e) = limit {
                    self.expr(e)?;
                }
                if let Some(o) = offset {
                    self.expr(&mut o.value)?;
                }
                Ok(())
            }
            LimitClause::OffsetCommaLimit { offset, limit } => {
                self.expr(offset)?;
                self.expr(limit)
            }
        }
    }

    fn table_with_joins(&mut self, t: &mut TableWithJoins) -> Walk {
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

    fn alias(&mut self, a: &TableAlias) -> Walk {
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

    fn unqualified(&self, i: &Ident) -> String {
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

    fn insert(&mut self, i: &mut Insert) -> Walk {
        let Insert {
            insert_token: _,
            optimizer_hints,
            or,
            ignore,
            into: _,
            table,
            table_alias,
            columns,
            overwrite,
            source,
            assignments,
            partitioned,
            after_columns,
            has_table_keyword,
            on,
            returning,
            replace_into,
            priority,
            insert_alias,
            settings,
            format_clause,
            output,
            by_name,
            overriding,
            multi_table_insert_type,
            multi_table_into_clauses,
            multi_table_when_clauses,
            multi_table_else_clause,
        } = i;
        if !optimizer_hints.is_empty()
            || or.is_some()
            || *ignore
            || table_alias.is_some()
            || *overwrite
            || !assignments.is_empty()
            || partitioned.is_some()
            || !after_columns.is_empty()
            || *has_table_keyword
            || on.is_some()
            || *replace_into
            || priority.is_some()
            || insert_alias.is_some()
            || settings.is_some()
            || format_clause.is_some()
            || output.is_some()
            || *by_name
            || overriding.is_some()
            || multi_table_insert_type.is_some()
            || !multi_table_into_clauses.is_empty()
            || !multi_table_when_clauses.is_empty()
            || multi_table_else_clause.is_some()
        {
            return Err(unsupported(
                "sql_clause_not_supported",
                "this INSERT form (accepted: INSERT INTO table (columns) VALUES ... | SELECT ...)",
            ));
        }
        let TableObject::TableName(name) = table else {
            return Err(unsupported(
                "sql_relation_not_supported",
                "INSERT into a function",
            ));
        };
        self.relation(name, false)?;
        for c in columns.iter() {
            for p in &c.0 {
                if let Some(i) = p.as_ident() {
                    self.ident(i)?;
                }
            }
        }
        match source {
            Some(q) => self.query(q)?,
            None => {
                return Err(unsupported(
                    "sql_clause_not_supported",
                    "INSERT without rows",
                ))
            }
        }
        self.returning(returning)
    }

    fn update(&mut self, u: &mut Update) -> Walk {
        let Update {
            update_token: _,
            optimizer_hints,
            table,
            on_cluster,
            assignments,
            from,
            selection,
            returning,
            output,
            or,
            order_by,
            limit,
            settings,
        } = u;
        if !optimizer_hints.is_empty()
            || on_cluster.is_some()
            || from.is_some()
            || output.is_some()
            || or.is_some()
            || settings.is_some()
            || !table.joins.is_empty()
        {
            return Err(unsupported(
                "sql_clause_not_supported",
                "this UPDATE form (accepted: UPDATE table SET column = value ... WHERE ...)",
            ));
        }
        self.target(&mut table.relation)?;
        for a in assignments.iter_mut() {
            match &a.target {
                sqlparser::ast::AssignmentTarget::ColumnName(n) if n.0.len() == 1 => {}
                _ => return Err(unsupported("sql_clause_not_supported", "this SET target")),
            }
            self.expr(&mut a.value)?;
        }
        if let Some(e) = selection {
            self.expr(e)?;
        }
        self.order_by_exprs(order_by)?;
        if let Some(e) = limit {
            self.expr(e)?;
        }
        self.returning(returning)
    }

    fn delete(&mut self, d: &mut Delete) -> Walk {
        let Delete {
            delete_token: _,
            optimizer_hints,
            tables,
            from,
            on_cluster,
            using,
            selection,
            returning,
            output,
            order_by,
            limit,
            settings,
        } = d;
        let target = match from {
            FromTable::WithFromKeyword(t) if t.len() == 1 && t[0].joins.is_empty() => &mut t[0],
            _ => return Err(unsupported("sql_clause_not_supported", "this DELETE form")),
        };
        if !optimizer_hints.is_empty()
            || !tables.is_empty()
            || on_cluster.is_some()
            || using.is_some()
            || output.is_some()
            || settings.is_some()
        {
            return Err(unsupported(
                "sql_clause_not_supported",
                "this DELETE form (accepted: DELETE FROM table WHERE ...)",
            ));
        }
        self.target(&mut target.relation)?;
        if let Some(e) = selection {
            self.expr(e)?;
        }
        self.order_by_exprs(order_by)?;
        if let Some(e) = limit {
            self.expr(e)?;
        }
        self.returning(returning)
    }

    /// The table an UPDATE or DELETE changes (and reads, through its WHERE clause).
    fn target(&mut self, t: &mut TableFactor) -> Walk {
        match t {
            TableFactor::Table {
                name,
                alias,
                args: None,
                with_hints,
                version: None,
                partitions,
                json_path: None,
                sample: None,
                ..
            } if with_hints.is_empty() && partitions.is_empty() => {
                if let Some(a) = alias {
                    self.alias(a)?;
                }
                self.relation(name, false)?;
                let written: Vec<String> = self.writes_to.iter().cloned().collect();
                self.reads.extend(written);
                Ok(())
            }
            _ => Err(unsupported("sql_relation_not_supported", "this target")),
        }
    }

    fn returning(&mut self, r: &mut Option<Vec<SelectItem>>) -> Walk {
        for item in r.iter_mut().flatten() {
            self.select_item(item)?;
        }
        Ok(())
    }
}

fn plain_wildcard(o: &WildcardAdditionalOptions) -> Walk {
    let plain = o.opt_ilike.is_none()
        && o.opt_exclude.is_none()
        && o.opt_except.is_none()
        && o.opt_replace.is_none()
        && o.opt_rename.is_none()
        && o.opt_alias.is_none();
    if plain {
        Ok(())
    } else {
        Err(unsupported(
            "sql_expression_not_supported",
            "a wildcard with options",
        ))
    }
}

/// A statement's kind, for facts and messages.
pub(crate) fn statement_kind(s: &Statement) -> &'static str {
    match s {
        Statement::Query(_) => "select",
        Statement::Insert(_) => "insert",
        Statement::Update(_) => "update",
        Statement::Delete(_) => "delete",
        Statement::Merge { .. } => "merge",
        Statement::CreateTable(_) | Statement::CreateView { .. } | Statement::CreateIndex(_) => {
            "create"
        }
        Statement::Drop { .. } => "drop",
        Statement::AlterTable { .. } => "alter",
        Statement::Truncate { .. } => "truncate",
        Statement::Grant { .. } => "grant",
        Statement::Revoke { .. } => "revoke",
        Statement::Copy { .. } => "copy",
        Statement::Explain { .. } | Statement::ExplainTable { .. } => "explain",
        Statement::Set(_) => "set",
        Statement::Call(_) => "call",
        Statement::Execute { .. } => "execute",
        Statement::Prepare { .. } => "prepare",
        Statement::ShowVariable { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. } => "show",
        _ => "other",
    }
}
