//! IPython syntax out of a cell before parsing: line magics, cell magics and shell escapes.
//! Magics whose argument or body is Python (`%time x`, `%%capture`, `%%python`) keep it as
//! Python so its imports are seen; magics that run files or extensions are dynamic code.

use airlock_gateway_domain::policy_input::CodeFacts;

/// Cell magics whose body IPython runs as Python in the kernel or a Python subprocess.
const PYTHON_CELL_MAGICS: &[&str] = &[
    "capture", "time", "timeit", "prun", "python", "python3", "pypy",
];
/// Cell magics whose body is a shell script.
const SHELL_CELL_MAGICS: &[&str] = &["bash", "sh", "system", "sx", "script"];
/// Cell magics whose body is not run here (rendered, or written to a file; a written module
/// imported later is governed at run time).
const INERT_CELL_MAGICS: &[&str] = &[
    "writefile",
    "file",
    "html",
    "javascript",
    "js",
    "latex",
    "markdown",
    "svg",
];
/// Line magics that prefix a Python statement.
const PYTHON_LINE_MAGICS: &[&str] = &["time", "timeit", "prun", "capture"];
/// Line magics that run code from files or load extensions.
const RUNNING_LINE_MAGICS: &[&str] = &[
    "run",
    "load",
    "load_ext",
    "reload_ext",
    "aimport",
    "loadpy",
    "macro",
    "rerun",
    "recall",
];

/// The Python part of `code` (magic lines replaced, line numbers kept) and the facts of the
/// IPython part.
pub(super) fn split(code: &str) -> (String, CodeFacts) {
    let mut facts = CodeFacts::default();
    let mut python = String::with_capacity(code.len());
    let mut lines = code.lines();
    let first = code.lines().next().unwrap_or("");
    if let Some(magic) = first.trim_start().strip_prefix("%%") {
        let name = magic.split_whitespace().next().unwrap_or("");
        let arg = magic.split_whitespace().nth(1).unwrap_or("");
        lines.next();
        python.push('\n');
        let python_script = name == "script" && arg.starts_with("python");
        if PYTHON_CELL_MAGICS.contains(&name) || python_script {
            // The body is Python: analysed below like any cell.
        } else {
            let body: Vec<&str> = lines.collect();
            if SHELL_CELL_MAGICS.contains(&name) {
                facts
                    .pip_installs
                    .extend(super::pip_installs_in_shell(&body.join("\n")));
            } else if !INERT_CELL_MAGICS.contains(&name) {
                facts.dynamic_code.push(format!("cell magic %%{name}"));
            }
            facts.shell_commands.push(first.to_owned());
            facts
                .shell_commands
                .extend(body.iter().map(|l| (*l).to_owned()));
            return (python, facts);
        }
    }
    for line in lines {
        python.push_str(&python_line(line, &mut facts));
        python.push('\n');
    }
    (python, facts)
}

/// One line as Python: a shell escape or magic becomes `pass` (or the statement a
/// `%time`-style magic wraps) at the same indentation.
fn python_line(line: &str, facts: &mut CodeFacts) -> String {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    if let Some(cmd) = trimmed
        .strip_prefix('!')
        .or_else(|| trimmed.strip_prefix("%sx "))
        .or_else(|| trimmed.strip_prefix("%system "))
    {
        facts.shell_commands.push(cmd.to_owned());
        facts.pip_installs.extend(super::pip_installs_in_shell(cmd));
        return format!("{indent}pass");
    }
    let Some(magic) = trimmed.strip_prefix('%') else {
        return line.to_owned();
    };
    let name = magic.split_whitespace().next().unwrap_or("");
    let rest = magic[name.len()..].trim_start();
    match name {
        "pip" | "conda" => facts.pip_installs.extend(pip_args(rest)),
        n if PYTHON_LINE_MAGICS.contains(&n) => return format!("{indent}{}", strip_options(rest)),
        n if RUNNING_LINE_MAGICS.contains(&n) => facts.dynamic_code.push(format!("magic %{n}")),
        _ => {}
    }
    format!("{indent}pass")
}

/// `-n 10 -r 3 stmt` -> `stmt` (timeit's and prun's options, with their values).
fn strip_options(rest: &str) -> &str {
    let mut s = rest.trim_start();
    while let Some(opt) = s.strip_prefix('-') {
        let flag = opt.split_whitespace().next().unwrap_or("");
        let after = opt[flag.len()..].trim_start();
        // Options that take a value: timeit -n -r -p, prun -s -l -T -D -r.
        s = if matches!(flag, "n" | "r" | "p" | "s" | "l" | "T" | "D") {
            let v = after.split_whitespace().next().unwrap_or("");
            after[v.len()..].trim_start()
        } else {
            after
        };
    }
    s
}

/// Package names of a `pip install ...` argument list (options skipped).
pub(super) fn pip_args(rest: &str) -> Vec<String> {
    let mut words = rest.split_whitespace();
    if words.next() != Some("install") {
        return vec![];
    }
    words
        .filter(|w| !w.starts_with('-'))
        .map(str::to_owned)
        .collect()
}
