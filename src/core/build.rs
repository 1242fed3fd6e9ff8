//! Shrinks what the core embeds: libphonenumber's metadata (comments and
//! the whitespace between tags go; text inside elements, patterns and
//! formats such as `$1 $2`, is kept byte for byte), and the committed API
//! documents (`api::documents`: whitespace outside strings goes, which
//! turns `serde_json`'s pretty form into its compact one).

use std::{env, fs, path::Path};

fn main() {
    documents();
    metadata();
}

fn documents() {
    let out = env::var("OUT_DIR").unwrap();
    for (src, dest) in [
        ("openapi/openapi.json", "openapi.min.json"),
        (
            "../../connector/apiDefinition.swagger.json",
            "swagger.min.json",
        ),
    ] {
        println!("cargo:rerun-if-changed={src}");
        // Missing only before the first `UPDATE_CONNECTOR=1` run writes it.
        let text = fs::read_to_string(src).unwrap_or_default();
        fs::write(Path::new(&out).join(dest), minify_json(&text)).expect("write document");
    }
}

/// JSON without the whitespace between tokens; strings untouched.
fn minify_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !c.is_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

fn metadata() {
    let src = "data/PhoneNumberMetadata.xml";
    println!("cargo:rerun-if-changed={src}");
    let xml = fs::read_to_string(src).expect("metadata XML");
    let mut out = String::with_capacity(xml.len() / 2);
    let mut rest = xml.as_str();
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("-->").expect("closed comment") + start + 3;
        rest = &rest[end..];
    }
    out.push_str(rest);
    let mut min = String::with_capacity(out.len());
    let mut pending = String::new();
    for c in out.chars() {
        if c.is_whitespace() {
            pending.push(c);
            continue;
        }
        // Whitespace between `>` and `<` is layout; anywhere else it is text.
        if !(c == '<' && min.ends_with('>')) {
            min.push_str(&pending);
        }
        pending.clear();
        min.push(c);
    }
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("PhoneNumberMetadata.min.xml");
    fs::write(dest, min).expect("write metadata");
}
