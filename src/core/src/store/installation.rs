//! The installation record: a random id written once to the key-value store
//! on first use. It names this deployment's state (audit ids derive from it
//! later) and shows that state survives restarts.

use serde::{Deserialize, Serialize};

use crate::ports::{Entropy, HostError, KeyValue};

const KEY: &str = "meta/installation";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Installation {
    pub id: String,
    pub created_at: String,
}

/// Reads the record, creating it atomically if absent: when two instances
/// race, one compare-and-swap wins and both return the winner's record.
pub fn ensure(
    kv: &dyn KeyValue,
    entropy: &dyn Entropy,
    now_rfc3339: &str,
) -> Result<Installation, HostError> {
    if let Some(found) = read(kv)? {
        return Ok(found);
    }
    let mut raw = [0u8; 16];
    entropy.fill(&mut raw);
    let fresh = Installation {
        id: hex::encode(raw),
        created_at: now_rfc3339.to_string(),
    };
    let bytes = serde_json::to_vec(&fresh).map_err(|e| HostError(e.to_string()))?;
    if kv.compare_and_swap(KEY, None, &bytes)? {
        return Ok(fresh);
    }
    read(kv)?.ok_or_else(|| HostError("installation record vanished".into()))
}

fn read(kv: &dyn KeyValue) -> Result<Option<Installation>, HostError> {
    match kv.get(KEY)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| HostError("installation record is corrupt".into())),
    }
}
