//! The contract's stable error `code`s (API.md), each with its HTTP status and
//! title, defined here and nowhere else.

use http::StatusCode;

macro_rules! error_codes {
    ($( $variant:ident => ($code:literal, $status:ident, $title:literal), )*) => {
        /// A problem+json `code`. Adding one is a contract change.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $( $variant, )* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// The snake_case `code` member.
            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code, )* }
            }

            pub fn status(self) -> StatusCode {
                match self { $( ErrorCode::$variant => StatusCode::$status, )* }
            }

            /// The problem's `title`: fixed per code, as RFC 9457 asks.
            pub fn title(self) -> &'static str {
                match self { $( ErrorCode::$variant => $title, )* }
            }
        }
    };
}

error_codes! {
    // Request edge.
    InvalidRequest => ("invalid_request", BAD_REQUEST, "The request is malformed"),
    UnknownField => ("unknown_field", BAD_REQUEST, "The request has a field this API does not know"),
    InvalidUser => ("invalid_user", BAD_REQUEST, "The user is neither a userPrincipalName nor an object id"),
    NotFound => ("not_found", NOT_FOUND, "No such endpoint"),
    AuditRecordNotFound => ("audit_record_not_found", NOT_FOUND, "No audit record with that id"),
    MethodNotAllowed => ("method_not_allowed", METHOD_NOT_ALLOWED, "Method not allowed on this endpoint"),
    PayloadTooLarge => ("payload_too_large", PAYLOAD_TOO_LARGE, "The request body is over 64 KiB"),
    UnsupportedMediaType => ("unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "The request body must be application/json"),
    // Callers.
    Unauthorized => ("unauthorized", UNAUTHORIZED, "Missing or invalid credentials"),
    ReplayedWebhook => ("replayed_webhook", UNAUTHORIZED, "This webhook delivery was already received"),
    InsufficientScope => ("insufficient_scope", FORBIDDEN, "The caller lacks the scope this operation needs"),
    RateLimited => ("rate_limited", TOO_MANY_REQUESTS, "Rate limit exceeded"),
    // Mutations.
    VerificationRequired => ("verification_required", BAD_REQUEST, "Verification evidence is required for this change"),
    IdempotencyKeyReused => ("idempotency_key_reused", UNPROCESSABLE_ENTITY, "This Idempotency-Key was used with a different body"),
    RequestInProgress => ("request_in_progress", CONFLICT, "A request with this Idempotency-Key is still in progress"),
    // Targets.
    UserNotFound => ("user_not_found", NOT_FOUND, "No such user in the tenant"),
    UserDisabled => ("user_disabled", CONFLICT, "The user's account is disabled"),
    ProtectedUser => ("protected_user", FORBIDDEN, "The user is protected and the caller is not privileged"),
    // TAP.
    TapPolicyDisabled => ("tap_policy_disabled", CONFLICT, "The tenant's Temporary Access Pass policy is disabled"),
    UserNotInTapPolicyScope => ("user_not_in_tap_policy_scope", CONFLICT, "The user is outside the Temporary Access Pass policy"),
    LifetimeOutOfRange => ("lifetime_out_of_range", BAD_REQUEST, "The pass lifetime is outside the allowed bounds"),
    UsableOnceRequired => ("usable_once_required", BAD_REQUEST, "The tenant policy allows only one-time passes"),
    TapExists => ("tap_exists", CONFLICT, "The user already has a Temporary Access Pass"),
    // Reset.
    PartialReset => ("partial_reset", BAD_GATEWAY, "Some methods could not be removed"),
    // Phone.
    InvalidPhoneNumber => ("invalid_phone_number", BAD_REQUEST, "The phone number is not valid"),
    PhoneTypeExists => ("phone_type_exists", CONFLICT, "The user already has a different number of this type"),
    MobilePhoneRequired => ("mobile_phone_required", CONFLICT, "An alternate mobile needs a mobile phone first"),
    // Reports.
    PremiumLicenseRequired => ("premium_license_required", CONFLICT, "Sign-in logs need a Microsoft Entra ID P1 or P2 tenant"),
    // Upstream and deployment.
    GraphThrottled => ("graph_throttled", SERVICE_UNAVAILABLE, "Microsoft Graph is throttling this app"),
    GraphError => ("graph_error", BAD_GATEWAY, "Microsoft Graph refused or failed the request"),
    GraphUnavailable => ("graph_unavailable", BAD_GATEWAY, "Microsoft Graph could not be reached"),
    GraphAuthFailed => ("graph_auth_failed", BAD_GATEWAY, "The tenant refused this app's credentials"),
    PermissionMissing => ("permission_missing", INTERNAL_SERVER_ERROR, "The app registration lacks a Graph permission this operation needs"),
    ProtectionUnverified => ("protection_unverified", BAD_GATEWAY, "Whether the user is protected could not be established"),
    Misconfigured => ("misconfigured", INTERNAL_SERVER_ERROR, "The deployment is misconfigured"),
    StorageUnavailable => ("storage_unavailable", SERVICE_UNAVAILABLE, "The service's state store is unavailable"),
    AuditUnavailable => ("audit_unavailable", SERVICE_UNAVAILABLE, "The audit trail cannot be written"),
    SigningKeysUnavailable => ("signing_keys_unavailable", SERVICE_UNAVAILABLE, "The tenant's token signing keys cannot be read"),
    Internal => ("internal_error", INTERNAL_SERVER_ERROR, "Internal error"),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_and_errors() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate {s}");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
            let status = code.status().as_u16();
            assert!((400..600).contains(&status), "{s} -> {status}");
        }
    }

    #[test]
    fn bad_input_codes_are_never_5xx() {
        for code in [
            ErrorCode::InvalidRequest,
            ErrorCode::UnknownField,
            ErrorCode::InvalidUser,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::InvalidPhoneNumber,
            ErrorCode::LifetimeOutOfRange,
        ] {
            assert!(code.status().is_client_error(), "{code:?}");
        }
    }
}
