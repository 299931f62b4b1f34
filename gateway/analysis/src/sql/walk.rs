//! The allowlist walk over statements, queries and relations (expressions in `expr.rs`).
//!
//! Every struct is destructured field by field, so a sqlparser upgrade that adds a clause
//! fails to compile here until someone decides whether the analyser understands it. Table
//! names are resolved the way the server resolves them and rewritten fully qualified and
//! quoted; common table expressions are scoped the way SQL scopes them.

use super::{refusal, refused_statement_facts, too_complex};
use airlock_gateway_domain::connectors::{SqlDialect, SqlRefusal, SqlStatementFacts};
use sqlparser::ast::{
    Cte, Distinct, GroupByExpr, LimitClause, OrderBy, OrderByKind, Query, Select, SelectFlavor,
    SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, WildcardAdditionalOptions,
    With,
};
use std::collections::BTreeSet;

/// Nesting of queries and expressions beyond which the statement is refused.
pub(super) const MAX_DEPTH: usize = 128;

pub(super) type Walk = Result<(), SqlRefusal>;

pub(crate) struct Walker<'a> {
    pub(super) dialect: SqlDialect,
    pub(super) default_schema: &'a str,
    /// Names of common table expressions visible here, innermost scope last.
    pub(super) scopes: Vec<Vec<String>>,
    kind: &'static str,
    writes: bool,
    pub(super) reads: BTreeSet<String>,
    pub(super) writes_to: BTreeSet<String>,
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
