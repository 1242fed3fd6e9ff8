//! Shrinks libphonenumber's metadata for embedding: comments and the
//! whitespace between tags go; text inside elements (patterns, formats
//! such as `$1 $2`) is kept byte for byte.

use std::{env, fs, path::Path};

fn main() {
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
