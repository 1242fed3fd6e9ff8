//! The report as CSV (RFC 4180), safe to open in a spreadsheet.

use crate::types::UserFailures;

/// A cell a spreadsheet would run as a formula is prefixed with `'` (OWASP
/// CSV injection); the `csv` crate does RFC 4180 quoting.
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// One row per user, a header line, CRLF line ends (RFC 4180).
pub fn csv(users: &[UserFailures]) -> Vec<u8> {
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let join = |s: &std::collections::BTreeSet<String>| {
        s.iter().map(String::as_str).collect::<Vec<_>>().join("; ")
    };
    let _ = w.write_record([
        "userPrincipalName",
        "displayName",
        "id",
        "failures",
        "firstFailureDateTime",
        "lastFailureDateTime",
        "errorCodes",
        "failureReasons",
        "apps",
        "ipAddresses",
    ]);
    for u in users {
        let codes = u
            .error_codes
            .iter()
            .map(|(c, n)| format!("{c}:{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        let row = [
            u.user.user_principal_name.clone(),
            u.user.display_name.clone().unwrap_or_default(),
            u.user.id.clone(),
            u.failures.to_string(),
            u.first_failure_date_time.clone(),
            u.last_failure_date_time.clone(),
            codes,
            join(&u.failure_reasons),
            join(&u.apps),
            join(&u.ip_addresses),
        ];
        let _ = w.write_record(row.iter().map(|c| cell(c)));
    }
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::signins::Aggregate;

    #[test]
    fn csv_quotes_and_neutralises_formulas() {
        let mut a = Aggregate::default();
        a.add_page(&[
            serde_json::json!({ "userId": "u1", "userPrincipalName": "=HYPERLINK(\"x\")@c.com",
                "userDisplayName": "Zoë, \"the\" admin", "createdDateTime": "2026-11-30T10:00:00Z",
                "appDisplayName": "+cmd|' /C calc'!A0", "ipAddress": "-1",
                "status": { "errorCode": 500121, "failureReason": "@SUM(1)\r\nx" } }),
        ]);
        let out = String::from_utf8(csv(&a.into_sorted(1))).unwrap();
        let mut lines = out.split("\r\n");
        assert_eq!(lines.next().unwrap(), "userPrincipalName,displayName,id,failures,firstFailureDateTime,lastFailureDateTime,errorCodes,failureReasons,apps,ipAddresses");
        let row = lines.next().unwrap();
        assert!(
            row.starts_with("\"'=HYPERLINK(\"\"x\"\")@c.com\",\"Zoë, \"\"the\"\" admin\",u1,1,"),
            "{row}"
        );
        assert!(out.contains("\"'@SUM(1)\r\nx\""), "{out}");
        assert!(out.contains(",'+cmd|' /C calc'!A0,'-1\r\n"), "{out}");
    }
}
