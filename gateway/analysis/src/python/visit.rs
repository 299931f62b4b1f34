//! The walk over a parsed cell: imports in every static form, installs through subprocess, and
//! code that runs code analysis cannot see (computed imports, `exec` of computed text, module
//! loaders, computed lookups on `builtins`). Depth is bounded: deeper trees are refused.

use super::MAX_DEPTH;
use rustpython_ast::{
    Constant, Expr, ExprAttribute, ExprCall, ExprSubscript, Stmt, StmtImport, StmtImportFrom,
    Visitor,
};
use std::collections::BTreeSet;

#[derive(Default)]
pub(super) struct ImportVisitor {
    pub modules: BTreeSet<String>,
    pub dynamic: u32,
    pub dynamic_code: Vec<String>,
    pub pip_installs: Vec<String>,
    /// Literal text run by `exec`/`eval`/`compile`, analysed as code by the caller.
    pub literal_code: Vec<String>,
    pub too_deep: bool,
    depth: usize,
}

/// Calls that import a module by the name in their first argument.
const IMPORTERS: &[&str] = &[
    "__import__",
    "importlib.import_module",
    "import_module",
    "importlib.__import__",
    "builtins.__import__",
];
/// Calls that run the text in their first argument as code.
const RUNNERS: &[&str] = &[
    "exec",
    "eval",
    "compile",
    "builtins.exec",
    "builtins.eval",
    "builtins.compile",
];
/// Calls that load modules or run files past the import statement.
const LOADERS: &[&str] = &[
    "runpy.run_module",
    "runpy.run_path",
    "importlib.util.spec_from_file_location",
    "importlib.util.spec_from_loader",
    "importlib.util.module_from_spec",
    "importlib.machinery.SourceFileLoader",
    "importlib.machinery.SourcelessFileLoader",
    "importlib.machinery.ExtensionFileLoader",
    "importlib.reload",
    "imp.load_source",
    "imp.load_module",
    "imp.load_dynamic",
    "imp.load_compiled",
    "zipimport.zipimporter",
    "execfile",
];
/// Objects whose attributes, looked up by a computed name, reach importers and runners.
const MACHINERY: &[&str] = &["builtins", "__builtins__", "importlib", "sys", "imp"];
/// Processes that may run `pip`.
const SPAWNERS: &[&str] = &[
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.Popen",
    "os.system",
    "os.popen",
];

fn literal_str(e: &Expr) -> Option<String> {
    match e {
        Expr::Constant(c) => match &c.value {
            Constant::Str(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn dotted_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Name(n) => Some(n.id.to_string()),
        Expr::Attribute(a) => Some(format!("{}.{}", dotted_name(&a.value)?, a.attr)),
        _ => None,
    }
}

impl ImportVisitor {
    pub fn visit(&mut self, s: Stmt) {
        self.visit_stmt(s);
    }

    /// Runs `f` one level deeper unless the tree is already too deep.
    fn deeper(&mut self, f: impl FnOnce(&mut Self)) {
        if self.depth >= MAX_DEPTH {
            self.too_deep = true;
            return;
        }
        self.depth += 1;
        f(self);
        self.depth -= 1;
    }

    fn call(&mut self, callee: &str, node: &ExprCall) {
        let first = node.args.first();
        if IMPORTERS.contains(&callee) {
            match first.and_then(literal_str) {
                Some(m) => {
                    self.modules.insert(m);
                }
                None => {
                    self.dynamic += 1;
                    self.dynamic_code.push("computed import".into());
                }
            }
        } else if RUNNERS.contains(&callee) {
            match first.and_then(literal_str) {
                Some(text) => self.literal_code.push(text),
                None => self.dynamic_code.push(format!("{callee} of computed text")),
            }
        } else if LOADERS.contains(&callee) {
            self.dynamic_code.push(callee.to_owned());
        } else if callee == "getattr" {
            let target = first.and_then(dotted_name).unwrap_or_default();
            if MACHINERY.contains(&target.as_str()) {
                self.dynamic_code.push(format!("getattr on {target}"));
            }
        } else if SPAWNERS.contains(&callee) {
            if let Some(arg) = first {
                let words: Vec<String> = match arg {
                    Expr::List(l) => l.elts.iter().filter_map(literal_str).collect(),
                    other => literal_str(other).map(|s| vec![s]).unwrap_or_default(),
                };
                self.pip_installs
                    .extend(super::pip_installs_in_shell(&words.join(" ")));
            }
        }
    }
}

impl Visitor for ImportVisitor {
    fn visit_stmt(&mut self, node: Stmt) {
        self.deeper(|v| v.generic_visit_stmt(node));
    }

    fn visit_expr(&mut self, node: Expr) {
        self.deeper(|v| v.generic_visit_expr(node));
    }

    fn visit_stmt_import(&mut self, node: StmtImport) {
        for alias in node.names {
            self.modules.insert(alias.name.to_string());
        }
    }

    fn visit_stmt_import_from(&mut self, node: StmtImportFrom) {
        // Relative imports (`from . import x`) stay inside the workspace.
        let relative = node.level.map(|l| l.to_u32() > 0).unwrap_or(false);
        if let (Some(m), false) = (node.module, relative) {
            self.modules.insert(m.to_string());
        }
    }

    fn visit_expr_call(&mut self, node: ExprCall) {
        let callee = dotted_name(&node.func).unwrap_or_default();
        self.call(&callee, &node);
        self.generic_visit_expr_call(node);
    }

    fn visit_expr_subscript(&mut self, node: ExprSubscript) {
        // `sys.modules["x"]` reaches a module without importing it: an import of x.
        if dotted_name(&node.value).as_deref() == Some("sys.modules") {
            if let Some(m) = literal_str(&node.slice) {
                self.modules.insert(m);
                return;
            }
        }
        self.generic_visit_expr_subscript(node);
    }

    fn visit_expr_attribute(&mut self, node: ExprAttribute) {
        // Any other use of `sys.modules` (`.get(name)`, `.values()`, passing it on) reaches
        // loaded modules by names analysis cannot see.
        if node.attr.as_str() == "modules" && dotted_name(&node.value).as_deref() == Some("sys") {
            self.dynamic_code.push("sys.modules lookup".into());
        }
        self.generic_visit_expr_attribute(node);
    }
}
