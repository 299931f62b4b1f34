use crate::bundle::{Bundle, LoadError};
use airlock_gateway_domain::Cause;
use airlock_gateway_domain::{
    decision::{Decision, DecisionResult, Obligations, Violation},
    policy_input::PolicyInput,
    ports::{PolicyEngine, PolicyError},
};
use std::{sync::Mutex, time::Instant};

const ENTRY_POINT: &str = "data.airlock.decision.decision";

/// A loaded bundle ready to evaluate. Engines are pooled: each evaluation takes a prepared
/// engine, sets the input, evaluates and puts it back (cloning a prepared engine is the fallback).
pub struct RegoPolicy {
    revision: String,
    prototype: regorus::Engine,
    pool: Mutex<Vec<regorus::Engine>>,
    /// Whether the bundle defines `data.system.log.mask`.
    has_mask: bool,
}

/// Default wall-time limit of one evaluation.
pub const DEFAULT_TIME_LIMIT: std::time::Duration = std::time::Duration::from_millis(100);

impl RegoPolicy {
    pub fn new(bundle: &Bundle) -> Result<Self, LoadError> {
        Self::with_time_limit(bundle, DEFAULT_TIME_LIMIT)
    }

    /// Each evaluation stops after `limit`; a stopped evaluation is a denial with the
    /// violation code `policy_evaluation_timeout`.
    pub fn with_time_limit(bundle: &Bundle, limit: std::time::Duration) -> Result<Self, LoadError> {
        let mut engine = bundle.engine(false)?;
        engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
            limit,
            check_interval: std::num::NonZeroU32::new(32).unwrap_or(std::num::NonZeroU32::MIN),
        });
        let policy = Self {
            revision: bundle.revision.clone(),
            prototype: engine,
            pool: Mutex::new(vec![]),
            has_mask: false,
        };
        // Fail at load, not on the first request, if the entry point is missing or broken.
        let probe: PolicyInput = serde_json::from_value(serde_json::json!({
            "action": "session.create",
            "principal": {"issuer": "probe", "subject": "probe", "groups": []},
            "request": {}
        }))
        .map_err(|e| LoadError::Rego {
            path: ENTRY_POINT.into(),
            message: e.to_string(),
        })?;
        let packages = policy.prototype.get_packages().unwrap_or_default();
        let mut policy = policy;
        policy.has_mask = packages.iter().any(|p| p == "data.system.log");
        let has_entry = policy
            .prototype
            .get_packages()
            .map(|p| p.iter().any(|p| p == "data.airlock.decision"))
            .unwrap_or(false);
        if !has_entry {
            return Err(LoadError::NoEntryPoint);
        }
        policy.decide(&probe).map_err(|e| match e {
            PolicyError::MalformedDecision(_) => LoadError::NoEntryPoint,
            other => LoadError::Rego {
                path: ENTRY_POINT.into(),
                message: other.to_string(),
            },
        })?;
        Ok(policy)
    }

    /// Applies the bundle's `data.system.log.mask` to a decision event. If the mask rule fails,
    /// the whole input is erased rather than logged unmasked.
    pub fn mask(&self, event: &mut serde_json::Value) {
        if !self.has_mask {
            return;
        }
        let mut engine = self.take();
        let ops = engine
            .set_input_json(&event.to_string())
            .and_then(|()| engine.eval_rule(crate::mask::MASK_RULE.into()))
            .and_then(|v| v.to_json_str());
        self.give(engine);
        match ops
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        {
            Some(ops) => crate::mask::apply(event, &ops),
            None => {
                tracing::error!("system.log.mask failed; erasing the decision input from the log");
                crate::mask::apply(event, &serde_json::json!(["/input"]));
                event["mask_error"] = true.into();
            }
        }
    }

    pub fn revision_str(&self) -> &str {
        &self.revision
    }

    fn timed_out(&self, started: Instant) -> Decision {
        Decision {
            // The gateway names each decision (its id generator); the engine only decides.
            decision_id: String::new(),
            result: DecisionResult::Deny,
            violations: vec![Violation {
                code: "policy_evaluation_timeout".into(),
                message: "policy evaluation exceeded its time limit; the request is denied".into(),
                hint: Some("simplify the request (fewer imports or smaller code), or ask an administrator to review the policy".into()),
            }],
            policy_revision: self.revision.clone(),
            obligations: Obligations::default(),
            eval_micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        }
    }

    fn take(&self) -> regorus::Engine {
        self.pool
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_else(|| self.prototype.clone())
    }

    fn give(&self, e: regorus::Engine) {
        if let Ok(mut p) = self.pool.lock() {
            if p.len() < 64 {
                p.push(e);
            }
        }
    }
}

impl PolicyEngine for RegoPolicy {
    fn revision(&self) -> String {
        self.revision.clone()
    }

    fn mask_decision_log(&self, event: &mut serde_json::Value) {
        self.mask(event);
    }

    fn decide(&self, input: &PolicyInput) -> Result<Decision, PolicyError> {
        let started = Instant::now();
        // Straight from the typed input to regorus's value through serde's data model: no JSON
        // text is written and parsed again (that round trip was an eighth of a decision).
        let input = serde_json::to_value(input)
            .and_then(<regorus::Value as serde::Deserialize>::deserialize)
            .map_err(|e| PolicyError::Evaluation(Cause::boxed(e.into())))?;
        let mut engine = self.take();
        engine.set_input(input);
        // regorus 0.14.1 panics on some policies (a hoisted loop of one module looked up in
        // another, reached through `with` on a function: policy/tests/engine_panics.rs). A
        // panic is a failed evaluation, which the gateway turns into a denial; the engine is
        // not reused.
        let value = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine.eval_rule(ENTRY_POINT.into())
        }))
        .map_err(|_| {
            PolicyError::Evaluation(Cause::msg("the policy engine panicked on this input"))
        })?;
        self.give(engine);
        let value = match value {
            Ok(v) => v,
            Err(e)
                if matches!(
                    e.downcast_ref::<regorus::LimitError>(),
                    Some(regorus::LimitError::TimeLimitExceeded { .. })
                ) =>
            {
                return Ok(self.timed_out(started));
            }
            Err(e) if e.to_string().contains("exceeded time limit") => {
                return Ok(self.timed_out(started))
            }
            Err(e) => return Err(PolicyError::Evaluation(Cause::boxed(e.into()))),
        };
        if value == regorus::Value::Undefined {
            return Err(PolicyError::MalformedDecision(format!(
                "{ENTRY_POINT} is undefined"
            )));
        }
        let json = value
            .to_json_str()
            .map_err(|e| PolicyError::Evaluation(Cause::boxed(e.into())))?;
        let raw: RawDecision = serde_json::from_str(&json)
            .map_err(|e| PolicyError::MalformedDecision(format!("{e}: {json}")))?;
        let result = match raw.result.as_str() {
            "allow" if raw.violations.is_empty() => DecisionResult::Allow,
            "review" if raw.violations.is_empty() => DecisionResult::Review,
            _ => DecisionResult::Deny,
        };
        let mut violations = raw.violations;
        if result == DecisionResult::Review {
            violations = raw.review;
        }
        violations.sort_by(|a, b| (&a.code, &a.message).cmp(&(&b.code, &b.message)));
        Ok(Decision {
            // The gateway names each decision (its id generator); the engine only decides.
            decision_id: String::new(),
            result,
            violations,
            policy_revision: self.revision.clone(),
            obligations: raw.obligations,
            eval_micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        })
    }
}

#[derive(serde::Deserialize)]
struct RawDecision {
    result: String,
    #[serde(default)]
    violations: Vec<Violation>,
    #[serde(default)]
    review: Vec<Violation>,
    #[serde(default)]
    obligations: Obligations,
}

#[cfg(test)]
mod tests;
