//! Python cells: IPython magics and shell escapes are taken out first (they are not Python),
//! the rest is parsed with rustpython and walked by [`visit::ImportVisitor`] for imports,
//! installs and code that runs code analysis cannot see.

mod cell;
mod visit;

#[cfg(test)]
mod tests;

use airlock_gateway_domain::{policy_input::CodeFacts, ports::AnalysisError};
use rustpython_parser::{ast, Parse};
use std::collections::BTreeSet;

/// Syntax-tree depth beyond which a cell is refused. CPython's compiler stops near the same
/// depth ("maximum recursion depth exceeded during compilation"), so no runnable code is lost.
pub(crate) const MAX_DEPTH: usize = 1000;

/// Text passed to `exec`/`eval`/`compile` as a literal is analysed as code too, this deep.
const MAX_LITERAL_NESTING: usize = 3;

/// Analyses a notebook cell (on a large stack: see `crate::stack`).
pub fn analyze(code: &str) -> Result<CodeFacts, AnalysisError> {
    crate::stack::on_large_stack(code.len(), || analyze_nested(code, 0))
}

fn analyze_nested(code: &str, nesting: usize) -> Result<CodeFacts, AnalysisError> {
    let (python, mut facts) = cell::split(code);
    let mut v = visit::ImportVisitor::default();
    match ast::Suite::parse(&python, "<cell>") {
        Ok(suite) => suite.into_iter().for_each(|s| v.visit(s)),
        Err(e) => facts.parse_error = Some(e.to_string()),
    }
    if v.too_deep {
        return Err(AnalysisError::TooComplex(format!(
            "the code nests more than {MAX_DEPTH} levels deep (operators, brackets, calls or blocks)"
        )));
    }
    for text in std::mem::take(&mut v.literal_code) {
        if nesting >= MAX_LITERAL_NESTING {
            facts
                .dynamic_code
                .push("exec of nested literal code".into());
            continue;
        }
        let inner = analyze_nested(&text, nesting + 1)?;
        merge(&mut v, inner, &mut facts);
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
    facts.dynamic_code.extend(v.dynamic_code);
    facts.dynamic_code.sort();
    facts.dynamic_code.dedup();
    facts.pip_installs.extend(v.pip_installs);
    facts.pip_installs.sort();
    facts.pip_installs.dedup();
    Ok(facts)
}

/// Facts of literal code run by `exec`/`eval`/`compile` count as the cell's own.
fn merge(v: &mut visit::ImportVisitor, inner: CodeFacts, facts: &mut CodeFacts) {
    v.modules.extend(inner.modules);
    v.dynamic += inner.dynamic_imports;
    v.dynamic_code.extend(inner.dynamic_code);
    v.pip_installs.extend(inner.pip_installs);
    facts.shell_commands.extend(inner.shell_commands);
    if facts.parse_error.is_none() {
        facts.parse_error = inner.parse_error;
    }
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
            out.extend(cell::pip_args(&words[pos + 1..].join(" ")));
        }
    }
    out
}
