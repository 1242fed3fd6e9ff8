//! Shrinks what the core embeds: libphonenumber's metadata (only what
//! parsing reads, deflated per country code), and the committed API
//! documents (`api::documents`: whitespace outside strings goes, which
//! turns `serde_json`'s pretty form into its compact one; then deflated).

use std::{env, fs, path::Path};

fn main() {
    documents();
    metadata();
}

/// Both documents minified, one after the other, deflated together
/// (`documents.bin`; `documents.rs` says where the first ends): 67 KB of
/// text is 9 KB, and `meta` inflates it per request.
fn documents() {
    let out = env::var("OUT_DIR").unwrap();
    let mut text = String::new();
    let mut ends = Vec::new();
    for src in [
        "openapi/openapi.json",
        "../../connector/apiDefinition.swagger.json",
    ] {
        println!("cargo:rerun-if-changed={src}");
        // Missing only before the first `UPDATE_CONNECTOR=1` run writes it.
        text.push_str(&minify_json(&fs::read_to_string(src).unwrap_or_default()));
        ends.push(text.len());
    }
    let blob = miniz_oxide::deflate::compress_to_vec(text.as_bytes(), 10);
    fs::write(Path::new(&out).join("documents.bin"), blob).expect("write documents");
    fs::write(
        Path::new(&out).join("documents.rs"),
        format!("/// Where the OpenAPI document ends (the Swagger one follows).\nconst OPENAPI_END: usize = {};\n", ends[0]),
    )
    .expect("write document index");
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

/// The numbering plans `types::numbering_plan` loads, one deflated block
/// per country code (`plans.bin`, indexed by `plans.rs`): each territory's
/// XML without comments, layout, `availableFormats` (formatting rules) and
/// `exampleNumber`s, which parsing and validating never read (a test
/// compares every example number's verdict with the full file's).
/// Without the `phone` feature there are none (and no `phonenumber` to
/// read them with).
fn metadata() {
    let src = "data/PhoneNumberMetadata.xml";
    println!("cargo:rerun-if-changed={src}");
    #[cfg(feature = "phone")]
    plans(src);
}

#[cfg(feature = "phone")]
fn plans(src: &str) {
    let xml = fs::read_to_string(src).expect("metadata XML");
    let mut min = minify_xml(&xml);
    for element in ["availableFormats", "exampleNumber"] {
        min = drop_elements(&min, element);
    }
    // Territories by country code, in the file's order.
    let mut plans: Vec<(String, String)> = Vec::new();
    for (code, block) in territories(&min) {
        match plans.iter_mut().find(|(c, _)| *c == code) {
            Some((_, xml)) => xml.push_str(block),
            None => plans.push((code.to_string(), block.to_string())),
        }
    }
    let mut blob = Vec::new();
    let mut index = String::from("/// `(country code, start, end)` in `plans.bin`.\nconst PLANS: &[(&str, usize, usize)] = &[\n");
    for (code, xml) in &plans {
        let start = blob.len();
        // What `Database::parse` reads first, read here: the component
        // deserializes it and builds the database (`Database::from`).
        let doc =
            format!("<phoneNumberMetadata><territories>{xml}</territories></phoneNumberMetadata>");
        let meta = phonenumber::metadata::loader::load(std::io::Cursor::new(doc))
            .unwrap_or_else(|e| panic!("metadata for +{code} does not load: {e}"));
        // Every pattern's syntax checked once, here: the component loads
        // the plans with `Database::from_trusted` and skips it.
        phonenumber::metadata::Database::from(meta.clone())
            .unwrap_or_else(|e| panic!("a pattern for +{code} does not parse: {e}"));
        let bytes = postcard::to_allocvec(&meta).expect("serialize metadata");
        blob.extend(miniz_oxide::deflate::compress_to_vec(&bytes, 10));
        index.push_str(&format!("    (\"{code}\", {start}, {}),\n", blob.len()));
    }
    index.push_str("];\n");
    let out = env::var("OUT_DIR").unwrap();
    fs::write(Path::new(&out).join("plans.bin"), blob).expect("write plans");
    fs::write(Path::new(&out).join("plans.rs"), index).expect("write plan index");
}

/// Comments and the whitespace between tags go; text inside elements
/// (patterns, formats such as `$1 $2`) is kept byte for byte.
#[cfg(feature = "phone")]
fn minify_xml(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len() / 2);
    let mut rest = xml;
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
    min
}

/// `xml` without any `<name>…</name>` (never nested, never empty-tag).
#[cfg(feature = "phone")]
fn drop_elements(xml: &str, name: &str) -> String {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        out.push_str(&rest[..start]);
        let end = rest[start..].find(&close).expect("closed element") + start + close.len();
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// `(country code, the territory's XML)` for every territory.
#[cfg(feature = "phone")]
fn territories(xml: &str) -> Vec<(&str, &str)> {
    xml.match_indices("<territory ")
        .map(|(start, _)| {
            let rest = &xml[start..];
            let open_end = rest.find('>').expect("territory tag");
            let open = &rest[..open_end];
            let code = open
                .split("countryCode=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .expect("countryCode");
            let len = if open.ends_with('/') {
                open_end + 1
            } else {
                rest.find("</territory>").expect("closed territory") + "</territory>".len()
            };
            (code, &rest[..len])
        })
        .collect()
}
