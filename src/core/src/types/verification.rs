//! `verification` (API.md "Notifications and verification evidence"): how
//! the helpdesk confirmed the caller is the user, kept in the audit record.

use serde::{Deserialize, Serialize};

use super::text::bounded;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum VerificationMethod {
    Callback,
    ManagerApproval,
    InPerson,
    Video,
    VerifiedId,
    IdvProvider,
    Other,
}

/// How the helpdesk confirmed the caller is the user.
// Deserialized from a JSON object only (see `Fields`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Verification {
    pub method: VerificationMethod,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "reference"
    )]
    #[cfg_attr(feature = "openapi", schemars(length(min = 1, max = 200)))]
    pub reference: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "verified_by"
    )]
    #[cfg_attr(feature = "openapi", schemars(length(min = 1, max = 128)))]
    pub verified_by: Option<String>,
}

/// What [`Verification`] reads: serde's derive would also take its fields
/// as an array in order (`["callback"]`), so `Verification` reads these
/// from an object only ([`super::object::object`]).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Fields {
    method: VerificationMethod,
    #[serde(default, deserialize_with = "reference")]
    reference: Option<String>,
    #[serde(default, deserialize_with = "verified_by")]
    verified_by: Option<String>,
}

impl<'de> Deserialize<'de> for Verification {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f: Fields = super::object::object(d)?;
        Ok(Verification {
            method: f.method,
            reference: f.reference,
            verified_by: f.verified_by,
        })
    }
}

fn reference<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    bounded(&s, "reference", 200)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn verified_by<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    bounded(&s, "verifiedBy", 128)
        .map(Some)
        .map_err(serde::de::Error::custom)
}
