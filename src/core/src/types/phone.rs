//! `PhoneNumber`: what people type, checked against the numbering plan of its
//! country with the `phonenumber` crate (libphonenumber's metadata), and
//! spelled the way Graph stores it: `+{country code} {national number}`
//! with an optional `x{extension}` (FACTS §5).

use std::fmt;

use phonenumber::{ParseError, Type};

/// Graph's `phoneType` (FACTS §5): only an office phone has an extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PhoneType {
    Mobile,
    AlternateMobile,
    Office,
}

impl PhoneType {
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneType::Mobile => "mobile",
            PhoneType::AlternateMobile => "alternateMobile",
            PhoneType::Office => "office",
        }
    }
}

/// Why a number was refused; the text goes into `invalid_phone_number`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("is empty")]
    Empty,
    #[error("is longer than 64 characters")]
    TooLongInput,
    #[error("has characters other than digits, spaces, + - . ( ) and an x extension")]
    BadCharacters,
    #[error("has no country code: start with + and the country code (e.g. +44 7700 900123)")]
    NoCountryCode,
    #[error("has an unknown country code")]
    UnknownCountryCode,
    #[error("is too short")]
    TooShort,
    #[error("is too long")]
    TooLong,
    #[error("is not a valid number for its country")]
    NotValidForCountry,
    #[error("has an extension, which only an office phone may have")]
    ExtensionNotAllowed,
}

/// A checked number in Graph's form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneNumber {
    country_code: u16,
    national: String,
    extension: Option<String>,
    fixed_line: bool,
}

impl PhoneNumber {
    /// Parses `raw` for a phone of type `kind`.
    pub fn parse(raw: &str, kind: PhoneType) -> Result<PhoneNumber, PhoneError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(PhoneError::Empty);
        }
        if s.chars().count() > 64 {
            return Err(PhoneError::TooLongInput);
        }
        let allowed =
            |c: char| c.is_ascii_digit() || " +-.()/xX".contains(c) || c.is_ascii_alphabetic();
        if !s.chars().all(allowed) {
            return Err(PhoneError::BadCharacters);
        }
        // Letters only as an extension marker ("x123", "ext. 123").
        let lower = s.to_ascii_lowercase();
        let (number_part, ext_part) = match lower.find(|c: char| c.is_ascii_alphabetic()) {
            Some(i) => {
                let (n, e) = lower.split_at(i);
                let digits = e
                    .trim_start_matches("extension")
                    .trim_start_matches("ext")
                    .trim_start_matches('x')
                    .trim_start_matches(['.', ' ']);
                if digits.is_empty()
                    || !digits.chars().all(|c| c.is_ascii_digit())
                    || digits.len() > 10
                {
                    return Err(PhoneError::BadCharacters);
                }
                (n.trim().to_string(), Some(digits.to_string()))
            }
            None => (lower.clone(), None),
        };
        // `00` is the international prefix people dial from most countries.
        let international = if let Some(rest) = number_part.strip_prefix("00") {
            format!("+{rest}")
        } else {
            number_part.clone()
        };
        if !international.starts_with('+') {
            return Err(PhoneError::NoCountryCode);
        }
        if international[1..].contains('+') {
            return Err(PhoneError::BadCharacters);
        }
        let parsed = phonenumber::parse(None, &international).map_err(|e| match e {
            ParseError::InvalidCountryCode => PhoneError::UnknownCountryCode,
            ParseError::TooShortAfterIdd | ParseError::TooShortNsn => PhoneError::TooShort,
            ParseError::TooLong => PhoneError::TooLong,
            _ => PhoneError::NotValidForCountry,
        })?;
        if !parsed.is_valid() {
            // The plan has no shorter numbers than six digits outside a few
            // small territories, whose numbers are valid and never get here.
            return Err(if parsed.national().to_string().len() < 6 {
                PhoneError::TooShort
            } else {
                PhoneError::NotValidForCountry
            });
        }
        if ext_part.is_some() && kind != PhoneType::Office {
            return Err(PhoneError::ExtensionNotAllowed);
        }
        Ok(PhoneNumber {
            country_code: parsed.code().value(),
            national: parsed.national().to_string(),
            extension: ext_part,
            fixed_line: parsed.number_type(&phonenumber::metadata::DATABASE) == Type::FixedLine,
        })
    }

    /// The numbering plan says this is a landline: a call reaches it, a
    /// text does not (the caller is warned, not refused: people do keep a
    /// desk phone as their voice fallback).
    pub fn is_fixed_line(&self) -> bool {
        self.fixed_line
    }

    /// Graph's spelling: `+44 7700900123`, `+1 4255550134x123`.
    pub fn graph_form(&self) -> String {
        let mut s = format!("+{} {}", self.country_code, self.national);
        if let Some(e) = &self.extension {
            s.push('x');
            s.push_str(e);
        }
        s
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.graph_form())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PhoneType::*;

    #[test]
    fn what_people_type_becomes_graphs_form() {
        let cases: &[(&str, PhoneType, &str)] = &[
            ("+12065551234", Mobile, "+1 2065551234"),
            ("+1 2065551234", Mobile, "+1 2065551234"),
            ("+1 (206) 555-1234", Mobile, "+1 2065551234"),
            ("+1.206.555.1234", Mobile, "+1 2065551234"),
            ("001 206 555 1234", Mobile, "+1 2065551234"),
            ("+44 7400 123456", Mobile, "+44 7400123456"),
            ("+44 (0)7400 123456", Mobile, "+44 7400123456"),
            ("0044 7400-123-456", AlternateMobile, "+44 7400123456"),
            ("+49 151 23456789", Mobile, "+49 15123456789"),
            ("+33 6 12 34 56 78", Mobile, "+33 612345678"),
            ("+39 06 6982 1234", Office, "+39 0669821234"),
            ("+91 98765 43210", Mobile, "+91 9876543210"),
            ("+81 90-1234-5678", Mobile, "+81 9012345678"),
            ("+61 412 345 678", Mobile, "+61 412345678"),
            ("+1 425 555 0134 x123", Office, "+1 4255550134x123"),
            ("+1 425-555-0134 ext. 77", Office, "+1 4255550134x77"),
            ("+44 20 7946 0958", Office, "+44 2079460958"),
        ];
        for (raw, kind, want) in cases {
            let p = PhoneNumber::parse(raw, *kind).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(p.graph_form(), *want, "{raw}");
        }
    }

    #[test]
    fn refusals_say_why() {
        let cases: &[(&str, PhoneType, PhoneError)] = &[
            ("", Mobile, PhoneError::Empty),
            ("2065551234", Mobile, PhoneError::NoCountryCode),
            ("+999 1234567", Mobile, PhoneError::UnknownCountryCode),
            ("+1 20", Mobile, PhoneError::TooShort),
            ("+1 0005551234", Mobile, PhoneError::NotValidForCountry),
            (
                "+44 7400 123456 x12",
                Mobile,
                PhoneError::ExtensionNotAllowed,
            ),
            ("+1 206 555 1234; DROP", Mobile, PhoneError::BadCharacters),
            ("+1 206 555 1234 xabc", Office, PhoneError::BadCharacters),
            ("+1 206+555 1234", Mobile, PhoneError::BadCharacters),
        ];
        for (raw, kind, want) in cases {
            assert_eq!(PhoneNumber::parse(raw, *kind).unwrap_err(), *want, "{raw}");
        }
    }

    #[test]
    fn never_panics_and_accepted_numbers_have_graphs_shape() {
        let alphabet: Vec<char> = "0123456789+ -.()xX/e#".chars().collect();
        let mut seed: u64 = 0x2545f4914f6cdd1d;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 30) as usize;
            let s: String = (0..len)
                .map(|i| alphabet[((seed >> (i % 58)) as usize ^ (i * 11)) % alphabet.len()])
                .collect();
            for kind in [Mobile, Office] {
                if let Ok(p) = PhoneNumber::parse(&s, kind) {
                    let g = p.graph_form();
                    let (cc, rest) = g[1..].split_once(' ').unwrap();
                    assert!(cc.chars().all(|c| c.is_ascii_digit()), "{s} -> {g}");
                    assert!(
                        rest.chars().all(|c| c.is_ascii_digit() || c == 'x'),
                        "{s} -> {g}"
                    );
                    // Graph's form parses back to itself.
                    assert_eq!(PhoneNumber::parse(&g, kind).unwrap().graph_form(), g);
                }
            }
        }
    }
}
