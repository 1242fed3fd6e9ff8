//! An RFC 3339 instant from the caller (`startDateTime`), normalised to UTC.

use std::time::SystemTime;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(OffsetDateTime);

impl Instant {
    pub fn parse(raw: &str) -> Result<Instant, String> {
        OffsetDateTime::parse(raw, &Rfc3339)
            .map(|t| Instant(t.to_offset(time::UtcOffset::UTC)))
            .map_err(|_| "is not an RFC 3339 date-time such as 2026-11-23T08:00:00Z".to_string())
    }

    pub fn from_system(t: SystemTime) -> Instant {
        Instant(OffsetDateTime::from(t))
    }

    /// `2026-11-23T08:00:00Z`: whole seconds, UTC, as Graph's examples.
    pub fn to_rfc3339(self) -> String {
        super::time::utc_seconds(self.0.replace_nanosecond(0).unwrap_or(self.0))
    }

    pub fn plus_minutes(self, minutes: u32) -> Instant {
        Instant(self.0 + time::Duration::minutes(minutes.into()))
    }

    pub fn minus_seconds(self, seconds: i64) -> Instant {
        Instant(self.0 - time::Duration::seconds(seconds))
    }

    /// A Unix second; out of range clamps to the epoch.
    pub fn from_unix(secs: i64) -> Instant {
        Instant(OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH))
    }

    pub fn unix(self) -> i64 {
        self.0.unix_timestamp()
    }
}

#[cfg(feature = "openapi")]
impl schemars::JsonSchema for Instant {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Instant".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "format": "date-time" })
    }
}

/// As [`Instant::to_rfc3339`]: whole seconds, UTC.
impl serde::Serialize for Instant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> serde::Deserialize<'de> for Instant {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Instant::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_offsets_to_utc() {
        let t = Instant::parse("2026-11-23T09:30:00+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-23T08:30:00Z");
        assert_eq!(t.plus_minutes(60).to_rfc3339(), "2026-11-23T09:30:00Z");
        for bad in ["2026-11-23", "tomorrow", "2026-13-01T00:00:00Z", ""] {
            assert!(Instant::parse(bad).is_err(), "{bad}");
        }
    }
}
