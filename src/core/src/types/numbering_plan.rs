//! The numbering plans one number needs, cut from libphonenumber's metadata.
//!
//! The `phonenumber` crate's default database syntax-checks every pattern
//! of every country when first used: 80 ms natively, more in WebAssembly,
//! and a Spin component starts fresh for each request. Building a database
//! from only the territories that share the number's country code costs a
//! scan of the XML and a handful of patterns.
//!
//! `data/PhoneNumberMetadata.xml` is libphonenumber's file as the
//! `phonenumber` crate ships it (Apache-2.0; see `data/README.md`),
//! embedded without its comments and layout (`build.rs`).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use phonenumber::metadata::Database;

const METADATA: &str = include_str!(concat!(env!("OUT_DIR"), "/PhoneNumberMetadata.min.xml"));

/// `(country code, the territory's XML)` for every territory.
fn territories() -> impl Iterator<Item = (&'static str, &'static str)> {
    METADATA
        .match_indices("<territory ")
        .filter_map(|(start, _)| {
            let rest = &METADATA[start..];
            let open_end = rest.find('>')?;
            let open = &rest[..open_end];
            let code = open.split("countryCode=\"").nth(1)?.split('"').next()?;
            let len = if open.ends_with('/') {
                open_end + 1
            } else {
                rest.find("</territory>")? + "</territory>".len()
            };
            Some((code, &rest[..len]))
        })
}

/// The database for the country code `digits` starts with (`digits`
/// without the `+`); `None` if no country has such a code. Country codes
/// are prefix-free (ITU-T E.164), so the first length that matches is it.
pub fn for_number(digits: &str) -> Option<Database> {
    // A process that parses many numbers (tests, a long-lived host) builds
    // each country once; a fresh Spin instance builds the one it needs.
    static BUILT: OnceLock<Mutex<HashMap<String, Database>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let cached = |code: &str| built.lock().ok()?.get(code).cloned();
    if let Some(db) = (1..=3)
        .filter(|&n| n <= digits.len())
        .find_map(|n| cached(&digits[..n]))
    {
        return Some(db);
    }
    let (code, blocks) = (1..=3).filter(|&n| n <= digits.len()).find_map(|n| {
        let code = &digits[..n];
        let blocks: Vec<&str> = territories()
            .filter(|(c, _)| *c == code)
            .map(|(_, xml)| xml)
            .collect();
        (!blocks.is_empty()).then_some((code, blocks))
    })?;
    let xml = format!(
        "<phoneNumberMetadata><territories>{}</territories></phoneNumberMetadata>",
        blocks.concat()
    );
    let db = Database::parse(xml).ok();
    debug_assert!(db.is_some(), "metadata for +{code} does not load");
    if let (Some(db), Ok(mut map)) = (&db, built.lock()) {
        map.insert(code.to_string(), db.clone());
    }
    db
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_territory_is_found_and_loads() {
        let mut codes: Vec<&str> = territories().map(|(c, _)| c).collect();
        assert!(codes.len() > 240, "{}", codes.len());
        codes.sort();
        codes.dedup();
        for code in codes {
            assert!(for_number(&format!("{code}123456789")).is_some(), "+{code}");
        }
        assert!(for_number("999123").is_none());
        assert!(for_number("").is_none());
    }
}
