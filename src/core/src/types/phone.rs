//! `PhoneNumber`: what people type, checked against the numbering plan of its
//! country with the `phonenumber` crate (libphonenumber's metadata), and
//! spelled the way Graph stores it: `+{country code} {national number}`
//! with an optional `x{extension}` (FACTS §5).

use std::fmt;

use phonenumber::{ParseError, Type};

pub use super::phone_type::PhoneType;

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
        // Punctuation carries no meaning once `(0)`, the trunk prefix
        // written the British way, is gone; leaving it in lets the
        // country-code split go wrong (`+3361-2345678` was read as an
        // unknown code: found by the property test below).
        let compact: String = number_part
            .replace("(0)", "")
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        // `00` is the international prefix people dial from most countries.
        let international = if let Some(rest) = compact.strip_prefix("00") {
            format!("+{rest}")
        } else {
            compact
        };
        if !international.starts_with('+') {
            return Err(PhoneError::NoCountryCode);
        }
        if international[1..].contains('+') {
            return Err(PhoneError::BadCharacters);
        }
        let plan = super::numbering_plan::for_number(&international[1..])
            .ok_or(PhoneError::UnknownCountryCode)?;
        let parsed = phonenumber::parse_with(&plan, None, &international).map_err(|e| match e {
            ParseError::InvalidCountryCode => PhoneError::UnknownCountryCode,
            ParseError::TooShortAfterIdd | ParseError::TooShortNsn => PhoneError::TooShort,
            ParseError::TooLong => PhoneError::TooLong,
            _ => PhoneError::NotValidForCountry,
        })?;
        if !parsed.is_valid_with(&plan) {
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
            fixed_line: parsed.number_type(&plan) == Type::FixedLine,
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
    fn a_landline_in_a_mobile_slot_is_accepted_and_flagged() {
        let desk = PhoneNumber::parse("+44 20 7946 0958", Mobile).unwrap();
        assert!(desk.is_fixed_line());
        assert_eq!(desk.graph_form(), "+44 2079460958");
        assert!(!PhoneNumber::parse("+44 7400 123456", Mobile)
            .unwrap()
            .is_fixed_line());
    }

    /// Valid numbers from several plans, in E.164.
    const VALID: &[&str] = &[
        "+12065551234",
        "+447400123456",
        "+4915123456789",
        "+33612345678",
        "+390669821234",
        "+919876543210",
        "+819012345678",
        "+61412345678",
        "+5511987654321",
    ];

    fn graph_shape(g: &str) -> bool {
        let Some((cc, rest)) = g.strip_prefix('+').and_then(|g| g.split_once(' ')) else {
            return false;
        };
        !cc.is_empty()
            && cc.chars().all(|c| c.is_ascii_digit())
            && rest.chars().all(|c| c.is_ascii_digit() || c == 'x')
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        /// Anything at all: a refusal or Graph's shape, never a panic.
        #[test]
        fn any_text_is_refused_or_graph_shaped(s in "\\PC{0,70}") {
            for kind in [Mobile, AlternateMobile, Office] {
                if let Ok(p) = PhoneNumber::parse(&s, kind) {
                    proptest::prop_assert!(graph_shape(&p.graph_form()), "{s:?}");
                }
            }
        }

        /// Phone-like text: whatever is accepted parses back to itself.
        #[test]
        fn accepted_numbers_round_trip(s in "(\\+|00)?[0-9 ().x-]{0,24}") {
            for kind in [Mobile, Office] {
                if let Ok(p) = PhoneNumber::parse(&s, kind) {
                    let g = p.graph_form();
                    proptest::prop_assert!(graph_shape(&g), "{s:?} -> {g}");
                    proptest::prop_assert_eq!(PhoneNumber::parse(&g, kind).unwrap().graph_form(), g);
                }
            }
        }

        /// However a valid number is punctuated, Graph gets one string.
        #[test]
        fn punctuation_does_not_change_the_number(
            which in 0..VALID.len(),
            seps in proptest::collection::vec(proptest::sample::select(vec!["", "", " ", "-", ".", " - "]), 16),
            zeros in proptest::bool::ANY,
        ) {
            let e164 = VALID[which];
            let want = PhoneNumber::parse(e164, Mobile).unwrap().graph_form();
            let digits = &e164[1..];
            let mut typed = String::from(if zeros { "00" } else { "+" });
            for (i, d) in digits.chars().enumerate() {
                typed.push(d);
                if i + 1 < digits.len() {
                    typed.push_str(seps[i % seps.len()]);
                }
            }
            let got = PhoneNumber::parse(&typed, Mobile).map(|p| p.graph_form());
            proptest::prop_assert_eq!(got, Ok(want), "{}", typed);
        }
    }
}
