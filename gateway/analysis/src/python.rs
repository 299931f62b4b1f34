use airlock_gateway_domain::policy_input::CodeFacts;
use rustpython_ast::{Constant, Expr, ExprCall, StmtImport, StmtImportFrom, Visitor};
use rustpython_parser::{ast, Parse};
use std::collections::BTreeSet;

/// Analyses a notebook cell: IPython line magics (`%pip ...`) and shell escapes (`!cmd`) are
/// taken out first (they are not Python), then the rest is parsed and walked.
pub fn analyze(code: &str) -> CodeFacts {
    let mut facts = CodeFacts::default();
    let mut python = String::with_capacity(code.len());
    let mut cell_magic = false;
    for (i, line) in code.lines().enumerate() {
        let trimmed = line.trim_start();
        if i == 0 && trimmed.starts_with("%%") {
            cell_magic = true;
        }
        if cell_magic {
            facts.shell_commands.push(line.to_owned());
            continue;
        }
        if let Some(cmd) = trimmed
            .strip_prefix('!')
            .or_else(|| trimmed.strip_prefix("%sx "))
            .or_else(|| trimmed.strip_prefix("%system "))
        {
            facts.shell_commands.push(cmd.to_owned());
            facts.pip_installs.extend(pip_installs_in_shell(cmd));
            python.push_str(&indent_pass(line));
        } else if let Some(magic) = trimmed.strip_prefix('%') {
            if let Some(rest) = magic
                .strip_prefix("pip ")
                .or_else(|| magic.strip_prefix("conda "))
            {
                facts.pip_installs.extend(pip_args(rest));
            }
            python.push_str(&indent_pass(line));
        } else {
            python.push_str(line);
        }
        python.push('\n');
    }
    let mut v = ImportVisitor::default();
    match ast::Suite::parse(&python, "<cell>") {
        Ok(suite) => suite.into_iter().for_each(|s| v.visit_stmt(s)),
        Err(e) => facts.parse_error = Some(e.to_string()),
    }
    facts.imports = v
        .modules
        .iter()
        .map(|m| m.split('.').next().unwrap_or(m).to_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    facts.modules = v.modules.into_iter().collect();
    facts.dynamic_imports = v.dynamic;
    facts.pip_installs.extend(v.pip_installs);
    facts.pip_installs.sort();
    facts.pip_installs.dedup();
    facts
}

fn indent_pass(line: &str) -> String {
    let indent = &line[..line.len() - line.trim_start().len()];
    format!("{indent}pass")
}

/// Package names of a `pip install ...` argument list (options skipped).
fn pip_args(rest: &str) -> Vec<String> {
    let mut words = rest.split_whitespace();
    if words.next() != Some("install") {
        return vec![];
    }
    words
        .filter(|w| !w.starts_with('-'))
        .map(str::to_owned)
        .collect()
}

/// `pip install` inside shell text (`pip install x`, `python -m pip install x`, `pip3 ...`).
pub fn pip_installs_in_shell(cmd: &str) -> Vec<String> {
    let mut out = vec![];
    for part in cmd.split([';', '&', '|', '\n']) {
        let words: Vec<&str> = part.split_whitespace().collect();
        if let Some(pos) = words
            .iter()
            .position(|w| matches!(w.rsplit('/').next(), Some("pip" | "pip3")))
        {
            out.extend(pip_args(&words[pos + 1..].join(" ")));
        }
    }
    out
}

#[derive(Default)]
struct ImportVisitor {
    modules: BTreeSet<String>,
    dynamic: u32,
    pip_installs: Vec<String>,
}

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

impl Visitor for ImportVisitor {
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
        match callee.as_str() {
            "__import__" | "importlib.import_module" | "import_module" | "importlib.__import__" => {
                match node.args.first().and_then(literal_str) {
                    Some(m) => {
                        self.modules.insert(m);
                    }
                    None => self.dynamic += 1,
                }
            }
            "subprocess.run"
            | "subprocess.call"
            | "subprocess.check_call"
            | "subprocess.check_output"
            | "subprocess.Popen"
            | "os.system"
            | "os.popen" => {
                if let Some(arg) = node.args.first() {
                    let words: Vec<String> = match arg {
                        Expr::List(l) => l.elts.iter().filter_map(literal_str).collect(),
                        other => literal_str(other).map(|s| vec![s]).unwrap_or_default(),
                    };
                    self.pip_installs
                        .extend(pip_installs_in_shell(&words.join(" ")));
                }
            }
            _ => {}
        }
        self.generic_visit_expr_call(node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_import_form() {
        let f = analyze(
            "import os, numpy as np\nfrom a.b import c\nfrom . import local\nimport xml.etree.ElementTree\n\
             def f():\n    import requests\n    return __import__('socket')\n\
             m = importlib.import_module(\"sklearn.linear_model\")\nx = __import__(name)\n",
        );
        assert_eq!(
            f.imports,
            ["a", "numpy", "os", "requests", "sklearn", "socket", "xml"]
        );
        assert!(f.modules.contains(&"sklearn.linear_model".to_string()));
        assert_eq!(f.dynamic_imports, 1);
        assert!(f.parse_error.is_none());
    }

    #[test]
    fn magics_and_shell_escapes_are_not_python() {
        let f = analyze(
            "%pip install requests==2.0 -q\n!pip install flask\nif True:\n    !ls\nimport pandas\n",
        );
        assert_eq!(f.pip_installs, ["flask", "requests==2.0"]);
        assert_eq!(f.imports, ["pandas"]);
        assert!(f.parse_error.is_none(), "{:?}", f.parse_error);
    }

    #[test]
    fn pip_through_subprocess_is_seen() {
        let f = analyze("import subprocess\nsubprocess.run(['python', '-m', 'pip', 'install', 'evil'])\nos.system('pip3 install other')\n");
        assert_eq!(f.pip_installs, ["evil", "other"]);
    }

    #[test]
    fn syntax_errors_are_reported_not_fatal() {
        let f = analyze("def broken(:\n");
        assert!(f.parse_error.is_some());
    }
}
