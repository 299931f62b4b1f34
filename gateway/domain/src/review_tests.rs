use super::*;
use crate::{decision::DecisionResult, Language};

fn person(subject: &str, groups: &[&str], tenant: Option<&str>) -> Principal {
    Principal {
        issuer: "https://idp".into(),
        subject: subject.into(),
        email: None,
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        tenant: tenant.map(str::to_owned),
        via: None,
    }
}

fn case(requester: Principal, rules: ReviewRules) -> ReviewCase {
    let t = OffsetDateTime::UNIX_EPOCH;
    ReviewCase {
        id: CaseId::from_uuid(uuid::Uuid::from_u128(1)),
        execution_id: ExecutionId::from_uuid(uuid::Uuid::from_u128(2)),
        session_id: SessionId::from_uuid(uuid::Uuid::from_u128(3)),
        status: CaseStatus::Pending,
        kind: Default::default(),
        held_output: None,
        requester,
        work: PinnedWork {
            request: ExecutionRequest {
                language: Language::Python,
                code: "print(1)".into(),
                timeout_seconds: None,
                packages: vec![],
                egress: vec![],
                connector: None,
            },
            code_sha256: String::new(),
            facts: CodeFacts::default(),
            labels: vec![],
            decision: Decision {
                decision_id: "d".into(),
                result: DecisionResult::Review,
                violations: vec![],
                policy_revision: "r".into(),
                obligations: Default::default(),
                eval_micros: 0,
            },
            timeout_seconds: 30,
        },
        rules,
        approvals: vec![],
        comments: vec![],
        decided_by: None,
        reason: None,
        created_at: t,
        expires_at: t + time::Duration::hours(1),
        updated_at: t,
        version: 1,
    }
}

#[test]
fn a_requester_never_decides_their_own_case_even_as_a_reviewer() {
    let alice = person("alice", &["analysts", "reviewers"], Some("acme"));
    let c = case(alice.clone(), ReviewRules::default());
    assert_eq!(c.may_decide(&alice), Err(Refusal::OwnCase));
    // The same subject from another issuer is another person.
    let other_issuer = Principal {
        issuer: "https://other".into(),
        ..alice
    };
    assert_eq!(c.may_decide(&other_issuer), Ok(()));
}

#[test]
fn reviewers_outside_the_tenant_do_not_see_the_case_unless_the_rules_allow_it() {
    let c = case(
        person("alice", &["analysts"], Some("acme")),
        ReviewRules::default(),
    );
    let globex = person("gina", &["reviewers"], Some("globex"));
    assert_eq!(c.may_decide(&globex), Err(Refusal::Invisible));
    assert!(!c.visible_to_reviewer(&globex));
    let analyst = person("bob", &["analysts"], Some("acme"));
    assert_eq!(c.may_decide(&analyst), Err(Refusal::NotAReviewer));
    let open = case(
        person("alice", &["analysts"], Some("acme")),
        ReviewRules {
            same_tenant: false,
            ..ReviewRules::default()
        },
    );
    assert_eq!(open.may_decide(&globex), Ok(()));
}

#[test]
fn policy_cannot_ask_for_zero_approvals_and_one_person_counts_once() {
    let mut c = case(
        person("alice", &["analysts"], Some("acme")),
        ReviewRules {
            approvals_required: 0,
            ..ReviewRules::default()
        },
    );
    assert_eq!(c.approvals_missing(), 1);
    c.rules.approvals_required = 2;
    let rita = person("rita", &["reviewers"], Some("acme"));
    c.approvals
        .push(StoredNote::by(&rita, OffsetDateTime::UNIX_EPOCH, ""));
    assert!(c.approved_by(&rita));
    assert_eq!(c.approvals_missing(), 1);
}

#[test]
fn only_a_pending_case_can_be_decided_or_expire() {
    let mut c = case(person("alice", &[], Some("acme")), ReviewRules::default());
    let rita = person("rita", &["reviewers"], Some("acme"));
    assert!(c.is_expired_at(c.expires_at));
    assert!(!c.is_expired_at(c.created_at));
    c.status = CaseStatus::Rejected;
    assert_eq!(c.may_decide(&rita), Err(Refusal::Closed));
    assert!(!c.is_expired_at(c.expires_at));
    for s in CaseStatus::ALL {
        assert_eq!(CaseStatus::parse(s.as_str()), Some(s));
    }
}
