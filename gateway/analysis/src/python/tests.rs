use super::*;

fn facts(code: &str) -> CodeFacts {
    analyze(code).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn finds_every_import_form() {
    let f = facts(
        "import os, numpy as np\nfrom a.b import c\nfrom . import local\nimport xml.etree.ElementTree\n\
         def f():\n    import requests\n    return __import__('socket')\n\
         m = importlib.import_module(\"sklearn.linear_model\")\nx = __import__(name)\n\
         z = sys.modules['zmq']\n",
    );
    assert_eq!(
        f.imports,
        ["a", "numpy", "os", "requests", "sklearn", "socket", "xml", "zmq"]
    );
    assert!(f.modules.contains(&"sklearn.linear_model".to_string()));
    assert_eq!(f.dynamic_imports, 1);
    assert!(f.parse_error.is_none());
}

#[test]
fn magics_and_shell_escapes_are_not_python() {
    let f = facts(
        "%pip install requests==2.0 -q\n!pip install flask\nif True:\n    !ls\nimport pandas\n",
    );
    assert_eq!(f.pip_installs, ["flask", "requests==2.0"]);
    assert_eq!(f.imports, ["pandas"]);
    assert!(f.parse_error.is_none(), "{:?}", f.parse_error);
}

#[test]
fn python_inside_magics_is_analysed_as_python() {
    assert_eq!(facts("%time import requests\n").imports, ["requests"]);
    assert_eq!(facts("%timeit -n 10 -r 2 import yaml\n").imports, ["yaml"]);
    assert_eq!(facts("%%capture\nimport requests\n").imports, ["requests"]);
    assert_eq!(facts("%%time\nimport jedi\nx = 1\n").imports, ["jedi"]);
    assert_eq!(facts("%%python3\nimport yaml\n").imports, ["yaml"]);
    assert_eq!(facts("%%script python3\nimport yaml\n").imports, ["yaml"]);
    let f = facts("%%bash\npip install evil\nls\n");
    assert_eq!(f.pip_installs, ["evil"]);
    assert!(f.imports.is_empty() && f.dynamic_code.is_empty());
    assert!(facts("%%writefile x.py\nimport requests\n")
        .dynamic_code
        .is_empty());
    assert_eq!(
        facts("%%mystery\nx\n").dynamic_code,
        ["cell magic %%mystery"]
    );
}

#[test]
fn code_that_runs_code_analysis_cannot_see_is_dynamic_code() {
    for (code, form) in [
        ("exec(src)", "exec of computed text"),
        ("eval('1+' + x)", "eval of computed text"),
        ("c = compile(s, 'x', 'exec')", "compile of computed text"),
        ("import runpy\nrunpy.run_module(name)", "runpy.run_module"),
        (
            "import importlib.util\ns = importlib.util.spec_from_file_location('m', p)",
            "importlib.util.spec_from_file_location",
        ),
        (
            "import builtins\ngetattr(builtins, '__imp' + 'ort__')('requests')",
            "getattr on builtins",
        ),
        ("getattr(__builtins__, n)", "getattr on __builtins__"),
        ("m = sys.modules[name]", "sys.modules lookup"),
        ("m = sys.modules.get('psutil')", "sys.modules lookup"),
        ("for m in sys.modules.values(): pass", "sys.modules lookup"),
        ("%run helper.py", "magic %run"),
        ("%load_ext foo", "magic %load_ext"),
    ] {
        let f = facts(code);
        assert!(
            f.dynamic_code.iter().any(|d| d == form),
            "{code}: {:?}",
            f.dynamic_code
        );
    }
    // Ordinary methods of the same names are not the builtins.
    assert!(
        facts("df.eval('a + b')\nre.compile('x')\ndf.query('a > 1')\n")
            .dynamic_code
            .is_empty()
    );
}

#[test]
fn literal_code_given_to_exec_is_analysed() {
    let f = facts(
        "exec('import requests')\neval(\"__import__('yaml')\")\nexec(\"exec('import jedi')\")\n",
    );
    assert_eq!(f.imports, ["jedi", "requests", "yaml"]);
    assert!(f.dynamic_code.is_empty(), "{:?}", f.dynamic_code);
    // Nesting beyond the bound is reported, not followed.
    let nested = "exec(\"exec('exec(\\\"exec(\\\\'import x\\\\')\\\")')\")";
    let f = facts(nested);
    assert!(f.dynamic_code.iter().any(|d| d.contains("nested")), "{f:?}");
}

#[test]
fn pip_through_subprocess_is_seen() {
    let f = facts("import subprocess\nsubprocess.run(['python', '-m', 'pip', 'install', 'evil'])\nos.system('pip3 install other')\n");
    assert_eq!(f.pip_installs, ["evil", "other"]);
}

#[test]
fn syntax_errors_are_reported_not_fatal() {
    let f = facts("def broken(:\n");
    assert!(f.parse_error.is_some());
}

#[test]
fn deep_nesting_is_refused_not_a_crash() {
    // Each of these would overflow a thread's usual stack in the parser's tree, the walk or the
    // drop; they are refused (or, beyond what the parser accepts, a parse error).
    let n = 200_000;
    // Parentheses alone add no tree level: harmless here (the kernel reports CPython's
    // "too many nested parentheses").
    let f = facts(&format!("x = {}1{}", "(".repeat(n), ")".repeat(n)));
    assert!(f.imports.is_empty());
    for code in [
        format!("x = 1{}", "+1".repeat(n)),
        format!("x = {}1", "-".repeat(n)),
        format!("x = {}y", "not ".repeat(n / 2)),
        format!("x = a{}", ".b".repeat(n)),
        format!("x = f{}", "()".repeat(n)),
        format!("x = {}1{}", "[".repeat(n), "]".repeat(n)),
        format!("x = {}0", "lambda: ".repeat(n / 4)),
        (0..2000)
            .map(|i| format!("{}if x:\n", " ".repeat(i)))
            .collect::<String>()
            + &" ".repeat(2000)
            + "pass\n",
    ] {
        match analyze(&code) {
            Err(AnalysisError::TooComplex(_)) => {}
            Ok(f) => assert!(f.parse_error.is_some(), "{}...: accepted", &code[..30]),
        }
    }
    // Ordinary depth is fine.
    let f = facts(&format!(
        "x = {}1{}\nimport numpy\n",
        "(".repeat(50),
        ")".repeat(50)
    ));
    assert_eq!(f.imports, ["numpy"]);
}
