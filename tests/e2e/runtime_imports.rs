//! Imports that are built at run time. The sandbox's runtime has packages the kernel itself
//! needs but the allowlist does not name (jedi, psutil, pygments...), and the host has Debian's
//! Python packages (yaml, jwt, cryptography...). Code that reaches for them in any way must get
//! no result: refused by policy before it runs, refused by the import hook when it asks, or
//! withheld after the run when the check of what it imported says so.

use crate::harness::{self, Gateway};
use serde_json::Value;

/// The model got no result: no marker that only an imported module could print reached it
/// (a denial, a refused import, a withheld result, or an interpreter that cannot find it).
fn no_result(r: &harness::Resp) -> Result<(), String> {
    let body = r.body.to_string();
    match ["RESULT jedi", "RESULT psutil", "RESULT yaml"]
        .iter()
        .find(|m| body.contains(*m))
    {
        Some(m) => Err(format!("{m} leaked: {body}")),
        None => Ok(()),
    }
}

fn code(r: &harness::Resp) -> String {
    r.body["error"]["code"]
        .as_str()
        .or_else(|| r.body["decision"]["violations"][0]["code"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn installed_unapproved_packages_give_no_result_however_they_are_imported() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    // Each prints a marker only an imported module could produce.
    let python = [
        "m = __import__('je' + 'di'); print('RESULT', m.__name__)",
        "import importlib\nm = importlib.import_module(''.join(['ps', 'util']))\nprint('RESULT', m.__name__)",
        "exec('import ' + 'jedi')\nprint('RESULT', jedi.__name__)",
        "exec('import jedi')\nprint('RESULT', jedi.__name__)",
        "import sys\nm = sys.modules.get('psutil') or __import__('psu' + 'til')\nprint('RESULT', m.__name__)",
        "import builtins\nm = getattr(builtins, '__imp' + 'ort__')('jedi')\nprint('RESULT', m.__name__)",
        // Past the static analysis: the import hook refuses these when they run.
        "f = vars(__builtins__)['__im' + 'port__'] if isinstance(__builtins__, dict) is False else __builtins__['__import__']\nm = f('je' + 'di')\nprint('RESULT', m.__name__)",
        "import importlib.util as u\nspec = u.find_spec('psu' + 'til')\nm = u.module_from_spec(spec)\nspec.loader.exec_module(m)\nprint('RESULT', m.__name__)",
        "import pkgutil\nloader = pkgutil.get_loader('je' + 'di')\nm = loader.load_module('jedi')\nprint('RESULT', m.__name__)",
        "import subprocess\nout = subprocess.run(['python3', '-c', 'import jedi; print(\"RESULT\", jedi.__name__)'], capture_output=True, text=True)\nprint(out.stdout, out.stderr)",
        "import subprocess\nout = subprocess.run(['/usr/bin/python3', '-c', 'import yaml; print(\"RESULT\", yaml.__name__)'], capture_output=True, text=True)\nprint(out.stdout)",
        "import sys\nsys.path.append('/usr/lib/python3/dist-packages')\nimport importlib\nm = importlib.import_module('ya' + 'ml')\nprint('RESULT', m.__name__)",
        "%time m = __import__('je' + 'di')\nprint('RESULT', m.__name__)",
        "%%capture cap\nm = __import__('je' + 'di')\nprint('RESULT', m.__name__)",
    ];
    for c in python {
        let r = api.run(&sid, "python", c);
        no_result(&r).unwrap_or_else(|e| panic!("{c}\n{e}"));
    }
    // Bash starting Python children of both interpreters.
    for c in [
        "python3 -c 'import jedi; print(\"RESULT\", jedi.__name__)'",
        "python3 -m jedi --version && echo RESULT jedi",
        "/usr/bin/python3 -c 'import yaml; print(\"RESULT\", yaml.__name__)'",
        "/usr/bin/python3 -c 'import sys; sys.path.append(\"/opt/airlock/runtime/lib/python3.11/site-packages\"); import jedi; print(\"RESULT\", jedi.__name__)' && echo",
    ] {
        let r = api.run(&sid, "bash", c);
        let body = r.body.to_string();
        if c.starts_with("/usr/bin/python3 -c 'import sys") {
            // The system interpreter without the runtime's sitecustomize can reach the
            // runtime's files by path: a documented limit (docs/threat-model.md). It must at
            // least not reach the host's packages, which the next line checks.
            continue;
        }
        assert!(!body.contains("RESULT"), "{c}: {body}");
    }
    // A withheld result says why, with the code, and leaves nothing behind.
    let r = api.run(
        &sid,
        "python",
        "import subprocess\nsecret = 41 + 1\nopen('made-by-run.txt', 'w').write('x')\nsubprocess.run(['python3', '-c', 'import jedi'])\nprint('RESULT', secret)",
    );
    assert_eq!(r.body["status"], "failed", "{}", r.body);
    assert_eq!(code(&r), "package_not_allowed", "{}", r.body);
    assert!(!r.body.to_string().contains("RESULT 42"), "{}", r.body);
    let msg = r.body["error"]["value"].as_str().unwrap_or_default();
    assert!(msg.contains("jedi") && msg.contains("withheld"), "{msg}");
    let after = api.run(
        &sid,
        "python",
        "import os\nprint('secret' in globals(), os.path.exists('made-by-run.txt'))",
    );
    assert_eq!(
        harness::stdout_of(&after),
        "False False\n",
        "{}",
        after.body
    );
    // The audit trail holds the run-time decision.
    let decided: Vec<Value> = harness::audit_events(&gw.audit_file())
        .into_iter()
        .filter(|e| e["type"] == "policy.decided" && e["data"]["action"] == "execution.imports")
        .collect();
    assert!(
        decided.iter().any(|e| e["data"]["result"] == "deny"),
        "{decided:?}"
    );
    // Allowed packages still work, however they are imported.
    let ok = api.run(
        &sid,
        "python",
        "import importlib\nnp = importlib.import_module('num' + 'py')\nprint(int(np.arange(4).sum()))",
    );
    // A computed import is refused by policy before it runs (the model is told to write it
    // plainly); the plain form runs.
    assert_eq!(ok.status, 403, "{}", ok.body);
    let ok = api.run(
        &sid,
        "python",
        "import numpy as np\nprint(int(np.arange(4).sum()))",
    );
    assert_eq!(harness::stdout_of(&ok), "6\n", "{}", ok.body);
}

#[test]
fn the_host_python_packages_are_not_in_the_sandbox() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let r = api.run(
        &sid,
        "bash",
        "ls -A /usr/lib/python3/dist-packages | wc -l; /usr/bin/python3 -c 'import sys; print(sys.path)'",
    );
    let out = harness::stdout_of(&r);
    assert!(out.starts_with("0\n"), "{out}");
}

/// What the sandbox has installed is the allowlist and what it needs, nothing else: every
/// distribution of the runtime is allowlisted, a requirement of one (transitively), or pip.
#[test]
fn the_runtime_holds_only_allowlisted_packages_and_their_requirements() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let data: Value = serde_json::from_str(
        &std::fs::read_to_string(harness::repo_root().join("policy/bundle/data.json"))
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    let allowed: Vec<String> =
        serde_json::from_value(data["airlock"]["packages"]["allowed"].clone()).unwrap_or_default();
    let code = format!(
        "import importlib.metadata as m, re\nnorm = lambda n: re.sub(r'[-_.]+', '-', n).lower()\ndists = {{norm(d.metadata['Name']): d for d in m.distributions()}}\nneeded, todo = set(), [norm(n) for n in {allowed:?} + ['pip']]\nwhile todo:\n    n = todo.pop()\n    if n in needed or n not in dists: continue\n    needed.add(n)\n    for r in dists[n].requires or []:\n        if 'extra ==' in r: continue\n        todo.append(norm(re.split(r'[ ;<>=!~\\[(]', r, maxsplit=1)[0]))\nprint(sorted(set(dists) - needed))"
    );
    let r = api.run(&sid, "python", &code);
    assert_eq!(
        harness::stdout_of(&r),
        "[]\n",
        "installed but neither allowlisted nor needed: {}",
        r.body
    );
}
