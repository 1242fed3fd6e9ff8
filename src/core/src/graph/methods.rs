//! A user's authentication methods on Graph (FACTS §4): the mixed list, the
//! beta-only hardware OATH list, the default-method hint, and deletion
//! through each type's own endpoint (v1.0 has no generic delete).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::BatchRequest;
use super::{GraphClient, GraphError, GraphResponse, Version};
use crate::types::{encode_segment, UserRef};

/// The method types `POST /v1/reset` removes, named as `methodTypes` names
/// them (Graph's type name without `AuthenticationMethod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum MethodType {
    Password,
    Phone,
    MicrosoftAuthenticator,
    Fido2,
    SoftwareOath,
    HardwareOath,
    Email,
    TemporaryAccessPass,
    WindowsHelloForBusiness,
    PlatformCredential,
    QrCodePin,
    External,
}

impl MethodType {
    pub const ALL: [MethodType; 12] = [
        MethodType::Password,
        MethodType::Phone,
        MethodType::MicrosoftAuthenticator,
        MethodType::Fido2,
        MethodType::SoftwareOath,
        MethodType::HardwareOath,
        MethodType::Email,
        MethodType::TemporaryAccessPass,
        MethodType::WindowsHelloForBusiness,
        MethodType::PlatformCredential,
        MethodType::QrCodePin,
        MethodType::External,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MethodType::Password => "password",
            MethodType::Phone => "phone",
            MethodType::MicrosoftAuthenticator => "microsoftAuthenticator",
            MethodType::Fido2 => "fido2",
            MethodType::SoftwareOath => "softwareOath",
            MethodType::HardwareOath => "hardwareOath",
            MethodType::Email => "email",
            MethodType::TemporaryAccessPass => "temporaryAccessPass",
            MethodType::WindowsHelloForBusiness => "windowsHelloForBusiness",
            MethodType::PlatformCredential => "platformCredential",
            MethodType::QrCodePin => "qrCodePin",
            MethodType::External => "external",
        }
    }

    /// Graph's entity name (`#microsoft.graph.` + this).
    fn graph_type(self) -> &'static str {
        match self {
            MethodType::External => "externalAuthenticationMethod",
            MethodType::QrCodePin => "qrCodePinAuthenticationMethod",
            _ => "",
        }
    }

    /// From a list item's `@odata.type`.
    pub fn from_odata(odata: &str) -> Option<MethodType> {
        let name = odata.strip_prefix("#microsoft.graph.").unwrap_or(odata);
        MethodType::ALL.into_iter().find(|t| {
            let g = t.graph_type();
            if g.is_empty() {
                name.strip_suffix("AuthenticationMethod") == Some(t.as_str())
            } else {
                name == g
            }
        })
    }

    /// Where one method of this type is deleted (FACTS §4): the type's own
    /// v1.0 collection, or beta for hardware OATH and the single-valued
    /// QR code + PIN. The password has none.
    pub fn delete_path(self, user_id: &str, method_id: &str) -> Option<(Version, String)> {
        let user = format!("/users/{}/authentication", encode_segment(user_id));
        let id = encode_segment(method_id);
        let segment = match self {
            MethodType::Password => return None,
            MethodType::QrCodePin => {
                return Some((Version::Beta, format!("{user}/qrCodePinMethod")))
            }
            MethodType::HardwareOath => {
                return Some((Version::Beta, format!("{user}/hardwareOathMethods/{id}")))
            }
            MethodType::Phone => "phoneMethods",
            MethodType::MicrosoftAuthenticator => "microsoftAuthenticatorMethods",
            MethodType::Fido2 => "fido2Methods",
            MethodType::SoftwareOath => "softwareOathMethods",
            MethodType::Email => "emailMethods",
            MethodType::TemporaryAccessPass => "temporaryAccessPassMethods",
            MethodType::WindowsHelloForBusiness => "windowsHelloForBusinessMethods",
            MethodType::PlatformCredential => "platformCredentialMethods",
            MethodType::External => "externalAuthenticationMethods",
        };
        Some((Version::V1, format!("{user}/{segment}/{id}")))
    }
}

/// One registered method, as the answers name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Method {
    pub id: String,
    /// `methodTypes` name, or Graph's own name for a type this service
    /// does not know (it is then never deleted).
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(skip)]
    pub kind: Option<MethodType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_type: Option<String>,
}

impl Method {
    fn from_item(item: &Value) -> Option<Method> {
        let s = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
        let id = s("id")?;
        let odata = s("@odata.type").unwrap_or_default();
        let kind = MethodType::from_odata(&odata);
        let type_name = match kind {
            Some(k) => k.as_str().to_string(),
            None => odata
                .strip_prefix("#microsoft.graph.")
                .unwrap_or(&odata)
                .to_string(),
        };
        Some(Method {
            id,
            type_name,
            kind,
            display_name: s("displayName").or_else(|| s("model")),
            phone_type: s("phoneType"),
        })
    }

    pub fn is(&self, kind: MethodType) -> bool {
        self.kind == Some(kind)
    }
}

/// `GET /users/{ref}/authentication/methods` (FACTS §4 [s21]).
pub fn list_request(user: &UserRef) -> BatchRequest {
    BatchRequest::get(
        "methods",
        format!("/users{}/authentication/methods", user.graph_segment()),
    )
}

/// `/users/{id}/authentication/{segment}` for a resolved user.
pub fn id_path(user_id: &str, segment: &str) -> String {
    format!(
        "/users/{}/authentication/{segment}",
        encode_segment(user_id)
    )
}

/// The methods of a list answer; an item of another shape is skipped.
pub fn parse_list(res: GraphResponse, kind: Option<MethodType>) -> Result<Vec<Method>, GraphError> {
    let res = res.into_result()?;
    let items = res
        .body
        .get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| GraphError::Malformed("method list without value".into()))?;
    Ok(items
        .iter()
        .filter_map(Method::from_item)
        .map(|mut m| {
            if let Some(k) = kind {
                m.kind = Some(k);
                m.type_name = k.as_str().to_string();
            }
            m
        })
        .collect())
}

/// `/users/{ref}/authentication/{rest}` for a user as the caller named
/// them (a UPN or an id): reads sent before the user is resolved.
pub fn ref_path(user: &UserRef, rest: &str) -> String {
    format!("/users{}/authentication/{rest}", user.graph_segment())
}

/// Beta `GET …/hardwareOathMethods`: the hardware tokens v1.0 does not
/// list (FACTS §4). JSON batching is per version, so it is sent beside the
/// v1.0 `$batch`, not in it.
pub async fn hardware_list(
    graph: &GraphClient<'_>,
    path: &str,
) -> Result<GraphResponse, GraphError> {
    graph.send(Version::Beta, "GET", path, None).await
}

/// Every method: the v1.0 list answer, plus (when given) beta's hardware
/// OATH list. The flag says whether that beta list could be read, so a
/// caller can say so rather than imply there were none.
pub fn combine(
    v1: GraphResponse,
    hardware: Option<Result<GraphResponse, GraphError>>,
) -> Result<(Vec<Method>, bool), GraphError> {
    let mut all = parse_list(v1, None)?;
    let Some(tokens) = hardware else {
        return Ok((all, true));
    };
    let tokens = tokens?;
    let beta_read = tokens.is_success();
    if beta_read {
        for m in parse_list(tokens, Some(MethodType::HardwareOath))? {
            if !all.iter().any(|o| o.id.eq_ignore_ascii_case(&m.id)) {
                all.push(m);
            }
        }
    }
    Ok((all, beta_read))
}

/// Reads every method of a resolved user: the v1.0 list and (with
/// `hardware`) the beta hardware OATH list, side by side.
pub async fn read_all(
    graph: &GraphClient<'_>,
    user_id: &str,
    hardware: bool,
) -> Result<(Vec<Method>, bool), GraphError> {
    let tokens_path = id_path(user_id, "hardwareOathMethods");
    let tokens = async {
        if hardware {
            Some(hardware_list(graph, &tokens_path).await)
        } else {
            None
        }
    };
    let (v1, tokens) =
        futures_util::future::join(graph.get(&id_path(user_id, "methods")), tokens).await;
    combine(v1?, tokens)
}

/// Beta `GET …/signInPreferences`: what it says the default method is
/// (FACTS §4 [s31]); `None` when it is unset or unreadable.
pub async fn default_hint(graph: &GraphClient<'_>, path: &str) -> Option<String> {
    let res = graph.send(Version::Beta, "GET", path, None).await.ok()?;
    if !res.is_success() {
        return None;
    }
    res.body
        .get("userPreferredMethodForSecondaryAuthentication")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Whether `m` can be the method `hint` names: `push` is an Authenticator,
/// `oath` a software or hardware token, the rest name a phone slot.
pub fn may_be_default(hint: &str, m: &Method) -> bool {
    let phone = |t: &str| m.is(MethodType::Phone) && m.phone_type.as_deref() == Some(t);
    match hint {
        "push" => m.is(MethodType::MicrosoftAuthenticator),
        "oath" => m.is(MethodType::SoftwareOath) || m.is(MethodType::HardwareOath),
        "sms" | "voiceMobile" => phone("mobile"),
        "voiceAlternateMobile" => phone("alternateMobile"),
        "voiceOffice" => phone("office"),
        _ => false,
    }
}

/// Where one method is deleted (FACTS §4), for a resolved user.
pub enum Deletion {
    /// A v1.0 endpoint: a `$batch` request with this id.
    V1(BatchRequest),
    /// A beta endpoint (hardware OATH, QR code + PIN): sent on its own.
    Beta(String),
}

/// `None` for a type that has no endpoint (password, unknown types).
pub fn deletion(user_id: &str, m: &Method, batch_id: &str) -> Option<Deletion> {
    match m.kind?.delete_path(user_id, &m.id)? {
        (Version::V1, path) => Some(Deletion::V1(BatchRequest::delete(batch_id, path))),
        (Version::Beta, path) => Some(Deletion::Beta(path)),
    }
}

/// Whether `m` is deleted through beta (and so cannot join a v1.0 `$batch`).
pub fn deleted_through_beta(m: &Method) -> bool {
    m.kind
        .and_then(|k| k.delete_path("u", &m.id))
        .is_some_and(|(v, _)| v == Version::Beta)
}

/// Deletes one method through its type's endpoint; `None` for a type that
/// has no endpoint (password, unknown types).
pub async fn delete(
    graph: &GraphClient<'_>,
    user_id: &str,
    m: &Method,
) -> Option<Result<GraphResponse, GraphError>> {
    let (version, path) = m.kind?.delete_path(user_id, &m.id)?;
    Some(graph.send(version, "DELETE", &path, None).await)
}

/// `POST /users/{id}/revokeSignInSessions` (FACTS §6) as a `$batch` request:
/// `200 {"value": true}`. Sending it twice does no harm.
pub fn revoke_request(user_id: &str) -> BatchRequest {
    BatchRequest::action(
        "revoke",
        format!("/users/{}/revokeSignInSessions", encode_segment(user_id)),
    )
}

/// The v1.0 methods list of a resolved user, as a `$batch` request.
pub fn reread_request(user_id: &str) -> BatchRequest {
    BatchRequest::get("reread", id_path(user_id, "methods"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_graph_type_maps_to_its_contract_name() {
        for (odata, want) in [
            (
                "#microsoft.graph.passwordAuthenticationMethod",
                MethodType::Password,
            ),
            (
                "#microsoft.graph.phoneAuthenticationMethod",
                MethodType::Phone,
            ),
            (
                "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
                MethodType::MicrosoftAuthenticator,
            ),
            (
                "#microsoft.graph.fido2AuthenticationMethod",
                MethodType::Fido2,
            ),
            (
                "#microsoft.graph.softwareOathAuthenticationMethod",
                MethodType::SoftwareOath,
            ),
            (
                "#microsoft.graph.hardwareOathAuthenticationMethod",
                MethodType::HardwareOath,
            ),
            (
                "#microsoft.graph.emailAuthenticationMethod",
                MethodType::Email,
            ),
            (
                "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
                MethodType::TemporaryAccessPass,
            ),
            (
                "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod",
                MethodType::WindowsHelloForBusiness,
            ),
            (
                "#microsoft.graph.platformCredentialAuthenticationMethod",
                MethodType::PlatformCredential,
            ),
            (
                "#microsoft.graph.qrCodePinAuthenticationMethod",
                MethodType::QrCodePin,
            ),
            (
                "#microsoft.graph.externalAuthenticationMethod",
                MethodType::External,
            ),
        ] {
            assert_eq!(MethodType::from_odata(odata), Some(want), "{odata}");
        }
        assert_eq!(
            MethodType::from_odata("#microsoft.graph.futureAuthenticationMethod"),
            None
        );
    }

    #[test]
    fn deletion_goes_to_each_types_endpoint() {
        let p = |t: MethodType| t.delete_path("u-1", "m/1");
        assert_eq!(p(MethodType::Password), None);
        assert_eq!(
            p(MethodType::Fido2),
            Some((
                Version::V1,
                "/users/u-1/authentication/fido2Methods/m%2F1".into()
            ))
        );
        assert_eq!(
            p(MethodType::HardwareOath),
            Some((
                Version::Beta,
                "/users/u-1/authentication/hardwareOathMethods/m%2F1".into()
            ))
        );
        assert_eq!(
            p(MethodType::QrCodePin),
            Some((
                Version::Beta,
                "/users/u-1/authentication/qrCodePinMethod".into()
            ))
        );
    }

    #[test]
    fn the_default_hint_names_candidates() {
        let m = |odata: &str, phone: Option<&str>| {
            Method::from_item(&json!({ "id": "x", "@odata.type": odata, "phoneType": phone }))
                .unwrap()
        };
        let mobile = m("#microsoft.graph.phoneAuthenticationMethod", Some("mobile"));
        let office = m("#microsoft.graph.phoneAuthenticationMethod", Some("office"));
        let app = m(
            "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
            None,
        );
        assert!(may_be_default("sms", &mobile) && may_be_default("voiceMobile", &mobile));
        assert!(!may_be_default("sms", &office) && may_be_default("voiceOffice", &office));
        assert!(may_be_default("push", &app) && !may_be_default("oath", &app));
        assert!(!may_be_default("unknownFutureValue", &app));
    }
}
