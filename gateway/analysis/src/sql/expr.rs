//! The allowlist walk over expressions: operators, functions, casts and literals the analyser
//! understands; anything else is refused with its code.

use super::{
    allow, refusal,
    walk::{unsupported, Walk, Walker},
};
use airlock_gateway_domain::connectors::SqlRefusal;
use sqlparser::ast::{
    AccessExpr, CastKind, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArguments, InTarget, NamedWindowExpr, ObjectName, Subscript, Value, ValueWithSpan,
    WindowFrameBound, WindowSpec, WindowType,
};

impl Walker<'_> {
    pub(super) fn exprs(&mut self, list: &mut [Expr]) -> Walk {
        list.iter_mut().try_for_each(|e| self.expr(e))
    }

    fn opt(&mut self, e: &mut Option<Box<Expr>>) -> Walk {
        match e {
            Some(e) => self.expr(e),
            None => Ok(()),
        }
    }

    pub(super) fn expr(&mut self, e: &mut Expr) -> Walk {
        self.deeper()?;
        self.expr_inner(e)?;
        self.depth -= 1;
        Ok(())
    }

    fn expr_inner(&mut self, e: &mut Expr) -> Walk {
        match e {
            Expr::Identifier(i) => self.ident(i),
            Expr::CompoundIdentifier(parts) => parts.iter().try_for_each(|i| self.ident(i)),
            Expr::Value(v) => literal(v),
            Expr::Nested(e)
            | Expr::IsFalse(e)
            | Expr::IsNotFalse(e)
            | Expr::IsTrue(e)
            | Expr::IsNotTrue(e)
            | Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::IsUnknown(e)
            | Expr::IsNotUnknown(e) => self.expr(e),
            Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => {
                self.expr(a)?;
                self.expr(b)
            }
            Expr::BinaryOp { left, op, right } => {
                if !allow::binary_operator(op) {
                    return Err(refusal(
                        "sql_expression_not_supported",
                        format!("the operator {op} is not accepted through a connector"),
                        "use arithmetic, comparison, logical, string and JSON operators",
                    ));
                }
                self.expr(left)?;
                self.expr(right)
            }
            Expr::UnaryOp { op, expr } => {
                if !allow::unary_operator(op) {
                    return Err(unsupported(
                        "sql_expression_not_supported",
                        format!("the operator {op}"),
                    ));
                }
                self.expr(expr)
            }
            Expr::AnyOp {
                left,
                compare_op,
                right,
                ..
            }
            | Expr::AllOp {
                left,
                compare_op,
                right,
            } => {
                if !allow::binary_operator(compare_op) {
                    return Err(unsupported(
                        "sql_expression_not_supported",
                        format!("the operator {compare_op}"),
                    ));
                }
                self.expr(left)?;
                self.expr(right)
            }
            Expr::In {
                expr,
                target,
                negated: _,
                global,
            } => {
                if *global {
                    return Err(unsupported("sql_expression_not_supported", "GLOBAL IN"));
                }
                self.expr(expr)?;
                match target {
                    InTarget::List(list) => self.exprs(list),
                    InTarget::Subquery(q) => self.query(q),
                    InTarget::Unnest(e) => self.expr(e),
                    InTarget::Table { .. } => {
                        Err(unsupported("sql_expression_not_supported", "IN table"))
                    }
                }
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                self.expr(expr)?;
                self.expr(low)?;
                self.expr(high)
            }
            Expr::Like {
                any: false,
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::ILike {
                any: false,
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::SimilarTo {
                expr,
                pattern,
                escape_char,
                ..
            } => {
                self.expr(expr)?;
                self.expr(pattern)?;
                self.opt(escape_char)
            }
            Expr::RLike { expr, pattern, .. } => {
                self.expr(expr)?;
                self.expr(pattern)
            }
            Expr::Cast {
                kind,
                expr,
                data_type,
                format,
            } => {
                if format.is_some() || !matches!(kind, CastKind::Cast | CastKind::DoubleColon) {
                    return Err(unsupported("sql_expression_not_supported", "this cast"));
                }
                allow::data_type(self.dialect, data_type)?;
                self.expr(expr)
            }
            Expr::Convert {
                is_try: false,
                expr,
                data_type,
                charset,
                target_before_value: false,
                styles,
            } if styles.is_empty() => {
                if let Some(t) = data_type {
                    allow::data_type(self.dialect, t)?;
                }
                if let Some(c) = charset {
                    simple_name(c)?;
                }
                self.expr(expr)
            }
            Expr::AtTimeZone {
                timestamp,
                time_zone,
            } => {
                self.expr(timestamp)?;
                self.expr(time_zone)
            }
            Expr::Extract { expr, .. } | Expr::Ceil { expr, .. } | Expr::Floor { expr, .. } => {
                self.expr(expr)
            }
            Expr::Position { expr, r#in } => {
                self.expr(expr)?;
                self.expr(r#in)
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                self.expr(expr)?;
                self.opt(substring_from)?;
                self.opt(substring_for)
            }
            Expr::Trim {
                expr,
                trim_what,
                trim_characters,
                ..
            } => {
                self.expr(expr)?;
                self.opt(trim_what)?;
                match trim_characters {
                    Some(list) => self.exprs(list),
                    None => Ok(()),
                }
            }
            Expr::Overlay {
                expr,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                self.expr(expr)?;
                self.expr(overlay_what)?;
                self.expr(overlay_from)?;
                self.opt(overlay_for)
            }
            Expr::Collate { expr, collation } => {
                simple_name(collation)?;
                self.expr(expr)
            }
            Expr::TypedString(t) => {
                if t.uses_odbc_syntax {
                    return Err(unsupported("sql_expression_not_supported", "ODBC literals"));
                }
                allow::data_type(self.dialect, &t.data_type)?;
                literal(&t.value)
            }
            Expr::Interval(i) => self.expr(&mut i.value),
            Expr::Function(f) => self.function(f),
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                self.opt(operand)?;
                for c in conditions.iter_mut() {
                    self.expr(&mut c.condition)?;
                    self.expr(&mut c.result)?;
                }
                self.opt(else_result)
            }
            Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => self.query(subquery),
            Expr::GroupingSets(sets) | Expr::Cube(sets) | Expr::Rollup(sets) => {
                sets.iter_mut().try_for_each(|s| self.exprs(s))
            }
            Expr::Tuple(list) => self.exprs(list),
            Expr::Array(a) => self.exprs(&mut a.elem),
            Expr::IsJson { expr, .. } | Expr::IsNormalized { expr, .. } => self.expr(expr),
            Expr::CompoundFieldAccess { root, access_chain } => {
                self.expr(root)?;
                for a in access_chain.iter_mut() {
                    match a {
                        AccessExpr::Subscript(Subscript::Index { index }) => self.expr(index)?,
                        AccessExpr::Dot(e) => self.expr(e)?,
                        AccessExpr::Subscript(Subscript::Slice { .. }) => {
                            return Err(unsupported("sql_expression_not_supported", "array slices"))
                        }
                    }
                }
                Ok(())
            }
            Expr::Wildcard(_) | Expr::QualifiedWildcard(..) => Ok(()),
            Expr::Prefixed { .. } => Err(refusal(
                "sql_literal_not_supported",
                "character set introducers (_utf8'...') are not accepted through a connector",
                "write a plain single-quoted string",
            )),
            _ => Err(unsupported(
                "sql_expression_not_supported",
                "this expression",
            )),
        }
    }

    pub(super) fn function_name(&self, name: &ObjectName) -> Result<String, SqlRefusal> {
        let [part] = name.0.as_slice() else {
            return Err(refusal(
                "sql_function_not_allowed",
                format!("{name}: functions are called by their plain name, not schema-qualified"),
                "call the function without a schema",
            ));
        };
        let Some(i) = part.as_ident() else {
            return Err(unsupported(
                "sql_function_not_allowed",
                format!("the function {name}"),
            ));
        };
        self.ident(i)?;
        Ok(match (self.dialect, i.quote_style) {
            // PostgreSQL: a quoted name is exact (and no allowlisted function has capitals).
            (airlock_gateway_domain::connectors::SqlDialect::Postgres, Some(_)) => i.value.clone(),
            _ => i.value.to_lowercase(),
        })
    }

    fn function(&mut self, f: &mut Function) -> Walk {
        let Function {
            name,
            uses_odbc_syntax,
            parameters,
            args,
            within_group,
            filter,
            null_treatment: _,
            over,
        } = f;
        if *uses_odbc_syntax || !matches!(parameters, FunctionArguments::None) {
            return Err(unsupported(
                "sql_expression_not_supported",
                format!("this call of {name}"),
            ));
        }
        let n = self.function_name(name)?;
        if !allow::function(self.dialect, &n) {
            return Err(allow::function_refusal(&n, false));
        }
        self.functions.insert(n.clone());
        match args {
            FunctionArguments::None => {}
            FunctionArguments::Subquery(_) => {
                return Err(unsupported(
                    "sql_expression_not_supported",
                    format!("{n}(subquery)"),
                ))
            }
            FunctionArguments::List(list) => {
                for a in list.args.iter_mut() {
                    if matches!(a, FunctionArg::Unnamed(FunctionArgExpr::Wildcard)) && n != "count"
                    {
                        return Err(unsupported(
                            "sql_expression_not_supported",
                            format!("{n}(*)"),
                        ));
                    }
                    self.function_arg(a)?;
                }
                for c in list.clauses.iter_mut() {
                    match c {
                        FunctionArgumentClause::OrderBy(o) => self.order_by_exprs(o)?,
                        FunctionArgumentClause::Limit(e) => self.expr(e)?,
                        FunctionArgumentClause::Separator(v) => literal(v)?,
                        FunctionArgumentClause::IgnoreOrRespectNulls(_) => {}
                        _ => {
                            return Err(unsupported(
                                "sql_clause_not_supported",
                                format!("this clause of {n}"),
                            ))
                        }
                    }
                }
            }
        }
        self.order_by_exprs(within_group)?;
        if let Some(e) = filter {
            self.expr(e)?;
        }
        match over {
            Some(WindowType::WindowSpec(w)) => self.window(w),
            Some(WindowType::NamedWindow(i)) => self.ident(i),
            None => Ok(()),
        }
    }

    pub(super) fn function_arg(&mut self, a: &mut FunctionArg) -> Walk {
        match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => self.expr(e),
            FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => Ok(()),
            _ => Err(unsupported(
                "sql_expression_not_supported",
                "named or qualified-wildcard function arguments",
            )),
        }
    }

    pub(super) fn named_window(&mut self, w: &mut NamedWindowExpr) -> Walk {
        match w {
            NamedWindowExpr::NamedWindow(i) => self.ident(i),
            NamedWindowExpr::WindowSpec(s) => self.window(s),
        }
    }

    fn window(&mut self, w: &mut WindowSpec) -> Walk {
        self.exprs(&mut w.partition_by)?;
        self.order_by_exprs(&mut w.order_by)?;
        if let Some(f) = &mut w.window_frame {
            for b in std::iter::once(&mut f.start_bound).chain(f.end_bound.as_mut()) {
                if let WindowFrameBound::Preceding(Some(e)) | WindowFrameBound::Following(Some(e)) =
                    b
                {
                    self.expr(e)?;
                }
            }
        }
        Ok(())
    }
}

/// Numbers, plain single-quoted strings, booleans and NULL. Every other literal form (dollar
/// quotes, E'' escapes, national, hex, byte and raw strings, placeholders) is refused: the
/// canonical text must mean to the server exactly what it meant to the analyser.
fn literal(v: &ValueWithSpan) -> Walk {
    match &v.value {
        Value::Number(..) | Value::SingleQuotedString(_) | Value::Boolean(_) | Value::Null => {
            Ok(())
        }
        Value::Placeholder(p) => Err(refusal(
            "sql_variable_not_allowed",
            format!("{p} is a placeholder or variable"),
            "write the value into the statement as a literal",
        )),
        other => Err(refusal(
            "sql_literal_not_supported",
            format!("the literal {other} is not in a form accepted through a connector"),
            "write strings in plain single quotes (double a quote inside: 'O''Brien')",
        )),
    }
}

/// A collation or character set name: one plain word.
fn simple_name(n: &ObjectName) -> Walk {
    let plain = n.0.len() == 1
        && n.0[0].as_ident().is_some_and(|i| {
            !i.value.is_empty()
                && i.value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if plain {
        Ok(())
    } else {
        Err(unsupported(
            "sql_expression_not_supported",
            format!("the name {n}"),
        ))
    }
}
