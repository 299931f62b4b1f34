//! Writes a grant may allow: `INSERT INTO t (cols) VALUES | SELECT`, `UPDATE t SET ... WHERE`,
//! `DELETE FROM t WHERE`. Every other form of them is refused.

use super::walk::{unsupported, Walk, Walker};
use sqlparser::ast::{Delete, FromTable, Insert, SelectItem, TableFactor, TableObject, Update};

impl Walker<'_> {
    pub(super) fn insert(&mut self, i: &mut Insert) -> Walk {
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

    pub(super) fn update(&mut self, u: &mut Update) -> Walk {
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

    pub(super) fn delete(&mut self, d: &mut Delete) -> Walk {
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
