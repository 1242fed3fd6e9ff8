//! Which Graph application permissions each operation needs (FACTS §0), as
//! one table: `/readyz` compares it with what the app's token was granted,
//! the mutations check it before their first write, a 403 on a read names
//! the permission from here, and `scripts/register-app` and the README's
//! table are tested against it.
//!
//! A [`Permission`] is the least-privileged name plus the broader names that
//! also satisfy it (the granular `UserAuthMethod-*` permissions next to
//! `UserAuthenticationMethod.*`, `Directory.Read.All` next to the narrow
//! directory reads): an app registered either way counts as ready.

use serde::Serialize;

/// One need, met by any of its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// What `scripts/register-app` grants and a refusal names.
    pub least: &'static str,
    /// Broader permissions that include it.
    pub broader: &'static [&'static str],
}

impl Permission {
    const fn new(least: &'static str, broader: &'static [&'static str]) -> Permission {
        Permission { least, broader }
    }

    /// Whether `granted` (the token's `roles` claim) meets this need.
    pub fn met_by(&self, granted: &[String]) -> bool {
        std::iter::once(self.least)
            .chain(self.broader.iter().copied())
            .any(|p| granted.iter().any(|g| g.eq_ignore_ascii_case(p)))
    }
}

pub const USER_READ: Permission = Permission::new(
    "User.Read.All",
    &[
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ],
);
pub const TAP_WRITE: Permission = Permission::new(
    "UserAuthMethod-TAP.ReadWrite.All",
    &["UserAuthenticationMethod.ReadWrite.All"],
);
pub const PHONE_WRITE: Permission = Permission::new(
    "UserAuthMethod-Phone.ReadWrite.All",
    &["UserAuthenticationMethod.ReadWrite.All"],
);
/// The mixed method list and deletes of every type: no granular variant
/// covers them all (FACTS §0).
pub const METHODS_WRITE: Permission =
    Permission::new("UserAuthenticationMethod.ReadWrite.All", &[]);
pub const METHODS_READ: Permission = Permission::new(
    "UserAuthenticationMethod.Read.All",
    &["UserAuthenticationMethod.ReadWrite.All"],
);
pub const REVOKE_SESSIONS: Permission = Permission::new(
    "User.RevokeSessions.All",
    &["User.ReadWrite.All", "Directory.ReadWrite.All"],
);
pub const POLICY_READ: Permission = Permission::new(
    "Policy.Read.AuthenticationMethod",
    &["Policy.ReadWrite.AuthenticationMethod", "Policy.Read.All"],
);
/// Sign-in logs and the registration report.
pub const AUDIT_LOG_READ: Permission = Permission::new("AuditLog.Read.All", &[]);
pub const ROLES_READ: Permission = Permission::new(
    "RoleManagement.Read.Directory",
    &["RoleManagement.ReadWrite.Directory", "Directory.Read.All"],
);
pub const ROLE_ELIGIBILITY_READ: Permission = Permission::new(
    "RoleEligibilitySchedule.Read.Directory",
    &[
        "RoleEligibilitySchedule.ReadWrite.Directory",
        "RoleManagement.Read.Directory",
        "RoleManagement.ReadWrite.Directory",
    ],
);
/// Role-assignable groups and their owners.
pub const GROUPS_READ: Permission = Permission::new(
    "GroupMember.Read.All",
    &["Group.Read.All", "Directory.Read.All"],
);
pub const GROUP_ELIGIBILITY_READ: Permission = Permission::new(
    "PrivilegedEligibilitySchedule.Read.AzureADGroup",
    &["PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup"],
);
pub const GROUP_ASSIGNMENT_READ: Permission = Permission::new(
    "PrivilegedAssignmentSchedule.Read.AzureADGroup",
    &["PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup"],
);
pub const MAIL_SEND: Permission = Permission::new("Mail.Send", &[]);

/// What the protected-user guard reads, PIM or not.
const GUARD: [Permission; 2] = [ROLES_READ, GROUPS_READ];
/// What the guard reads only in a tenant with Entra ID P2 (PIM).
pub const PIM: [Permission; 3] = [
    ROLE_ELIGIBILITY_READ,
    GROUP_ELIGIBILITY_READ,
    GROUP_ASSIGNMENT_READ,
];

/// The operations `/readyz` reports on, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Tap,
    Reset,
    Phone,
    Failures,
    Diagnose,
    /// The out-of-band notice after a change (only when `notify` is set).
    Notify,
}

impl Need {
    pub const ALL: [Need; 6] = [
        Need::Tap,
        Need::Reset,
        Need::Phone,
        Need::Failures,
        Need::Diagnose,
        Need::Notify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Need::Tap => "tap",
            Need::Reset => "reset",
            Need::Phone => "phone",
            Need::Failures => "failures",
            Need::Diagnose => "diagnose",
            Need::Notify => "notify",
        }
    }

    /// Every permission the operation uses, PIM reads included.
    pub fn permissions(self) -> Vec<Permission> {
        let own: &[Permission] = match self {
            Need::Tap => &[USER_READ, TAP_WRITE, POLICY_READ],
            Need::Reset => &[USER_READ, METHODS_WRITE, REVOKE_SESSIONS],
            Need::Phone => &[USER_READ, PHONE_WRITE],
            Need::Failures => return vec![AUDIT_LOG_READ],
            Need::Diagnose => &[USER_READ, METHODS_READ, POLICY_READ, AUDIT_LOG_READ],
            Need::Notify => return vec![USER_READ, MAIL_SEND],
        };
        let mut out = own.to_vec();
        out.extend(GUARD);
        out.extend(PIM);
        out
    }

    /// What is missing from `granted`, by least-privileged name; the PIM
    /// reads are not needed in a tenant known to lack P2 (they are skipped).
    pub fn missing(self, granted: &[String], p2: Option<bool>) -> Vec<&'static str> {
        self.permissions()
            .into_iter()
            .filter(|p| !(p2 == Some(false) && PIM.contains(p)))
            .filter(|p| !p.met_by(granted))
            .map(|p| p.least)
            .collect()
    }
}

impl From<crate::api::endpoints::MutatingOperation> for Need {
    fn from(op: crate::api::endpoints::MutatingOperation) -> Need {
        use crate::api::endpoints::MutatingOperation as M;
        match op {
            M::Tap => Need::Tap,
            M::Reset => Need::Reset,
            M::Phone => Need::Phone,
        }
    }
}

/// One operation's line in `/readyz`: `"ok"` or `{"missing": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Readiness {
    Ok(&'static str),
    Missing { missing: Vec<&'static str> },
}

pub fn readiness(need: Need, granted: &[String], p2: Option<bool>) -> Readiness {
    let missing = need.missing(granted, p2);
    if missing.is_empty() {
        Readiness::Ok("ok")
    } else {
        Readiness::Missing { missing }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn granular_and_broader_permissions_both_count() {
        let granular = names(&[
            "User.Read.All",
            "UserAuthMethod-TAP.ReadWrite.All",
            "Policy.Read.AuthenticationMethod",
            "RoleManagement.Read.Directory",
            "RoleEligibilitySchedule.Read.Directory",
            "GroupMember.Read.All",
            "PrivilegedEligibilitySchedule.Read.AzureADGroup",
            "PrivilegedAssignmentSchedule.Read.AzureADGroup",
        ]);
        assert_eq!(readiness(Need::Tap, &granular, None), Readiness::Ok("ok"));
        let broad = names(&[
            "Directory.Read.All",
            "UserAuthenticationMethod.ReadWrite.All",
            "Policy.Read.All",
            "RoleManagement.Read.Directory",
            "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",
            "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
        ]);
        assert_eq!(readiness(Need::Tap, &broad, None), Readiness::Ok("ok"));
        assert_eq!(
            Need::Phone.missing(&broad, None),
            Vec::<&str>::new(),
            "the broad methods permission covers phones"
        );
        assert_eq!(
            Need::Reset.missing(&granular, None),
            [
                "UserAuthenticationMethod.ReadWrite.All",
                "User.RevokeSessions.All"
            ]
        );
    }

    #[test]
    fn pim_reads_are_not_needed_where_the_tenant_has_no_p2() {
        let g = names(&[
            "User.Read.All",
            "UserAuthMethod-Phone.ReadWrite.All",
            "RoleManagement.Read.Directory",
            "GroupMember.Read.All",
        ]);
        assert_eq!(
            Need::Phone.missing(&g, None),
            [
                "PrivilegedEligibilitySchedule.Read.AzureADGroup",
                "PrivilegedAssignmentSchedule.Read.AzureADGroup"
            ],
            "RoleManagement.Read.Directory covers role eligibility"
        );
        assert!(Need::Phone.missing(&g, Some(false)).is_empty());
        assert_eq!(
            serde_json::to_value(readiness(Need::Failures, &g, None)).unwrap(),
            serde_json::json!({ "missing": ["AuditLog.Read.All"] })
        );
    }
}
