//! Phone methods on Graph (FACTS §5): one per type, fixed ids, created by
//! `POST`, renumbered by `PATCH`, SMS sign-in switched on by an action.

use serde::Deserialize;
use serde_json::{json, Value};

use super::client::BatchRequest;
use super::{GraphClient, GraphError, GraphResponse, Version};
use crate::types::{encode_segment, PhoneType, UserRef};

/// A registered phone, as Graph stores it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneMethod {
    pub id: String,
    pub phone_number: String,
    pub phone_type: PhoneType,
    #[serde(default)]
    pub sms_sign_in_state: Option<String>,
}

pub fn list_request(user: &UserRef) -> BatchRequest {
    BatchRequest::get(
        "phones",
        format!("/users{}/authentication/phoneMethods", user.graph_segment()),
    )
}

fn path(user_id: &str) -> String {
    format!(
        "/users/{}/authentication/phoneMethods",
        encode_segment(user_id)
    )
}

/// The user's phones; an item of a type this service does not know
/// (`unknownFutureValue`) is left out rather than failing the request.
pub fn parse_list(res: GraphResponse) -> Result<Vec<PhoneMethod>, GraphError> {
    let res = res.into_result()?;
    let items = res
        .body
        .get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| GraphError::Malformed("phone list without value".into()))?;
    Ok(items
        .iter()
        .filter_map(|i| serde_json::from_value(i.clone()).ok())
        .collect())
}

/// Whether Graph's stored string and ours are the same number. Graph's
/// string is compared, not re-validated: what it already holds may predate
/// today's numbering plan (FACTS' own sample `+44 7700900123` does).
/// Either side may be as a person typed it: `(0)` and a leading `00` are
/// dialling habits, not digits of the number.
pub fn same_number(stored: &str, ours: &str) -> bool {
    let key = |s: &str| {
        let k: String = s
            .replace("(0)", "")
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == 'x' || *c == 'X')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match k.strip_prefix("00") {
            Some(rest) => rest.to_string(),
            None => k,
        }
    };
    key(stored) == key(ours)
}

/// Adds the phone. Creating is not idempotent, so an ambiguous answer
/// (503, 504, lost connection) is settled by reading the user's phones
/// before any second attempt: our number there under our type means the
/// first attempt took effect; the type still free means it did not, and
/// the create is sent once more. Anything else is reported, not guessed.
pub async fn create(
    graph: &GraphClient<'_>,
    user_id: &str,
    number: &str,
    phone_type: PhoneType,
) -> Result<PhoneMethod, GraphError> {
    let body = json!({ "phoneNumber": number, "phoneType": phone_type.as_str() });
    let mut settled = false;
    loop {
        let err = match graph
            .send_once(Version::V1, "POST", &path(user_id), Some(&body))
            .await
        {
            Ok(res) => {
                let res = res.into_result()?;
                return serde_json::from_value(res.body)
                    .map_err(|_| GraphError::Malformed("phone creation answer".into()));
            }
            Err(e @ GraphError::Ambiguous { .. }) if !settled => e,
            Err(e) => return Err(e),
        };
        settled = true;
        let phones = parse_list(graph.get(&path(user_id)).await?)?;
        match phones.into_iter().find(|p| p.phone_type == phone_type) {
            Some(p) if same_number(&p.phone_number, number) => return Ok(p),
            Some(_) => return Err(err),
            None => continue,
        }
    }
}

/// `PATCH` changes the number in place; the type never changes (FACTS §5).
pub async fn update(
    graph: &GraphClient<'_>,
    user_id: &str,
    method_id: &str,
    number: &str,
) -> Result<(), GraphError> {
    graph
        .send(
            Version::V1,
            "PATCH",
            &format!("{}/{}", path(user_id), encode_segment(method_id)),
            Some(&json!({ "phoneNumber": number })),
        )
        .await?
        .into_result()
        .map(|_| ())
}

pub async fn get(
    graph: &GraphClient<'_>,
    user_id: &str,
    method_id: &str,
) -> Result<Option<PhoneMethod>, GraphError> {
    let res = graph
        .get(&format!("{}/{}", path(user_id), encode_segment(method_id)))
        .await?;
    if res.status == 404 {
        return Ok(None);
    }
    let res = res.into_result()?;
    Ok(serde_json::from_value(res.body).ok())
}

/// `POST …/enableSmsSignIn` (FACTS §5): `204`, or Graph's refusal as an
/// answer the caller turns into a warning.
pub async fn enable_sms_sign_in(
    graph: &GraphClient<'_>,
    user_id: &str,
    method_id: &str,
) -> Result<GraphResponse, GraphError> {
    graph
        .send(
            Version::V1,
            "POST",
            &format!(
                "{}/{}/enableSmsSignIn",
                path(user_id),
                encode_segment(method_id)
            ),
            None,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_digits_and_extension() {
        assert!(same_number("+1 2065551234", "+1 2065551234"));
        assert!(same_number("+44 7700900123", "+44 7700900123"));
        assert!(same_number("+1 4255550134X12", "+1 4255550134x12"));
        assert!(!same_number("+1 4255550134x12", "+1 4255550134"));
        assert!(!same_number("+1 2065551234", "+1 2065551235"));
        assert!(same_number("+44 7700900123", "0044 (0)7700 900 123"));
    }

    #[test]
    fn a_future_phone_type_is_skipped() {
        let res = GraphResponse {
            status: 200,
            body: json!({ "value": [
                { "id": "a", "phoneNumber": "+1 2065551234", "phoneType": "mobile", "smsSignInState": "ready" },
                { "id": "b", "phoneNumber": "+1 2065551235", "phoneType": "unknownFutureValue" },
            ]}),
            request_id: None,
        };
        let list = parse_list(res).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].phone_type, PhoneType::Mobile);
        assert_eq!(list[0].sms_sign_in_state.as_deref(), Some("ready"));
    }
}
