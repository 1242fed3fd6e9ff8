//! The numbering plans one number needs, cut from libphonenumber's metadata.
//!
//! The `phonenumber` crate's default database syntax-checks every pattern
//! of every country when first used: 80 ms natively, more in WebAssembly,
//! and a Spin component starts fresh for each request. Building a database
//! from only the territories that share the number's country code costs
//! inflating one block and a handful of patterns.
//!
//! `data/PhoneNumberMetadata.xml` is libphonenumber's file as the
//! `phonenumber` crate ships it (Apache-2.0; see `data/README.md`),
//! embedded with only what parsing and validating read, per country code
//! as `phonenumber`'s loader reads it (postcard, so no XML parser in the
//! component), deflated (`build.rs`).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use phonenumber::metadata::loader::Metadata;
use phonenumber::metadata::Database;

include!(concat!(env!("OUT_DIR"), "/plans.rs"));
const BLOCKS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/plans.bin"));

/// The territories of country code `code`, as `phonenumber`'s loader read
/// them from the XML at build time; `None` if none has it.
fn territories(code: &str) -> Option<Vec<Metadata>> {
    let &(_, start, end) = PLANS.iter().find(|(c, ..)| *c == code)?;
    let bytes = miniz_oxide::inflate::decompress_to_vec(&BLOCKS[start..end]).ok()?;
    postcard::from_bytes(&bytes).ok()
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
    let (code, meta) = (1..=3)
        .filter(|&n| n <= digits.len())
        .find_map(|n| Some((&digits[..n], territories(&digits[..n])?)))?;
    // `Database::parse` is `loader::load` (done by `build.rs`) then this.
    // Patterns were syntax-checked by `build.rs`; checking ~750 of them
    // again (+1 has 25 territories) was most of a phone request's own time.
    let db = Database::from_trusted(meta).ok();
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
        assert!(PLANS.len() > 200, "{}", PLANS.len());
        for (code, ..) in PLANS {
            assert!(for_number(&format!("{code}123456789")).is_some(), "+{code}");
        }
        assert!(for_number("999123").is_none());
        assert!(for_number("").is_none());
    }

    /// The whole file, comments and all, as the `phonenumber` crate reads it.
    const FULL: &str = include_str!("../../data/PhoneNumberMetadata.xml");

    /// What parsing `number` tells: the fields `PhoneNumber::parse` reads.
    fn verdict(db: &Database, number: &str) -> String {
        match phonenumber::parse_with(db, None, number) {
            Ok(n) => format!(
                "+{} {} valid={} {:?}",
                n.code().value(),
                n.national(),
                n.is_valid_with(db),
                n.number_type(db)
            ),
            Err(e) => format!("{e:?}"),
        }
    }

    /// Dropping formats and example numbers changes no verdict: every
    /// example number of every type of every territory, and each one a
    /// digit shorter, a digit longer and behind a trunk `0`, is judged by
    /// the embedded plans exactly as by the full file.
    #[test]
    fn the_embedded_plans_judge_every_example_as_the_full_file_does() {
        let full = Database::parse(FULL).expect("full metadata");
        let mut checked = 0;
        for territory in FULL.split("<territory ").skip(1) {
            let Some(code) = territory
                .split("countryCode=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
            else {
                continue;
            };
            let territory = territory.split("</territory>").next().unwrap_or("");
            for example in territory.split("<exampleNumber>").skip(1) {
                let ex = example.split('<').next().unwrap_or("").trim();
                let shorter = &ex[..ex.len().saturating_sub(1)];
                for national in [
                    ex.to_string(),
                    format!("{ex}5"),
                    shorter.into(),
                    format!("0{ex}"),
                ] {
                    let number = format!("+{code}{national}");
                    let plan = for_number(&format!("{code}{national}")).expect(code);
                    assert_eq!(verdict(&plan, &number), verdict(&full, &number), "{number}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 4000, "{checked}");
    }
}
