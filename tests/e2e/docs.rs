//! The documentation's links: every Markdown link and image in `README.md`
//! and `docs/**/*.md` stays inside the repository, names a file that exists
//! and, with a `#fragment`, a heading that exists under GitHub's slug rule.
//! Native only: nothing here builds or starts Spin or graph-sim.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

/// The newcomer's five minutes.
const README_MAX_BYTES: usize = 15_000;

/// The documents the README promises, under `docs/`.
const DOCS: [&str; 6] = [
    "api.md",
    "architecture.md",
    "deploy.md",
    "permissions.md",
    "security.md",
    "testing.md",
];

/// The repository root: the tests crate lives in `<root>/tests`.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate has a parent directory")
        .to_path_buf()
}

/// `README.md` and every `docs/**/*.md`, as paths relative to the root.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut files = vec![PathBuf::from("README.md")];
    walk(&root.join("docs"), root, &mut files);
    files
}

/// One link found in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Link {
    line: usize,
    target: String,
}

/// The text with every fenced code block blanked (its lines kept, empty),
/// so line numbers stay those of the file.
fn without_fences(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<(char, usize)> = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let run = |c: char| trimmed.chars().take_while(|&x| x == c).count();
        let (tick, tilde) = (run('`'), run('~'));
        let marker = if tick >= 3 {
            Some(('`', tick))
        } else if tilde >= 3 {
            Some(('~', tilde))
        } else {
            None
        };
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some((c, n)), Some((mc, mn)))
                if c == mc && mn >= n && trimmed[mn * c.len_utf8()..].trim().is_empty() =>
            {
                fence = None
            }
            (None, None) => {
                out.push_str(line);
                continue;
            }
            _ => {}
        }
        if line.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

fn is_escaped(b: &[u8], i: usize) -> bool {
    let mut n = 0;
    while n < i && b[i - 1 - n] == b'\\' {
        n += 1;
    }
    n % 2 == 1
}

/// Whether `b[i..]` starts a blank line boundary (`\n`, optional spaces,
/// `\n`): no inline construct spans one.
fn blank_line_at(b: &[u8], i: usize) -> bool {
    if b[i] != b'\n' {
        return false;
    }
    let mut j = i + 1;
    while j < b.len() && (b[j] == b' ' || b[j] == b'\t' || b[j] == b'\r') {
        j += 1;
    }
    j >= b.len() || b[j] == b'\n'
}

/// Inline code spans replaced by spaces (newlines kept): a run of n
/// backticks up to the next run of exactly n within the paragraph.
fn without_code_spans(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'`' || is_escaped(b, i) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i] == b'`' {
            i += 1;
        }
        let n = i - start;
        let mut j = i;
        let mut close = None;
        while j < b.len() {
            if blank_line_at(b, j) {
                break;
            }
            if b[j] == b'`' {
                let s = j;
                while j < b.len() && b[j] == b'`' {
                    j += 1;
                }
                if j - s == n {
                    close = Some(j);
                    break;
                }
                continue;
            }
            j += 1;
        }
        if let Some(end) = close {
            for b in &mut out[start..end] {
                if *b != b'\n' {
                    *b = b' ';
                }
            }
            i = end;
        }
    }
    // Only ASCII bytes were replaced (backticks and whole spans, whose
    // multi-byte characters go byte by byte to spaces).
    String::from_utf8(out).expect("masking keeps UTF-8")
}

/// What a reader sees as text: fences and code spans gone.
fn prose(text: &str) -> String {
    without_code_spans(&without_fences(text))
}

fn line_of(text: &str, at: usize) -> usize {
    text[..at].bytes().filter(|&c| c == b'\n').count() + 1
}

/// Every inline link and image `[text](target)` / `![alt](target)`, every
/// reference definition `[label]: target`, every autolink `<scheme:…>`,
/// outside code.
fn links(text: &str) -> Vec<Link> {
    let masked = prose(text);
    let b = masked.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'[' if !is_escaped(b, i) => {
                if let Some(link) = inline_link(&masked, i) {
                    found.push(link);
                }
            }
            b'<' if !is_escaped(b, i) => {
                if let Some(end) = masked[i + 1..].find('>') {
                    let inner = &masked[i + 1..i + 1 + end];
                    if scheme(inner).is_some() && !inner.contains(char::is_whitespace) {
                        found.push(Link {
                            line: line_of(&masked, i),
                            target: inner.to_string(),
                        });
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    // Reference definitions: `[label]: target` at the start of a line.
    let mut offset = 0;
    for line in masked.split_inclusive('\n') {
        let t = line.trim_start();
        if line.len() - t.len() <= 3 && t.starts_with('[') && !t.starts_with("[^") {
            if let Some(close) = t.find("]:") {
                if let Some(target) = t[close + 2..].split_whitespace().next() {
                    let target = target.trim_start_matches('<').trim_end_matches('>');
                    found.push(Link {
                        line: line_of(&masked, offset),
                        target: target.to_string(),
                    });
                }
            }
        }
        offset += line.len();
    }
    found.sort_by_key(|l| l.line);
    found
}

/// The link whose text opens at `open` (a `[`), if a `(destination)`
/// follows its closing bracket.
fn inline_link(s: &str, open: usize) -> Option<Link> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    let close = loop {
        if i >= b.len() || blank_line_at(b, i) {
            return None;
        }
        match b[i] {
            b'[' if !is_escaped(b, i) => depth += 1,
            b']' if !is_escaped(b, i) => {
                depth -= 1;
                if depth == 0 {
                    break i;
                }
            }
            _ => {}
        }
        i += 1;
    };
    if b.get(close + 1) != Some(&b'(') {
        return None;
    }
    let mut j = close + 2;
    while j < b.len() && (b[j] == b' ' || b[j] == b'\n') {
        j += 1;
    }
    let target = if b.get(j) == Some(&b'<') {
        let end = s[j + 1..].find('>')?;
        s[j + 1..j + 1 + end].to_string()
    } else {
        let start = j;
        let mut parens = 0usize;
        while j < b.len() {
            match b[j] {
                b'(' if !is_escaped(b, j) => parens += 1,
                b')' if !is_escaped(b, j) => {
                    if parens == 0 {
                        break;
                    }
                    parens -= 1;
                }
                c if c.is_ascii_whitespace() => break,
                _ => {}
            }
            j += 1;
        }
        s[start..j].to_string()
    };
    Some(Link {
        line: line_of(s, open),
        target,
    })
}

/// The URI scheme a target starts with (`https`, `mailto`, …), if any.
fn scheme(target: &str) -> Option<&str> {
    let (head, _) = target.split_once(':')?;
    let mut chars = head.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(head)
}

/// Bare URLs and e-mail addresses GitHub would turn into links on its
/// own (its autolink extension), outside code.
fn bare_autolinks(text: &str) -> Vec<Link> {
    let masked = prose(text);
    let mut found = Vec::new();
    for (n, line) in masked.lines().enumerate() {
        for needle in ["http://", "https://", "www."] {
            let mut from = 0;
            while let Some(at) = line[from..].find(needle) {
                let at = from + at;
                // After `(` or `<` it is a link's target, checked as a link.
                let before = line[..at].chars().next_back();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '(' || c == '<') {
                    let end = line[at..]
                        .find(|c: char| c.is_whitespace() || c == '<')
                        .map_or(line.len(), |e| at + e);
                    let url = line[at..end].trim_end_matches(['.', ',', ':', ';', ')', '"', '\'']);
                    found.push(Link {
                        line: n + 1,
                        target: url.to_string(),
                    });
                }
                from = at + needle.len();
            }
        }
        let chars: Vec<char> = line.chars().collect();
        for (k, &c) in chars.iter().enumerate() {
            if c != '@' {
                continue;
            }
            let local = chars[..k]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
                .count();
            let domain: String = chars[k + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                .collect();
            let domain = domain.trim_end_matches('.');
            let labelled = domain.split('.').count() >= 2
                && domain.split('.').all(|l| !l.is_empty())
                && domain.ends_with(|c: char| c.is_ascii_alphanumeric());
            if local > 0 && labelled {
                let start = k - local;
                found.push(Link {
                    line: n + 1,
                    target: format!(
                        "mailto:{}@{domain}",
                        chars[start..k].iter().collect::<String>()
                    ),
                });
            }
        }
    }
    found
}

/// GitHub's heading anchor: lowercase; everything but letters, digits,
/// spaces, hyphens and underscores removed; spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// A heading's text as GitHub renders it: code-span backticks, emphasis
/// and link targets gone.
fn rendered_heading(raw: &str) -> String {
    let mut text = String::new();
    let mut rest = raw;
    // `[text](target)` -> text
    while let Some(open) = rest.find('[') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after
            .find("](")
            .and_then(|c| after[c..].find(')').map(|e| (c, c + e)))
        {
            Some((c, e)) => {
                text.push_str(&after[..c]);
                rest = &after[e + 1..];
            }
            None => {
                text.push('[');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text.chars().filter(|&c| c != '`' && c != '*').collect()
}

/// The anchors of a document's headings (ATX and setext), with GitHub's
/// `-1`, `-2` suffixes for repeats.
fn anchors(text: &str) -> BTreeSet<String> {
    let plain = without_fences(text);
    let lines: Vec<&str> = plain.lines().collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut add = |heading: &str| {
        let base = slug(&rendered_heading(heading));
        let n = seen.entry(base.clone()).or_insert(0);
        let anchor = if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        *n += 1;
        out.insert(anchor);
    };
    for (k, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if line.len() - t.len() <= 3 && t.starts_with('#') {
            let level = t.chars().take_while(|&c| c == '#').count();
            let body = &t[level..];
            if level <= 6 && (body.is_empty() || body.starts_with([' ', '\t'])) {
                let body = body.trim();
                let body = body.trim_end_matches('#');
                add(body.trim_end());
                continue;
            }
        }
        let underline = line.trim();
        let setext = !underline.is_empty()
            && (underline.chars().all(|c| c == '=') || underline.chars().all(|c| c == '-'));
        if setext && k > 0 {
            let prev = lines[k - 1].trim();
            let prev_is_text = !prev.is_empty()
                && !prev.starts_with(['#', '-', '*', '+', '>', '|'])
                && !prev.chars().next().is_some_and(|c| c.is_ascii_digit());
            if prev_is_text {
                add(prev);
            }
        }
    }
    out
}

/// `base_dir/target` with `.` and `..` resolved, relative to the root;
/// `None` when it climbs above the root.
fn resolve(base_dir: &Path, target: &str) -> Option<PathBuf> {
    let joined = if let Some(abs) = target.strip_prefix('/') {
        PathBuf::from(abs)
    } else {
        base_dir.join(target)
    };
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every broken link of the documents under `root`, as `file:line: why`.
fn problems(root: &Path) -> Vec<String> {
    let files = markdown_files(root);
    let mut texts: BTreeMap<PathBuf, String> = BTreeMap::new();
    for f in &files {
        let text = fs::read_to_string(root.join(f)).unwrap_or_else(|e| panic!("{f:?}: {e}"));
        texts.insert(f.clone(), text);
    }
    let mut anchor_cache: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    let mut anchors_of = |path: &Path| -> Option<BTreeSet<String>> {
        if let Some(a) = anchor_cache.get(path) {
            return Some(a.clone());
        }
        let text = fs::read_to_string(root.join(path)).ok()?;
        let a = anchors(&text);
        anchor_cache.insert(path.to_path_buf(), a.clone());
        Some(a)
    };
    let mut out = Vec::new();
    for (file, text) in &texts {
        let here = file.display();
        let dir = file.parent().unwrap_or(Path::new(""));
        for link in bare_autolinks(text) {
            out.push(format!(
                "{here}:{}: `{}` is turned into a link to outside the repository; \
                 put it in a code span or name the document in plain text",
                link.line, link.target
            ));
        }
        for link in links(text) {
            let Link { line, target } = &link;
            if target.is_empty() {
                out.push(format!("{here}:{line}: empty link target"));
                continue;
            }
            if let Some(s) = scheme(target) {
                out.push(format!(
                    "{here}:{line}: `{target}` is a `{s}:` link, outside the repository; \
                     name the document in plain text"
                ));
                continue;
            }
            if target.starts_with("//") {
                out.push(format!("{here}:{line}: `{target}` points to another host"));
                continue;
            }
            let (path, fragment) = match target.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (target.as_str(), None),
            };
            let path = path.split_once('?').map_or(path, |(p, _)| p);
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                match resolve(dir, &percent_decoded(path)) {
                    Some(p) => p,
                    None => {
                        out.push(format!(
                            "{here}:{line}: `{target}` escapes the repository root"
                        ));
                        continue;
                    }
                }
            };
            if !root.join(&resolved).exists() {
                out.push(format!(
                    "{here}:{line}: `{target}`: no such file `{}`",
                    resolved.display()
                ));
                continue;
            }
            let Some(fragment) = fragment else { continue };
            let fragment = percent_decoded(fragment);
            if resolved.extension().is_some_and(|e| e == "md") {
                let known = anchors_of(&resolved).unwrap_or_default();
                if !known.contains(&fragment) {
                    out.push(format!(
                        "{here}:{line}: `{target}`: `{}` has no heading `#{fragment}`",
                        resolved.display()
                    ));
                }
            } else {
                let lines = fragment
                    .strip_prefix('L')
                    .is_some_and(|r| r.split("-L").all(|n| n.parse::<u32>().is_ok()));
                if !lines {
                    out.push(format!(
                        "{here}:{line}: `{target}`: only `#L<n>` anchors can point into `{}`",
                        resolved.display()
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn every_link_stays_in_the_repository_and_resolves() {
    let problems = problems(&repo_root());
    assert!(
        problems.is_empty(),
        "{} broken link(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_readme_is_a_five_minute_read_and_links_every_document() {
    let root = repo_root();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.len() < README_MAX_BYTES,
        "README.md is {} bytes; keep it under {README_MAX_BYTES} and move detail into docs/",
        readme.len()
    );
    let linked: BTreeSet<PathBuf> = links(&readme)
        .iter()
        .filter_map(|l| resolve(Path::new(""), l.target.split('#').next().unwrap()))
        .collect();
    for doc in DOCS {
        let path = Path::new("docs").join(doc);
        assert!(root.join(&path).is_file(), "{} is missing", path.display());
        assert!(
            linked.contains(&path),
            "README.md does not link {}",
            path.display()
        );
    }
}

#[test]
fn the_permissions_page_names_every_permission_of_the_table() {
    use mfa_core::graph::permissions::Need;
    let page = fs::read_to_string(repo_root().join("docs/permissions.md")).unwrap();
    for need in Need::ALL {
        for p in need.permissions() {
            assert!(
                page.contains(&format!("`{}`", p.least)),
                "docs/permissions.md lacks {} ({})",
                p.least,
                need.as_str()
            );
        }
    }
}

/// A problem's `type` is its code's row in docs/api.md: every code has
/// exactly one, with its status and title.
#[test]
fn every_error_code_has_its_row_in_the_api_reference() {
    let api = std::fs::read_to_string(repo_root().join("docs/api.md")).unwrap();
    for code in mfa_core::api::ErrorCode::ALL {
        let anchor = format!("<a id=\"error-{}\"></a>", code.as_str());
        let rows: Vec<&str> = api.lines().filter(|l| l.contains(&anchor)).collect();
        assert_eq!(rows.len(), 1, "{}: {rows:?}", code.as_str());
        let expected = format!(
            "| {anchor}`{}` | {} | {} |",
            code.as_str(),
            code.status().as_u16(),
            code.title()
        );
        assert_eq!(rows[0], expected);
    }
    let ids = api.matches("<a id=\"error-").count();
    assert_eq!(
        ids,
        mfa_core::api::ErrorCode::ALL.len(),
        "a row for a code that is gone"
    );
}

#[test]
fn slugs_follow_github() {
    assert_eq!(slug("GET /v1/audit"), "get-v1audit");
    assert_eq!(slug(&rendered_heading("GET `/v1/audit`")), "get-v1audit");
    assert_eq!(slug("GET /healthz, GET /readyz"), "get-healthz-get-readyz");
    assert_eq!(
        slug("GET /v1/openapi.json, GET /v1/swagger.json"),
        "get-v1openapijson-get-v1swaggerjson"
    );
    assert_eq!(
        slug("Scale-out (several instances)"),
        "scale-out-several-instances"
    );
    assert_eq!(
        slug(&rendered_heading("Mail.Send, `scoped` to the_sender")),
        "mailsend-scoped-to-the_sender"
    );
    assert_eq!(slug("Entra ID P2: 1⅓ days"), "entra-id-p2-1⅓-days");
    let a = anchors("# Tests\n\n## Known limitations\n\n## Known limitations\n\nText\n----\n```\n# not a heading\n```\n## [Linked](x.md) `code`\n");
    let want: BTreeSet<String> = [
        "tests",
        "known-limitations",
        "known-limitations-1",
        "text",
        "linked-code",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(a, want);
}

#[test]
fn links_in_code_are_not_links() {
    let text = "See [the API](docs/api.md#post-v1tap) and ![logo](img/logo.png).\n\
                Not `[this](https://example.com)` nor ``a ` [that](../x)``.\n\
                ```sh\n[fenced](https://example.com)\n```\n\
                  ~~~\n  [tilde](mailto:a@b.c)\n  ~~~\n\
                [ref]: ../README.md\n\
                A [span `x](y)` across](z.md) and <https://example.com> and \\[escaped](no.md).\n";
    let got: Vec<(usize, String)> = links(text)
        .into_iter()
        .map(|l| (l.line, l.target))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "docs/api.md#post-v1tap".to_string()),
            (1, "img/logo.png".to_string()),
            (9, "../README.md".to_string()),
            (10, "z.md".to_string()),
            (10, "https://example.com".to_string()),
        ]
    );
    // A code span may run over a line break, but not over a blank line.
    let wrapped = "`curl https://x\n  -H y` and [a](b.md)\n\n`open [c](d.md)\n";
    let got: Vec<String> = links(wrapped).into_iter().map(|l| l.target).collect();
    assert_eq!(got, vec!["b.md".to_string(), "d.md".to_string()]);
    // Bare URLs and addresses outside code would become links on GitHub.
    let bare: Vec<String> = bare_autolinks("mail ops@contoso.com or https://x.y, not `a@b.com`")
        .into_iter()
        .map(|l| l.target)
        .collect();
    assert_eq!(
        bare,
        vec![
            "https://x.y".to_string(),
            "mailto:ops@contoso.com".to_string()
        ]
    );
}

#[test]
fn targets_cannot_climb_out_of_the_root() {
    assert_eq!(
        resolve(Path::new("docs"), "../README.md"),
        Some(PathBuf::from("README.md"))
    );
    assert_eq!(
        resolve(Path::new("docs"), "./api.md"),
        Some(PathBuf::from("docs/api.md"))
    );
    assert_eq!(resolve(Path::new("docs"), "../../shared/API.md"), None);
    assert_eq!(resolve(Path::new(""), "../x"), None);
    assert_eq!(scheme("mailto:a@b.c"), Some("mailto"));
    assert_eq!(scheme("HTTPS://x"), Some("HTTPS"));
    assert_eq!(scheme("docs/api.md#a:b"), None);
    assert_eq!(scheme("api.md"), None);
}
