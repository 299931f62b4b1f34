//! The guard of one execution's (or one download's) outputs: counts what the detectors find per
//! detector and place, asks policy when something new turns up, masks what policy says to mask
//! and withholds everything once policy blocks or holds.

use super::report::{Inspected, Ruled};
use crate::sessions::SessionLabels;
use airlock_gateway_domain::{
    decision::{Decision, DecisionResult, Violation},
    outputs::{ruling_for, FindingFacts, OutputAction, OutputPlace},
    policy_input::{Action, PolicyInput, RequestFacts, SessionFacts},
    ports::PolicyEngine,
    IdGenerator, Output, Principal,
};
use airlock_gateway_outputs::{mask, Finding, Masking, Scanner};
use std::{collections::BTreeMap, sync::Arc};

/// Why the output is withheld: the violations policy gave (or the gateway, failing closed).
#[derive(Clone, Debug)]
pub(crate) struct Withheld {
    pub violations: Vec<Violation>,
    /// Policy held it for a reviewer rather than blocking it.
    pub held: bool,
}

type Totals = BTreeMap<(String, OutputPlace), u64>;

pub(crate) struct OutputGuard {
    scanner: Arc<Scanner>,
    policy: Arc<dyn PolicyEngine>,
    ids: Arc<dyn IdGenerator>,
    principal: Principal,
    session_id: String,
    executions: u64,
    labels: SessionLabels,
    totals: Totals,
    /// The last decision, and what it was asked about.
    ruled: Option<Ruled>,
    withheld: Option<Withheld>,
}

/// What the guard needs to ask policy about one session's outputs.
pub(crate) struct GuardContext {
    pub scanner: Arc<Scanner>,
    pub policy: Arc<dyn PolicyEngine>,
    pub ids: Arc<dyn IdGenerator>,
    pub principal: Principal,
    pub session_id: String,
    pub executions: u64,
    pub labels: SessionLabels,
}

impl OutputGuard {
    pub fn new(c: GuardContext) -> Self {
        Self {
            scanner: c.scanner,
            policy: c.policy,
            ids: c.ids,
            principal: c.principal,
            session_id: c.session_id,
            executions: c.executions,
            labels: c.labels,
            totals: BTreeMap::new(),
            ruled: None,
            withheld: None,
        }
    }

    /// Policy blocked the output: nothing more of it leaves, not even for a reviewer.
    pub fn blocked(&self) -> bool {
        self.withheld.as_ref().is_some_and(|w| !w.held)
    }

    /// Policy held the output for a reviewer: what is inspected from now on is kept for the
    /// case, not sent to the caller.
    pub fn holding(&self) -> bool {
        self.withheld.as_ref().is_some_and(|w| w.held)
    }

    /// `text` as it may leave from `place` (masked as policy says), or None: blocked. While
    /// [`OutputGuard::holding`], the text returned is for the held copy only.
    pub fn text(&mut self, place: OutputPlace, text: String) -> Option<String> {
        if self.blocked() {
            return None;
        }
        let findings = self.scanner.scan(&text);
        if findings.is_empty() {
            return Some(text);
        }
        self.count(place, &findings);
        self.rule();
        if self.blocked() {
            return None;
        }
        Some(mask(&text, &findings, |d| self.masking(d, place)))
    }

    /// Inspects every string (and number: a card number can be one) in `v`, masking in place;
    /// false: blocked.
    pub fn value(&mut self, place: OutputPlace, v: &mut serde_json::Value) -> bool {
        use serde_json::Value;
        match v {
            Value::String(s) => match self.text(place, std::mem::take(s)) {
                Some(t) => {
                    *s = t;
                    true
                }
                None => false,
            },
            Value::Number(n) => {
                let as_text = n.to_string();
                match self.text(place, as_text.clone()) {
                    Some(t) if t != as_text => {
                        *v = Value::String(t);
                        true
                    }
                    Some(_) => true,
                    None => false,
                }
            }
            Value::Array(a) => a.iter_mut().all(|x| self.value(place, x)),
            // Keys are output too (`{"jane@example.com": 3}`): inspected and masked like values.
            Value::Object(o) => {
                let mut inspected = serde_json::Map::with_capacity(o.len());
                for (k, mut x) in std::mem::take(o) {
                    let Some(k) = self.text(place, k) else {
                        return false;
                    };
                    if !self.value(place, &mut x) {
                        return false;
                    }
                    inspected.insert(k, x);
                }
                *o = inspected;
                true
            }
            Value::Null | Value::Bool(_) => true,
        }
    }

    /// A rich output's text parts (HTML, JSON, SVG, Markdown...; base64 of an image or a PDF
    /// is not text and passes as it is); false: blocked.
    pub fn output(&mut self, place: OutputPlace, o: &mut Output) -> bool {
        o.data
            .iter_mut()
            .filter(|(media, _)| airlock_gateway_outputs::is_text_media(media))
            .all(|(_, v)| self.value(place, v))
    }

    /// A file that is not text: nothing in it can be checked, which policy rules on as the
    /// finding `uninspectable`.
    pub fn uninspectable(&mut self, place: OutputPlace) {
        *self
            .totals
            .entry((UNINSPECTABLE.to_owned(), place))
            .or_default() += 1;
        self.rule();
    }

    /// The end: policy decides once more on the totals (rules that count see everything);
    /// None when nothing was found.
    pub fn finish(mut self) -> Option<Inspected> {
        if self.totals.is_empty() {
            return None;
        }
        let stale = self.ruled.as_ref().is_none_or(|r| r.totals != self.totals);
        if stale && !self.blocked() {
            self.decide();
        }
        Some(Inspected::new(
            &self.totals,
            self.ruled.as_ref(),
            self.withheld.take(),
        ))
    }

    fn count(&mut self, place: OutputPlace, findings: &[Finding]) {
        for f in findings {
            *self.totals.entry((f.detector.clone(), place)).or_default() += 1;
        }
    }

    /// Asks policy when something was found that the last decision was not asked about, or the
    /// session's labels changed since.
    fn rule(&mut self) {
        let labels = self.labels.get();
        let current = self.ruled.as_ref().is_some_and(|r| {
            r.labels == labels && self.totals.keys().all(|k| r.totals.contains_key(k))
        });
        if !current {
            self.decide();
        }
    }

    fn decide(&mut self) {
        let labels = self.labels.get();
        let input = inspect_input(
            &self.principal,
            SessionFacts {
                id: self.session_id.clone(),
                labels: labels.clone(),
                executions: self.executions,
            },
            facts(&self.totals),
        );
        let decision =
            match crate::service::decide_with(self.policy.as_ref(), self.ids.as_ref(), &input) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, "output policy failed; withholding the output");
                    self.withheld = Some(Withheld {
                        violations: vec![violation(
                        "policy could not be evaluated on what the output holds; it is withheld",
                    )],
                        held: false,
                    });
                    return;
                }
            };
        // A hold becomes a block when policy says so, never a release: only a reviewer
        // releases what was held.
        let now = withheld_by(&decision, &self.totals);
        if now.is_some() || self.withheld.is_none() {
            self.withheld = now;
        }
        self.ruled = Some(Ruled {
            totals: self.totals.clone(),
            labels,
            decision,
        });
    }

    fn masking(&self, detector: &str, place: OutputPlace) -> Option<Masking> {
        let rulings = &self.ruled.as_ref()?.decision.obligations.outputs;
        let r = ruling_for(rulings, detector, place)?;
        (r.action == OutputAction::Mask).then(|| match r.keep_last {
            Some(n) => Masking::KeepLast(usize::from(n)),
            None => Masking::Replace,
        })
    }
}

/// The `output.inspect` question about `findings` in `session`.
pub(crate) fn inspect_input(
    p: &Principal,
    session: SessionFacts,
    findings: Vec<FindingFacts>,
) -> PolicyInput {
    PolicyInput {
        action: Action::OutputInspect,
        principal: p.clone(),
        session: Some(session),
        request: RequestFacts {
            findings,
            ..Default::default()
        },
        analysis: None,
    }
}

/// Whether `d` blocks output with `findings` (a hold does not: it is what a reviewer decides).
pub(crate) fn blocks(d: &Decision, findings: &[FindingFacts]) -> bool {
    let totals: Totals = findings
        .iter()
        .map(|f| ((f.detector.clone(), f.place), f.count))
        .collect();
    withheld_by(d, &totals).is_some_and(|w| !w.held)
}

/// The finding of a file that is not text.
pub(crate) const UNINSPECTABLE: &str = "uninspectable";

pub(super) fn facts(totals: &Totals) -> Vec<FindingFacts> {
    totals
        .iter()
        .map(|((detector, place), count)| FindingFacts {
            detector: detector.clone(),
            place: *place,
            count: *count,
        })
        .collect()
}

fn violation(message: &str) -> Violation {
    Violation {
        code: "output_blocked".into(),
        message: message.into(),
        hint: Some(
            "return aggregates (counts, sums) or masked values instead of the values themselves"
                .into(),
        ),
    }
}

/// Whether `d` withholds the output: a denial blocks, a review holds, and a ruling of block or
/// hold blocks even when the result says allow (fail closed on a policy that contradicts
/// itself).
fn withheld_by(d: &Decision, totals: &Totals) -> Option<Withheld> {
    match d.result {
        DecisionResult::Deny => {
            return Some(Withheld {
                violations: d.violations.clone(),
                held: false,
            })
        }
        DecisionResult::Review => {
            return Some(Withheld {
                violations: d.violations.clone(),
                held: true,
            })
        }
        DecisionResult::Allow => {}
    }
    let stops = totals.keys().find_map(|(det, place)| {
        ruling_for(&d.obligations.outputs, det, *place)
            .filter(|r| r.action >= OutputAction::Hold)
            .map(|r| (det, place, r.action))
    })?;
    Some(Withheld {
        violations: vec![violation(&format!(
            "policy rules {} on what the {} detector found in the {}; the output is withheld",
            stops.2.as_str(),
            stops.0,
            stops.1.as_str()
        ))],
        held: stops.2 == OutputAction::Hold,
    })
}
