//! A small OData `$filter` parser and evaluator (FACTS §7, §8, rule 3 and 8).
//!
//! Grammar: `or` / `and` / `not`, parentheses, `prop op literal` with
//! `eq ne gt ge lt le`, `prop in ('a','b')`, and `startswith(prop,'x')`.
//! Each endpoint lists the clauses it supports; anything else is refused.

use serde_json::Value;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    DateTime(OffsetDateTime),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp {
        prop: String,
        op: Op,
        lit: Lit,
    },
    In {
        prop: String,
        list: Vec<Lit>,
    },
    Func {
        name: String,
        prop: String,
        lit: Lit,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Str(String),
    Word(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match cs.get(i) {
                        None => return Err("unterminated string literal".into()),
                        Some('\'') if cs.get(i + 1) == Some(&'\'') => {
                            v.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            v.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            c if c.is_alphanumeric() || "_./:-+$@".contains(c) => {
                let start = i;
                while i < cs.len() && (cs[i].is_alphanumeric() || "_./:-+$@".contains(cs[i])) {
                    i += 1;
                }
                out.push(Tok::Word(cs[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_word(&self) -> Option<String> {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, t: Tok) -> Result<(), String> {
        match self.next() {
            Some(x) if x == t => Ok(()),
            other => Err(format!("expected {t:?}, found {other:?}")),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        while self.peek_word().as_deref() == Some("or") {
            self.pos += 1;
            let r = self.and()?;
            l = Expr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.unary()?;
        while self.peek_word().as_deref() == Some("and") {
            self.pos += 1;
            let r = self.unary()?;
            l = Expr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_word().as_deref() == Some("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn literal(&mut self) -> Result<Lit, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Lit::Str(s)),
            Some(Tok::Word(w)) => {
                let lw = w.to_ascii_lowercase();
                if lw == "true" {
                    return Ok(Lit::Bool(true));
                }
                if lw == "false" {
                    return Ok(Lit::Bool(false));
                }
                if lw == "null" {
                    return Ok(Lit::Null);
                }
                if let Ok(i) = w.parse::<i64>() {
                    return Ok(Lit::Int(i));
                }
                if let Some(t) = crate::clock::parse(&w) {
                    return Ok(Lit::DateTime(t));
                }
                if let Ok(f) = w.parse::<f64>() {
                    return Ok(Lit::Float(f));
                }
                Err(format!("'{w}' is not a literal"))
            }
            other => Err(format!("expected a literal, found {other:?}")),
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or()?;
                self.expect(Tok::RParen)?;
                Ok(e)
            }
            Some(Tok::Word(w)) => {
                if matches!(self.toks.get(self.pos), Some(Tok::LParen)) {
                    self.pos += 1;
                    let prop = match self.next() {
                        Some(Tok::Word(p)) => p,
                        other => return Err(format!("expected a property, found {other:?}")),
                    };
                    self.expect(Tok::Comma)?;
                    let lit = self.literal()?;
                    self.expect(Tok::RParen)?;
                    return Ok(Expr::Func {
                        name: w.to_ascii_lowercase(),
                        prop,
                        lit,
                    });
                }
                let op = self.peek_word().ok_or("expected an operator")?;
                self.pos += 1;
                let op = match op.as_str() {
                    "eq" => Op::Eq,
                    "ne" => Op::Ne,
                    "gt" => Op::Gt,
                    "ge" => Op::Ge,
                    "lt" => Op::Lt,
                    "le" => Op::Le,
                    "in" => {
                        self.expect(Tok::LParen)?;
                        let mut list = vec![self.literal()?];
                        while matches!(self.toks.get(self.pos), Some(Tok::Comma)) {
                            self.pos += 1;
                            list.push(self.literal()?);
                        }
                        self.expect(Tok::RParen)?;
                        return Ok(Expr::In { prop: w, list });
                    }
                    other => return Err(format!("unknown operator '{other}'")),
                };
                let lit = self.literal()?;
                Ok(Expr::Cmp { prop: w, op, lit })
            }
            other => Err(format!("unexpected token {other:?}")),
        }
    }
}

pub fn parse(s: &str) -> Result<Expr, String> {
    let toks = lex(s)?;
    if toks.is_empty() {
        return Err("empty filter".into());
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err("trailing tokens".into());
    }
    Ok(e)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Bool,
    DateTime,
}

/// One supported clause: property path, operators (incl. `in`, `startswith`) and literal kind.
pub type Clause = (&'static str, &'static [&'static str], Kind);

pub struct Spec {
    pub clauses: &'static [Clause],
    pub allow_or: bool,
    pub allow_not: bool,
}

/// Checks every leaf against the endpoint's supported clauses.
pub fn check(e: &Expr, spec: &Spec) -> Result<(), String> {
    let find = |prop: &str, op: &str| {
        spec.clauses
            .iter()
            .find(|(p, ops, _)| p.eq_ignore_ascii_case(prop) && ops.contains(&op))
            .map(|c| c.2)
            .ok_or_else(|| format!("unsupported clause '{prop} {op}'"))
    };
    let kind_ok = |k: Kind, l: &Lit| {
        matches!(
            (k, l),
            (Kind::Str, Lit::Str(_))
                | (Kind::Int, Lit::Int(_))
                | (Kind::Bool, Lit::Bool(_))
                | (Kind::DateTime, Lit::DateTime(_))
                | (_, Lit::Null)
        )
    };
    match e {
        Expr::And(a, b) => {
            check(a, spec)?;
            check(b, spec)
        }
        Expr::Or(a, b) => {
            if !spec.allow_or {
                return Err("'or' is not supported".into());
            }
            check(a, spec)?;
            check(b, spec)
        }
        Expr::Not(a) => {
            if !spec.allow_not {
                return Err("'not' is not supported".into());
            }
            check(a, spec)
        }
        Expr::Cmp { prop, op, lit } => {
            let k = find(prop, op.name())?;
            if kind_ok(k, lit) {
                Ok(())
            } else {
                Err(format!("literal of the wrong type for '{prop}'"))
            }
        }
        Expr::In { prop, list } => {
            let k = find(prop, "in")?;
            if list.iter().all(|l| kind_ok(k, l)) {
                Ok(())
            } else {
                Err(format!("literal of the wrong type for '{prop}'"))
            }
        }
        Expr::Func { name, prop, lit } => {
            let k = find(prop, name)?;
            if kind_ok(k, lit) {
                Ok(())
            } else {
                Err(format!("literal of the wrong type for '{prop}'"))
            }
        }
    }
}

/// The first property a filter names that the spec does not support.
pub fn first_property(e: &Expr) -> String {
    match e {
        Expr::And(a, _) | Expr::Or(a, _) | Expr::Not(a) => first_property(a),
        Expr::Cmp { prop, .. } | Expr::In { prop, .. } | Expr::Func { prop, .. } => prop.clone(),
    }
}

fn lookup<'a>(item: &'a Value, path: &str) -> &'a Value {
    let mut cur = item;
    for p in path.split('/') {
        cur = &cur[p];
    }
    cur
}

fn cmp_values(v: &Value, lit: &Lit, exact: bool) -> Option<std::cmp::Ordering> {
    match lit {
        Lit::Str(s) if exact => v.as_str().map(|x| x.cmp(s.as_str())),
        Lit::Str(s) => v.as_str().map(|x| x.to_lowercase().cmp(&s.to_lowercase())),
        Lit::Int(i) => v.as_i64().map(|x| x.cmp(i)),
        Lit::Float(f) => v.as_f64().and_then(|x| x.partial_cmp(f)),
        Lit::Bool(b) => v.as_bool().map(|x| x.cmp(b)),
        Lit::Null => Some(if v.is_null() {
            std::cmp::Ordering::Equal
        } else {
            std::cmp::Ordering::Greater
        }),
        Lit::DateTime(t) => v.as_str().and_then(crate::clock::parse).map(|x| x.cmp(t)),
    }
}

/// Evaluates a filter; string comparisons ignore case (Graph's directory behaviour).
pub fn eval(e: &Expr, item: &Value) -> bool {
    eval_case(e, item, &[])
}

/// Like [`eval`], but string comparisons on the `exact` properties are case-sensitive
/// (sign-in `userPrincipalName`: https://github.com/microsoftgraph/microsoft-graph-docs/issues/13684).
pub fn eval_case(e: &Expr, item: &Value, exact: &[&str]) -> bool {
    use std::cmp::Ordering::*;
    let is_exact = |p: &str| exact.iter().any(|x| x.eq_ignore_ascii_case(p));
    match e {
        Expr::And(a, b) => eval_case(a, item, exact) && eval_case(b, item, exact),
        Expr::Or(a, b) => eval_case(a, item, exact) || eval_case(b, item, exact),
        Expr::Not(a) => !eval_case(a, item, exact),
        Expr::Cmp { prop, op, lit } => {
            let v = lookup(item, prop);
            if v.is_array() {
                // Collections (e.g. otherMails) match when any element does.
                return v.as_array().into_iter().flatten().any(|x| {
                    let inner = Expr::Cmp {
                        prop: String::new(),
                        op: *op,
                        lit: lit.clone(),
                    };
                    let exact_inner: &[&str] = if is_exact(prop) { &[""] } else { &[] };
                    eval_case(&inner, &serde_json::json!({ "": x }), exact_inner)
                });
            }
            let Some(o) = cmp_values(v, lit, is_exact(prop)) else {
                return *op == Op::Ne;
            };
            match op {
                Op::Eq => o == Equal,
                Op::Ne => o != Equal,
                Op::Gt => o == Greater,
                Op::Ge => o != Less,
                Op::Lt => o == Less,
                Op::Le => o != Greater,
            }
        }
        Expr::In { prop, list } => {
            let v = lookup(item, prop);
            list.iter()
                .any(|l| cmp_values(v, l, is_exact(prop)) == Some(std::cmp::Ordering::Equal))
        }
        Expr::Func { name, prop, lit } => {
            let raw = lookup(item, prop).as_str().unwrap_or_default();
            let Lit::Str(s) = lit else { return false };
            let (v, s) = if is_exact(prop) {
                (raw.to_string(), s.clone())
            } else {
                (raw.to_lowercase(), s.to_lowercase())
            };
            match name.as_str() {
                "startswith" => v.starts_with(&s),
                "endswith" => v.ends_with(&s),
                "contains" => v.contains(&s),
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SIGNINS: Spec = Spec {
        clauses: &[
            ("createdDateTime", &["ge", "le"], Kind::DateTime),
            ("status/errorCode", &["eq", "ne"], Kind::Int),
            ("userId", &["eq"], Kind::Str),
        ],
        allow_or: true,
        allow_not: false,
    };

    #[test]
    fn parses_and_evaluates_nested() {
        let e = parse("createdDateTime ge 2026-01-01T00:00:00Z and (status/errorCode eq 500121 or status/errorCode eq 50074)").unwrap();
        check(&e, &SIGNINS).unwrap();
        let item = json!({"createdDateTime": "2026-02-01T00:00:00.0000000Z", "status": {"errorCode": 50074}});
        assert!(eval(&e, &item));
        let item = json!({"createdDateTime": "2025-02-01T00:00:00.0000000Z", "status": {"errorCode": 50074}});
        assert!(!eval(&e, &item));
    }

    #[test]
    fn unsupported_clause_refused() {
        let e = parse("ipAddress eq '1.2.3.4'").unwrap();
        assert!(check(&e, &SIGNINS).is_err());
        let e = parse("status/errorCode eq '500121'").unwrap();
        assert!(check(&e, &SIGNINS).is_err());
        assert!(parse("userId eq").is_err());
        assert!(parse("(userId eq 'a'").is_err());
    }

    #[test]
    fn exact_properties_compare_case_sensitively() {
        let item = json!({"userPrincipalName": "bob@contoso.com"});
        let eq = parse("userPrincipalName eq 'Bob@contoso.com'").unwrap();
        assert!(eval(&eq, &item));
        assert!(!eval_case(&eq, &item, &["userPrincipalName"]));
        let sw = parse("startswith(userPrincipalName,'BOB')").unwrap();
        assert!(!eval_case(&sw, &item, &["userPrincipalName"]));
        let sw = parse("startswith(userPrincipalName,'bob')").unwrap();
        assert!(eval_case(&sw, &item, &["userPrincipalName"]));
    }

    #[test]
    fn quotes_escape() {
        let e = parse("userId eq 'o''brien'").unwrap();
        assert!(eval(&e, &json!({"userId": "O'Brien"})));
    }
}
