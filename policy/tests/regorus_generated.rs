//! Differential test on generated policies: random Rego (several packages importing each
//! other, complete and partial rules, defaults, else chains, functions, comprehensions,
//! `every`, `with` on input, data and functions, builtins, indexing through variables) over
//! random data and inputs, evaluated by the patched regorus and by the released 0.14.1; every
//! rule must give the same value or the same error. Customers load their own bundles, so the
//! patches are checked beyond the shipped one.
//!
//! The seeds of `tests/corpus/regorus_generated.seeds` run in every test run (add the seed of
//! any divergence found). A longer search: `AIRLOCK_REGORUS_SEEDS=20000 cargo test --release -p
//! airlock-policy --test regorus_generated` (random seeds from the clock; a failure prints its
//! seed).

mod common;

use common::Pair;
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use serde_json::{json, Value as Json};

const KEYS: &[&str] = &["a", "b", "c", "d"];
const STRS: &[&str] = &["x", "y", "zz", "a", "B"];
const PACKAGES: &[&str] = &["lib", "app.main", "app.sub"];

struct Gen {
    rng: StdRng,
    /// Rules defined so far in the package being written (referable without recursion).
    local_rules: Vec<String>,
    /// Rules of packages written before (referable through `data.` and imports).
    foreign_rules: Vec<String>,
    functions: Vec<String>,
    vars: Vec<String>,
    var_counter: usize,
}

impl Gen {
    fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            local_rules: vec![],
            foreign_rules: vec![],
            functions: vec![],
            vars: vec![],
            var_counter: 0,
        }
    }

    fn pick<'a>(&mut self, xs: &'a [&'a str]) -> &'a str {
        xs.choose(&mut self.rng).copied().unwrap_or("a")
    }

    fn json(&mut self, depth: u32) -> Json {
        match self.rng.gen_range(0..if depth == 0 { 4 } else { 7 }) {
            0 => json!(self.rng.gen_range(-3..10)),
            1 => json!(self.pick(STRS)),
            2 => json!(self.rng.gen_bool(0.5)),
            3 => Json::Null,
            4 | 5 => {
                let n = self.rng.gen_range(0..4);
                let mut m = serde_json::Map::new();
                for _ in 0..n {
                    let k = self.pick(KEYS).to_owned();
                    m.insert(k, self.json(depth - 1));
                }
                Json::Object(m)
            }
            _ => Json::Array(
                (0..self.rng.gen_range(0..4))
                    .map(|_| self.json(depth - 1))
                    .collect(),
            ),
        }
    }

    fn path(&mut self, root: &str) -> String {
        let mut p = root.to_owned();
        for _ in 0..self.rng.gen_range(0..3) {
            match self.rng.gen_range(0..3) {
                0 => p.push_str(&format!(".{}", self.pick(KEYS))),
                1 => p.push_str(&format!("[\"{}\"]", self.pick(KEYS))),
                _ => match self.vars.choose(&mut self.rng) {
                    Some(v) => p.push_str(&format!("[{v}]")),
                    None => p.push_str(&format!("[{}]", self.rng.gen_range(0..3))),
                },
            }
        }
        p
    }

    fn rule_ref(&mut self) -> Option<String> {
        let local = !self.local_rules.is_empty() && self.rng.gen_bool(0.5);
        if local {
            return self.local_rules.choose(&mut self.rng).cloned();
        }
        self.foreign_rules.choose(&mut self.rng).cloned()
    }

    fn term(&mut self, depth: u32) -> String {
        let choice = self.rng.gen_range(0..if depth == 0 { 6 } else { 17 });
        match choice {
            0 => self.rng.gen_range(-3..10).to_string(),
            1 => format!("\"{}\"", self.pick(STRS)),
            2 => self.path("input"),
            3 => self.path("data.d"),
            4 => self
                .vars
                .choose(&mut self.rng)
                .cloned()
                .unwrap_or_else(|| "true".into()),
            5 => self.rule_ref().unwrap_or_else(|| "null".into()),
            6 => format!("[{}, {}]", self.term(depth - 1), self.term(depth - 1)),
            7 => format!("{{{}, {}}}", self.term(depth - 1), self.term(depth - 1)),
            8 => format!("{{\"{}\": {}}}", self.pick(KEYS), self.term(depth - 1)),
            9 => {
                let op = self.pick(&["+", "-", "*"]);
                format!("({} {op} {})", self.term(depth - 1), self.term(depth - 1))
            }
            10 | 15 => self.builtin(depth - 1),
            11 => match self.functions.choose(&mut self.rng).cloned() {
                Some(f) => format!("{f}({})", self.term(depth - 1)),
                None => self.builtin(depth - 1),
            },
            12 => {
                let v = self.fresh();
                let coll = self.term(depth - 1);
                self.vars.push(v.clone());
                let body = self.term(depth - 1);
                self.vars.pop();
                format!("[{body} | some {v} in {coll}]")
            }
            13 => {
                let v = self.fresh();
                let coll = self.term(depth - 1);
                format!("{{{v} | some {v} in {coll}}}")
            }
            14 => format!(
                "object.get({}, \"{}\", {})",
                self.term(depth - 1),
                self.pick(KEYS),
                self.term(0)
            ),
            _ => format!(
                "({} {} {})",
                self.term(depth - 1),
                self.pick(&["==", "!=", "<", ">="]),
                self.term(depth - 1)
            ),
        }
    }

    fn builtin(&mut self, depth: u32) -> String {
        let t = self.term(depth);
        match self.rng.gen_range(0..9) {
            0 => format!("count({t})"),
            1 => format!("sum([{t}, {}])", self.term(0)),
            2 => format!("concat(\",\", [{t}, \"{}\"])", self.pick(STRS)),
            3 => format!("sprintf(\"%v\", [{t}])"),
            4 => format!("upper({t})"),
            5 => format!("max([{t}, {}])", self.term(0)),
            6 => format!("array.concat([{t}], [{}])", self.term(0)),
            7 => format!("sort([{t}, {}])", self.term(0)),
            _ => format!("startswith({t}, \"{}\")", self.pick(STRS)),
        }
    }

    /// A value that needs no evaluation (defaults must be constant).
    fn constant(&mut self) -> String {
        match self.rng.gen_range(0..4) {
            0 => self.rng.gen_range(-3..10).to_string(),
            1 => format!("\"{}\"", self.pick(STRS)),
            2 => "[]".into(),
            _ => self.rng.gen_bool(0.5).to_string(),
        }
    }

    fn fresh(&mut self) -> String {
        self.var_counter += 1;
        format!("v{}", self.var_counter)
    }

    fn literal(&mut self) -> String {
        match self.rng.gen_range(0..8) {
            0 | 1 => {
                let v = self.fresh();
                let t = self.term(2);
                self.vars.push(v.clone());
                format!("{v} := {t}")
            }
            2 => {
                let v = self.fresh();
                let coll = self.term(2);
                self.vars.push(v.clone());
                format!("some {v} in {coll}")
            }
            3 => match self.rule_ref() {
                Some(r) => format!("not {r}"),
                None => "true".into(),
            },
            4 => {
                let v = self.fresh();
                let coll = self.term(1);
                format!("every {v} in {coll} {{ {v} != {} }}", self.term(0))
            }
            5 => {
                // Often a rule: `with` then re-evaluates that rule's body under the replacement.
                let t = match self.rule_ref().filter(|_| self.rng.gen_bool(0.6)) {
                    Some(r) => r,
                    None => self.term(2),
                };
                let with = match (
                    self.rng.gen_range(0..4),
                    self.functions.choose(&mut self.rng).cloned(),
                ) {
                    (0, _) => format!("with input.{} as {}", self.pick(KEYS), self.term(0)),
                    (1, _) => format!("with data.d.{} as {}", self.pick(KEYS), self.term(0)),
                    // A builtin replaced by a value: call sites must not keep the builtin.
                    (2, _) => format!(
                        "with {} as {}",
                        self.pick(&["upper", "count", "concat", "max", "sort", "sprintf"]),
                        self.constant()
                    ),
                    (_, Some(f)) => format!("with {f} as {}", self.term(0)),
                    (_, None) => format!("with input as {}", self.term(1)),
                };
                let v = self.fresh();
                self.vars.push(v.clone());
                format!("{v} := {t} {with}")
            }
            _ => self.term(2),
        }
    }

    fn body(&mut self) -> String {
        let n = self.rng.gen_range(1..4);
        let lits: Vec<String> = (0..n).map(|_| self.literal()).collect();
        lits.join("\n    ")
    }

    /// One rule (or function) of the package being written.
    fn rule(&mut self, pkg_ref: &str, index: usize) -> String {
        self.vars.clear();
        let name = format!("r{index}");
        let text = match self.rng.gen_range(0..8) {
            0 => format!("{name} := {}", self.term(3)),
            1 => {
                let default = self.constant();
                let body = self.body();
                let value = self.term(2);
                format!("default {name} := {default}\n{name} := {value} if {{\n    {body}\n}}")
            }
            2 => {
                let body = self.body();
                let value = self.term(2);
                // The else value sees none of the body's variables.
                self.vars.clear();
                let other = self.term(1);
                format!("{name} := {value} if {{\n    {body}\n}} else := {other}")
            }
            3 => {
                let body = self.body();
                let v = self.vars.last().cloned().unwrap_or_else(|| self.term(0));
                format!("{name} contains {v} if {{\n    {body}\n}}")
            }
            4 => {
                let body = self.body();
                let k = self
                    .vars
                    .first()
                    .cloned()
                    .unwrap_or_else(|| format!("\"{}\"", self.pick(KEYS)));
                format!("{name}[{k}] := {} if {{\n    {body}\n}}", self.term(1))
            }
            5 => {
                let f = format!("f{index}");
                self.vars.push("p".into());
                let t = self.term(2);
                self.vars.clear();
                let text = format!("{f}(p) := {t}\n{f}(p) := {} if {{ p == 1 }}", self.term(0));
                self.functions.push(format!("{pkg_ref}.{f}"));
                self.local_rules.push(format!("{f}(1)"));
                return text;
            }
            6 => format!("{name} if {{\n    {}\n}}", self.body()),
            _ => format!("{name} := {}", self.term(2)),
        };
        self.local_rules.push(name.clone());
        text
    }

    fn module(&mut self, pkg: &str) -> String {
        let mut text = format!("package {pkg}\nimport rego.v1\n");
        if self.rng.gen_bool(0.6) {
            if let Some(other) = PACKAGES.iter().find(|p| **p != pkg) {
                text.push_str(&format!("import data.{other}\n"));
            }
        }
        self.local_rules.clear();
        let n = self.rng.gen_range(2..7);
        for i in 0..n {
            text.push_str(&self.rule(&format!("data.{pkg}"), i));
            text.push('\n');
        }
        let defined: Vec<String> = std::mem::take(&mut self.local_rules)
            .into_iter()
            .map(|r| format!("data.{pkg}.{r}"))
            .collect();
        self.foreign_rules.extend(defined);
        text
    }
}

/// One generated case: modules (file, text), data, inputs, and the rules to evaluate.
type Case = (Vec<(String, String)>, Json, Vec<Json>, Vec<String>);

fn case(seed: u64) -> Case {
    let mut g = Gen::new(seed);
    let data = json!({"d": g.json(3)});
    let inputs: Vec<Json> = (0..3).map(|_| g.json(3)).collect();
    let mut modules = vec![];
    let mut rules = vec![];
    for pkg in PACKAGES.iter().take(g.rng.gen_range(1..=PACKAGES.len())) {
        let text = g.module(pkg);
        for line in text.lines() {
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if name.starts_with('r')
                && name.len() > 1
                && !rules.contains(&format!("data.{pkg}.{name}"))
            {
                rules.push(format!("data.{pkg}.{name}"));
            }
        }
        modules.push((format!("{}.rego", pkg.replace('.', "_")), text));
    }
    (modules, data, inputs, rules)
}

fn check(seed: u64) -> usize {
    let (modules, data, inputs, rules) = case(seed);
    let mut pair = match Pair::try_new(&modules, &data) {
        Ok(p) => p,
        Err((patched, upstream)) => {
            assert_eq!(
                patched, upstream,
                "seed {seed}: the engines load the generated policy differently:\n{modules:#?}"
            );
            return 0;
        }
    };
    let show = || {
        modules
            .iter()
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>()
            .join("\n----\n")
    };
    let mut evaluated = 0;
    for input in &inputs {
        pair.set_input(input);
        for rule in &rules {
            let (patched, upstream) = pair.rule(rule);
            assert_eq!(patched, upstream, "seed {seed}, rule {rule}, input {input}: the patched regorus differs from 0.14.1\n{}", show());
            evaluated += 1;
        }
        // Whole packages (every rule at once) through a query.
        for (file, _) in &modules {
            let query = format!("data.{}", file.trim_end_matches(".rego").replace('_', "."));
            let (patched, upstream) = pair.query(&query);
            assert_eq!(
                patched,
                upstream,
                "seed {seed}, {query}, input {input}\n{}",
                show()
            );
        }
    }
    evaluated
}

fn corpus() -> Vec<u64> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/regorus_generated.seeds");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter_map(|l| l.split('#').next().and_then(|s| s.trim().parse().ok()))
        .collect()
}

#[test]
fn generated_policies_evaluate_the_same_on_both_engines() {
    let seeds = corpus();
    assert!(seeds.len() >= 100, "the seed corpus is too small");
    let evaluated: usize = seeds.iter().map(|s| check(*s)).sum();
    // Most generated policies load and evaluate (the generator writes valid Rego).
    assert!(
        evaluated > seeds.len() * 5,
        "only {evaluated} rule evaluations"
    );
    if let Some(n) = std::env::var("AIRLOCK_REGORUS_SEEDS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        #[allow(clippy::disallowed_methods)] // fresh seeds for a long run, printed to replay
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        for seed in start..start + n {
            check(seed);
        }
    }
}
