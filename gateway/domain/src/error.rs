//! The one table of error codes. Every error the API returns has one of these codes; the HTTP
//! layer maps them to responses in exactly one place.

use crate::ports::SandboxError;
use serde::Serialize;

macro_rules! error_codes {
    ($( $variant:ident => ($code:literal, $status:literal, $doc:literal) ),* $(,)?) => {
        /// Stable, snake_case error codes that clients and models branch on.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $( #[doc = $doc] $variant ),* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];
            pub fn as_str(self) -> &'static str { match self { $(Self::$variant => $code),* } }
            pub fn http_status(self) -> u16 { match self { $(Self::$variant => $status),* } }
            pub fn meaning(self) -> &'static str { match self { $(Self::$variant => $doc),* } }
        }
    };
}

error_codes! {
    MissingToken => ("missing_token", 401, "No Bearer token in the Authorization header."),
    MalformedToken => ("malformed_token", 401, "The token is not a well-formed JWT."),
    TokenExpired => ("token_expired", 401, "The token's exp is in the past."),
    TokenNotYetValid => ("token_not_yet_valid", 401, "The token's nbf is in the future."),
    InvalidAudience => ("invalid_audience", 401, "The token's aud does not name this gateway."),
    InvalidIssuer => ("invalid_issuer", 401, "The token's iss is not a configured issuer."),
    UnsupportedAlgorithm => ("unsupported_algorithm", 401, "The token's alg is not allowed (none, HMAC and unlisted algorithms are refused)."),
    InvalidSignature => ("invalid_signature", 401, "The token's signature does not verify."),
    UnknownKey => ("unknown_key", 401, "No key of the issuer's JWKS matches the token's kid."),
    InvalidClaims => ("invalid_claims", 401, "A required claim is missing or has the wrong type."),
    InvalidAccessKey => ("invalid_access_key", 401, "The personal access key is unknown, revoked or expired (the message says which)."),
    AccessKeyNotAllowed => ("access_key_not_allowed", 403, "A personal access key cannot mint, list or revoke keys: sign in with an OIDC token."),
    AccessKeyNotFound => ("access_key_not_found", 404, "No such personal access key of the caller."),
    TooManyAccessKeys => ("too_many_access_keys", 409, "The caller holds the most unrevoked, unexpired keys allowed (access_keys.max_per_principal); revoke one first."),
    SignInFailed => ("sign_in_failed", 401, "The console sign-in did not complete (state unknown or expired, or the issuer refused the code); sign in again."),
    CsrfRejected => ("csrf_rejected", 403, "A console form was sent without the signed-in session's CSRF token (or from another origin); nothing changed."),
    IssuerUnavailable => ("issuer_unavailable", 503, "The issuer's discovery document or JWKS could not be fetched."),
    PolicyDenied => ("policy_denied", 403, "Policy denied the request; see details.violations."),
    OutputBlocked => ("output_blocked", 403, "Output inspection found data that policy does not let leave (or holds for review); the output is withheld. See details.violations."),
    NotAnAuditor => ("not_an_auditor", 403, "Only principals in a configured auditor group may read the audit trail."),
    NotAReviewer => ("not_a_reviewer", 403, "Only principals in one of the case's approver groups may approve or reject it."),
    SelfApproval => ("self_approval", 403, "The requester of held work never approves or rejects their own case (four eyes)."),
    NotTheRequester => ("not_the_requester", 403, "Only the requester of held work withdraws its case."),
    CaseNotFound => ("case_not_found", 404, "No such review case for this caller (cases of another tenant do not exist for its reviewers)."),
    CaseClosed => ("case_closed", 409, "The review case is no longer pending (approved, rejected, withdrawn, expired or superseded)."),
    SessionNotFound => ("session_not_found", 404, "No such session for this caller."),
    ExecutionNotFound => ("execution_not_found", 404, "No such execution for this caller."),
    FileNotFound => ("file_not_found", 404, "No such file in the session workspace."),
    KernelspecNotFound => ("kernelspec_not_found", 404, "No such kernelspec for this caller (the Jupyter API lists the languages policy lets the caller run)."),
    RouteNotFound => ("route_not_found", 404, "No such API route."),
    MethodNotAllowed => ("method_not_allowed", 405, "The route does not accept this method."),
    Conflict => ("conflict", 409, "The record changed while the request was applied; read it again and retry."),
    SessionNotActive => ("session_not_active", 409, "The session is deleted, expired or lost."),
    SessionBusy => ("session_busy", 409, "Another execution is running in this session."),
    ExecutionElsewhere => ("execution_elsewhere", 409, "The execution runs on another gateway replica; send the request there (session affinity)."),
    InvalidJson => ("invalid_json", 400, "The body is not valid JSON or does not match the schema."),
    InvalidRequest => ("invalid_request", 400, "A field has an invalid value; see details."),
    UnsupportedLanguage => ("unsupported_language", 400, "The language is not one of python, sql, bash, javascript."),
    InvalidPath => ("invalid_path", 400, "The file path is absolute, escapes the workspace, or holds control characters."),
    InvalidMultipart => ("invalid_multipart", 400, "The upload is not multipart/form-data with a 'file' field."),
    UnsupportedMediaType => ("unsupported_media_type", 415, "The Content-Type is not the one this route accepts."),
    CodeTooLarge => ("code_too_large", 413, "The code exceeds the code size limit."),
    CodeTooComplex => ("code_too_complex", 422, "The code nests deeper than analysis supports (the interpreter would refuse it too); nothing ran."),
    PayloadTooLarge => ("payload_too_large", 413, "The body or upload exceeds its size limit."),
    WorkspaceQuotaExceeded => ("workspace_quota_exceeded", 413, "The session workspace would exceed its quota."),
    TooManySessions => ("too_many_sessions", 429, "The gateway, the caller's tenant or the caller has reached its session limit (details.scope, details.limit); end a session first."),
    TooManyExecutions => ("too_many_executions", 429, "The gateway, the caller's tenant or the caller has reached its limit of running executions (details.scope, details.limit); retry after the Retry-After header's seconds. Nothing ran."),
    RateLimited => ("rate_limited", 429, "Too many requests from this principal or its tenant; retry after the Retry-After header's seconds (details.retry_after_seconds)."),
    SandboxUnavailable => ("sandbox_unavailable", 503, "The sandbox could not be started or does not answer."),
    PolicyUnavailable => ("policy_unavailable", 503, "No valid policy is loaded; everything is denied."),
    SecretsUnavailable => ("secrets_unavailable", 503, "The secrets service (Vault) could not issue a credential; nothing ran."),
    ConnectorUnavailable => ("connector_unavailable", 503, "The connector's database could not be reached; nothing ran."),
    AuditUnavailable => ("audit_unavailable", 503, "The audit trail cannot be written; nothing runs unaudited."),
    ShuttingDown => ("shutting_down", 503, "The gateway is shutting down."),
    Internal => ("internal", 500, "An internal error; the audit trail and logs have details."),
}

macro_rules! execution_codes {
    ($( $variant:ident => ($code:literal, $doc:literal) ),* $(,)?) => {
        /// Why an execution ended in an error that its code did not raise: the sandbox or the
        /// gateway ended it (`error.code` of an execution). Serialised as its snake_case code;
        /// a gateway error that stopped it before it ran carries that error's code, a policy
        /// decision that withheld its result the violation's code.
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum ExecutionErrorCode {
            $( #[doc = $doc] $variant, )*
            /// The request failed before the code ran (`secrets_unavailable`, ...).
            Gateway(ErrorCode),
            /// Policy withheld the result after the run (the violation's code, such as
            /// `package_not_allowed`).
            Withheld(String),
        }

        impl ExecutionErrorCode {
            pub const SANDBOX: &'static [ExecutionErrorCode] = &[$(ExecutionErrorCode::$variant),*];

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $code,)*
                    Self::Gateway(c) => c.as_str(),
                    Self::Withheld(v) => v,
                }
            }

            pub fn meaning(&self) -> &'static str {
                match self {
                    $(Self::$variant => $doc,)*
                    Self::Gateway(c) => c.meaning(),
                    Self::Withheld(_) => "Policy withheld the result after the run; see the violation.",
                }
            }

            pub fn parse(s: &str) -> Self {
                match s {
                    $($code => Self::$variant,)*
                    other => ErrorCode::ALL
                        .iter()
                        .find(|c| c.as_str() == other)
                        .map_or_else(|| Self::Withheld(other.to_owned()), |c| Self::Gateway(*c)),
                }
            }
        }
    };
}

execution_codes! {
    TimedOut => ("timed_out", "The execution exceeded its time limit and was interrupted (the kernel restarted if the interrupt did not stop it)."),
    OutOfMemory => ("out_of_memory", "The sandbox ran out of memory; the kernel was restarted and its variables are gone."),
    KernelDied => ("kernel_died", "The kernel process died; it was restarted and its variables are gone."),
    SandboxLost => ("sandbox_lost", "The sandbox failed under the execution; the session is lost if the sandbox is gone."),
    Cancelled => ("cancelled", "Cancelled by POST /v1/executions/{id}/cancel (or by a gateway shutdown)."),
    GatewayRestarted => ("gateway_restarted", "The gateway restarted while the execution was queued or running; its output is lost."),
    WorkspaceQuotaExceeded => ("workspace_quota_exceeded", "The execution wrote past the workspace quota; the files it wrote were removed."),
    SqlError => ("sql_error", "The database refused or failed the statement; see the error's value."),
    ReviewRejected => ("review_rejected", "A reviewer rejected the held execution; see its case for the reason. Nothing ran."),
    ReviewWithdrawn => ("review_withdrawn", "The requester withdrew the case of held work: a held execution never ran, a held output is never released."),
    ReviewExpired => ("review_expired", "Nobody decided the case of held work before it expired: a held execution never ran, a held output is never released."),
    OutputHeld => ("output_held", "Output inspection held the output for a reviewer: the execution is pending_review until its case (case_id) is decided; approved, the output is released into the execution; rejected, the execution fails with output_blocked."),
    ReviewSuperseded => ("review_superseded", "The held execution was approved, but could no longer run as approved (policy in force denies it, the session ended or the code changed). Nothing ran."),
}

impl serde::Serialize for ExecutionErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ExecutionErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::parse(&s))
    }
}

/// The execution error table of docs/api.md (the sandbox's and the gateway's own ends).
pub fn execution_markdown_rows() -> String {
    ExecutionErrorCode::SANDBOX
        .iter()
        .map(|c| format!("| `{}` | {} |\n", c.as_str(), c.meaning()))
        .collect()
}

/// An error on its way to a caller: a stable code, a human message, structured details.
#[derive(Clone, Debug, PartialEq, Serialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct GatewayError {
    #[serde(serialize_with = "ser_code")]
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

fn ser_code<S: serde::Serializer>(c: &ErrorCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.as_str())
}

impl GatewayError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: serde_json::Value::Null,
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

/// The error table of docs/api.md, one row per code.
pub fn markdown_rows() -> String {
    ErrorCode::ALL
        .iter()
        .map(|c| {
            format!(
                "| `{}` | {} | {} |\n",
                c.as_str(),
                c.http_status(),
                c.meaning()
            )
        })
        .collect()
}

/// The sandbox agent's failures, placed in the one error table.
impl SandboxError {
    /// Where this failure sits in the one error table, for a request about files.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::FileNotFound => ErrorCode::FileNotFound,
            Self::Quota(_) => ErrorCode::WorkspaceQuotaExceeded,
            Self::Busy => ErrorCode::SessionBusy,
            Self::TooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::Start(_) | Self::Gone(_) | Self::Agent(_) | Self::Io(_) => {
                ErrorCode::SandboxUnavailable
            }
        }
    }

    /// Where this failure sits in the one error table, when it ended an execution.
    pub fn execution_code(&self) -> ExecutionErrorCode {
        match self {
            Self::Quota(_) => ExecutionErrorCode::WorkspaceQuotaExceeded,
            Self::Busy => ExecutionErrorCode::Gateway(ErrorCode::SessionBusy),
            Self::TooLarge(_) => ExecutionErrorCode::Gateway(ErrorCode::PayloadTooLarge),
            Self::FileNotFound | Self::Start(_) | Self::Gone(_) | Self::Agent(_) | Self::Io(_) => {
                ExecutionErrorCode::SandboxLost
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "duplicate {s}");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
            assert!((400..600).contains(&c.http_status()));
        }
    }

    #[test]
    fn execution_codes_round_trip_and_never_collide() {
        for c in ExecutionErrorCode::SANDBOX {
            assert_eq!(&ExecutionErrorCode::parse(c.as_str()), c);
            assert!(
                !ErrorCode::ALL.iter().any(|e| e.as_str() == c.as_str())
                    || c.as_str() == "workspace_quota_exceeded",
                "{} is also a gateway error code",
                c.as_str()
            );
        }
        assert_eq!(
            ExecutionErrorCode::parse("secrets_unavailable"),
            ExecutionErrorCode::Gateway(ErrorCode::SecretsUnavailable)
        );
        assert_eq!(
            ExecutionErrorCode::parse("package_not_allowed"),
            ExecutionErrorCode::Withheld("package_not_allowed".into())
        );
        let json = serde_json::to_string(&ExecutionErrorCode::GatewayRestarted).unwrap_or_default();
        assert_eq!(json, "\"gateway_restarted\"");
    }
}
