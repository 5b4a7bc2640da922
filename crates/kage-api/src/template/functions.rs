//! The functions a template may call, and what a checked expression writes and how long it can be.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kage_core::Plaintext;
use zeroize::{Zeroize, Zeroizing};

/// The functions a template may call, as `f(x, ...)` or as a filter `x | f(...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Function {
    B64Encode,
    B64Decode,
    Json,
    Yaml,
    UrlEncode,
    Indent(usize),
    DockerConfigJson,
}

/// Every function, by the name docs/templates.md gives it, with how many text arguments it
/// takes (`indent`'s width is a literal besides).
pub(super) const FUNCTIONS: &[(&str, Function, usize)] = &[
    ("b64encode", Function::B64Encode, 1),
    ("b64decode", Function::B64Decode, 1),
    ("json", Function::Json, 1),
    ("yaml", Function::Yaml, 1),
    ("urlencode", Function::UrlEncode, 1),
    ("indent", Function::Indent(0), 1),
    ("dockerconfigjson", Function::DockerConfigJson, 3),
];

impl Function {
    /// The function of that name and how many text arguments it takes.
    pub(super) fn named(name: &str) -> Option<(Function, usize)> {
        FUNCTIONS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, f, arity)| (*f, *arity))
    }

    /// Largest output for arguments of at most these lengths.
    pub(super) fn bound(self, args: &[usize]) -> usize {
        let n = args.first().copied().unwrap_or(0);
        match self {
            Function::B64Encode => n.div_ceil(3).saturating_mul(4),
            Function::B64Decode => n,
            Function::Json | Function::Yaml => quoted_bound(n),
            Function::UrlEncode => n.saturating_mul(3),
            Function::Indent(width) => n.saturating_mul(width + 1),
            Function::DockerConfigJson => {
                let arg = |i: usize| args.get(i).copied().unwrap_or(0);
                let (s, u, p) = (n, arg(1), arg(2));
                // base64 of "username:password", quoted: its alphabet needs no escaping.
                let auth = u.saturating_add(p).saturating_add(1).div_ceil(3) * 4 + 2;
                [s, u, p]
                    .iter()
                    .fold(DOCKER_CONFIG_OVERHEAD.saturating_add(auth), |sum, part| {
                        sum.saturating_add(quoted_bound(*part))
                    })
            }
        }
    }

    /// The function's output, appended to `out` (sized by the caller from [`Function::bound`],
    /// so that no partial copy of a value is left behind by a reallocation).
    pub(super) fn apply(self, args: &[Plaintext], out: &mut Vec<u8>) {
        let input = args.first().map(Plaintext::as_bytes).unwrap_or_default();
        match self {
            Function::B64Encode => {
                out.extend_from_slice(Zeroizing::new(STANDARD.encode(input)).as_bytes())
            }
            Function::B64Decode => lenient_base64_decode(input, out),
            Function::Json => quote(input, Quoting::Json, out),
            Function::Yaml => quote(input, Quoting::Yaml, out),
            Function::UrlEncode => url_encode(input, out),
            Function::Indent(width) => indent(input, width, out),
            Function::DockerConfigJson => docker_config_json(args, out),
        }
    }
}

/// The fixed text of `dockerconfigjson`'s output around its four quoted strings.
pub(super) const DOCKER_CONFIG_OVERHEAD: usize =
    r#"{"auths":{:{"username":,"password":,"auth":}}}"#.len();

/// Largest output of [`quote`] for `n` input bytes: at most six bytes per byte, and quotes.
pub(super) fn quoted_bound(n: usize) -> usize {
    n.saturating_mul(6).saturating_add(2)
}

/// One expression of a checked template.
#[derive(Debug)]
pub(super) enum Expr {
    /// Text of the template or a string literal.
    Text(Vec<u8>),
    /// A sealed value, by key.
    Value(String),
    /// `a ~ b`.
    Concat(Vec<Expr>),
    /// A function over its arguments.
    Call(Function, Vec<Expr>),
}

impl Expr {
    pub(super) fn bound(&self, lengths: &BTreeMap<String, usize>) -> usize {
        match self {
            Expr::Text(text) => text.len(),
            Expr::Value(key) => lengths.get(key).copied().unwrap_or(0),
            Expr::Concat(parts) => parts
                .iter()
                .fold(0, |sum, p| sum.saturating_add(p.bound(lengths))),
            Expr::Call(f, args) => {
                let bounds: Vec<usize> = args.iter().map(|a| a.bound(lengths)).collect();
                f.bound(&bounds)
            }
        }
    }

    /// The expression's output in a buffer sized by its bound over the actual lengths, which
    /// it never outgrows.
    pub(super) fn render(
        &self,
        values: &BTreeMap<String, Plaintext>,
        lengths: &BTreeMap<String, usize>,
    ) -> Plaintext {
        let mut out = Vec::with_capacity(self.bound(lengths));
        self.render_into(values, lengths, &mut out);
        Plaintext::new(out)
    }

    fn render_into(
        &self,
        values: &BTreeMap<String, Plaintext>,
        lengths: &BTreeMap<String, usize>,
        out: &mut Vec<u8>,
    ) {
        match self {
            Expr::Text(text) => out.extend_from_slice(text),
            // Checked: every name is a sealed key, and all of them were opened.
            Expr::Value(key) => {
                out.extend_from_slice(values.get(key).map(Plaintext::as_bytes).unwrap_or_default())
            }
            Expr::Concat(parts) => parts
                .iter()
                .for_each(|p| p.render_into(values, lengths, out)),
            Expr::Call(f, args) => {
                let args: Vec<Plaintext> = args.iter().map(|a| a.render(values, lengths)).collect();
                f.apply(&args, out);
            }
        }
    }

    pub(super) fn values_used<'a>(&'a self, used: &mut BTreeSet<&'a str>) {
        match self {
            Expr::Text(_) => {}
            Expr::Value(key) => {
                used.insert(key);
            }
            Expr::Concat(parts) | Expr::Call(_, parts) => {
                parts.iter().for_each(|p| p.values_used(used))
            }
        }
    }
}

/// Standard base64 (with `-` and `_` read as `+` and `/`), skipping every other byte (padding,
/// white space, anything else) and a last incomplete byte: defined for every input.
pub(super) fn lenient_base64_decode(input: &[u8], out: &mut Vec<u8>) {
    let (mut bits, mut count) = (0u32, 0u32);
    for &b in input {
        let sextet = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => continue,
        };
        bits = (bits << 6 | u32::from(sextet)) & 0xFFFF;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    bits.zeroize();
}

/// How [`quote`] escapes.
#[derive(Clone, Copy)]
pub(super) enum Quoting {
    /// A JSON string.
    Json,
    /// A YAML double-quoted scalar: also escapes what YAML folds or refuses (C1 controls, line
    /// and paragraph separators, the byte order mark).
    Yaml,
}

/// A quoted string of the input read as UTF-8, each invalid byte becoming U+FFFD: defined for
/// every input, at most six bytes per input byte.
pub(super) fn quote(input: &[u8], quoting: Quoting, out: &mut Vec<u8>) {
    use std::io::Write;
    out.push(b'"');
    for chunk in input.utf8_chunks() {
        for c in chunk.valid().chars() {
            let escape: Option<&str> = match c {
                '"' => Some("\\\""),
                '\\' => Some("\\\\"),
                '\n' => Some("\\n"),
                '\r' => Some("\\r"),
                '\t' => Some("\\t"),
                _ => None,
            };
            let needs_code = match quoting {
                Quoting::Json => c < ' ',
                Quoting::Yaml => {
                    c < ' '
                        || ('\u{7f}'..='\u{9f}').contains(&c)
                        || matches!(
                            c,
                            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                        )
                }
            };
            match escape {
                Some(e) => out.extend_from_slice(e.as_bytes()),
                None if needs_code => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                None => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
    out.push(b'"');
}

/// Percent-encoding of every byte but RFC 3986's unreserved characters.
pub(super) fn url_encode(input: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in input {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// Every line but the first, and but empty lines, indented by `width` spaces.
pub(super) fn indent(input: &[u8], width: usize, out: &mut Vec<u8>) {
    for (i, &b) in input.iter().enumerate() {
        out.push(b);
        if b == b'\n' && input.get(i + 1).is_some_and(|&next| next != b'\n') {
            out.extend(std::iter::repeat_n(b' ', width));
        }
    }
}

/// A `.dockerconfigjson` with one registry: `{"auths":{server:{username,password,auth}}}`.
pub(super) fn docker_config_json(args: &[Plaintext], out: &mut Vec<u8>) {
    let [server, username, password] = args else {
        return;
    };
    let mut user_pass = Zeroizing::new(Vec::with_capacity(username.len() + password.len() + 1));
    user_pass.extend_from_slice(username.as_bytes());
    user_pass.push(b':');
    user_pass.extend_from_slice(password.as_bytes());
    let auth = Zeroizing::new(STANDARD.encode(&*user_pass));
    out.extend_from_slice(br#"{"auths":{"#);
    quote(server.as_bytes(), Quoting::Json, out);
    out.extend_from_slice(br#":{"username":"#);
    quote(username.as_bytes(), Quoting::Json, out);
    out.extend_from_slice(br#","password":"#);
    quote(password.as_bytes(), Quoting::Json, out);
    out.extend_from_slice(br#","auth":"#);
    quote(auth.as_bytes(), Quoting::Json, out);
    out.extend_from_slice(b"}}}");
}
