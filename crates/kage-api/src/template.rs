//! `spec.template.data`: Secret values composed from a SealedSecret's own values and plain text.
//!
//! The language is Jinja's output syntax (`{{ ... }}`, parsed by minijinja), cut down to what
//! cannot leak: text, value names, string literals, `~` and a few functions, each defined for
//! every input. There are no `{% %}` blocks, comparisons or tests, so nothing a template does
//! depends on a value except the bytes it writes into the Secret.
//!
//! Everything that can fail (syntax, names, functions, arguments, size bounds, the Secret type)
//! is checked by [`Templates::check`] from the public parts of the object, before any value is
//! opened, and [`Templates::render`] cannot fail. So whoever may edit a SealedSecret but not
//! read its Secret learns nothing about the values from whether the controller succeeds: the
//! verdict is the same for every value of the same length.
//!
//! Rendering happens in the controller's reconcile and in offline `kage unseal` only, never on
//! an HTTP endpoint; [`renders`] counts renders so that tests and metrics can show it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kage_core::{Plaintext, SealedValue};
use minijinja::machinery::ast;
use minijinja::syntax::SyntaxConfig;
use zeroize::{Zeroize, Zeroizing};

use crate::crd::SealedSecret;
use crate::seal::{MAX_SECRET_DATA_BYTES, is_valid_key};

/// Most templated keys in one SealedSecret.
pub const MAX_TEMPLATED_KEYS: usize = 64;
/// Longest template text, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 16 * 1024;
/// Most expressions (value names, literals, functions, `~`) in one template: the fuel of a
/// render, since every expression is evaluated exactly once and there are no loops.
pub const MAX_TEMPLATE_EXPRESSIONS: usize = 256;
/// Deepest nesting of expressions in one template (functions inside functions).
pub const MAX_TEMPLATE_DEPTH: usize = 16;
/// Largest width `indent` accepts.
pub const MAX_INDENT: usize = 32;
/// Largest output one template may produce, in bytes, computed before rendering from the
/// lengths of the values it reads (public: age does not hide them) (the Secret as a whole is held to
/// [`MAX_SECRET_DATA_BYTES`] the same way).
pub const MAX_TEMPLATE_OUTPUT_BYTES: usize = 512 * 1024;
/// Name through which a template reads a value whose key is not a Jinja name:
/// `values["tls.crt"]`.
pub const VALUES_NAME: &str = "values";

/// Secret types whose values a template may write: the ordinary credential types, whose
/// content the API server does not check, or checks only in a key that
/// [`CONTENT_CHECKED_KEYS`] guards. Any other type (a bootstrap token, say) is validated value
/// by value, and a refused write would tell the template's author something about a value.
pub const TEMPLATABLE_TYPES: &[&str] = crate::names::ORDINARY_SECRET_TYPES;

/// Keys the API server parses as JSON for a type: a template may write such a key only as one
/// `dockerconfigjson(...)` call, whose output is JSON for every input (`.dockercfg` not at all).
pub const CONTENT_CHECKED_KEYS: &[(&str, &str)] = &[
    ("kubernetes.io/dockerconfigjson", ".dockerconfigjson"),
    ("kubernetes.io/dockercfg", ".dockercfg"),
];

static RENDERS: AtomicU64 = AtomicU64::new(0);

/// How many templates this process has rendered.
pub fn renders() -> u64 {
    RENDERS.load(Ordering::Relaxed)
}

/// Why a SealedSecret's templates are refused. Decided from the template text, the sealed keys
/// and the lengths of the values (public) only, never from a value, and naming no value.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// More templated keys than [`MAX_TEMPLATED_KEYS`].
    #[error("spec.template.data has {0} keys, more than the limit of {MAX_TEMPLATED_KEYS}")]
    TooManyTemplates(usize),
    /// One template is wrong; the problem names the line.
    #[error("spec.template.data.{key}: {problem}")]
    Invalid {
        /// The templated key.
        key: String,
        /// What is wrong, with the line of the template.
        problem: String,
    },
    /// `omit` names a key that is not sealed here.
    #[error("spec.template.omit names {0:?}, which is not a key of spec.encryptedData")]
    UnknownOmit(String),
    /// A templated key would silently replace a sealed value.
    #[error(
        "spec.template.data.{0} has the name of a sealed value: add {0:?} to spec.template.omit to replace that value with the template"
    )]
    Collision(String),
    /// The Secret type allows no templates.
    #[error(
        "spec.template.data is not allowed for Secret type {0:?}: the API server checks the content of its values, so a refused write would reveal something about them"
    )]
    TypeNotTemplatable(String),
    /// The Secret could grow beyond [`MAX_SECRET_DATA_BYTES`].
    #[error(
        "the Secret could reach {0} bytes with these templates (bound from the lengths of the values), more than the limit of {MAX_SECRET_DATA_BYTES}"
    )]
    SecretTooLarge(usize),
}

/// The functions a template may call, as `f(x, ...)` or as a filter `x | f(...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Function {
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
const FUNCTIONS: &[(&str, Function, usize)] = &[
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
    fn named(name: &str) -> Option<(Function, usize)> {
        FUNCTIONS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, f, arity)| (*f, *arity))
    }

    /// Largest output for arguments of at most these lengths.
    fn bound(self, args: &[usize]) -> usize {
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
    fn apply(self, args: &[Plaintext], out: &mut Vec<u8>) {
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
const DOCKER_CONFIG_OVERHEAD: usize = r#"{"auths":{:{"username":,"password":,"auth":}}}"#.len();

/// Largest output of [`quote`] for `n` input bytes: at most six bytes per byte, and quotes.
fn quoted_bound(n: usize) -> usize {
    n.saturating_mul(6).saturating_add(2)
}

/// One expression of a checked template.
#[derive(Debug)]
enum Expr {
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
    fn bound(&self, lengths: &BTreeMap<String, usize>) -> usize {
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
    fn render(
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

    fn values_used<'a>(&'a self, used: &mut BTreeSet<&'a str>) {
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

/// The checked templates of one SealedSecret, ready to render once its values are open.
#[derive(Debug, Default)]
pub struct Templates {
    outputs: BTreeMap<String, Expr>,
    omit: BTreeSet<String>,
}

impl Templates {
    /// Checks the templates of `sealed` from what anyone reading the object sees: the template
    /// text, the sealed keys, the lengths of the values and the Secret type. Nothing is opened.
    pub fn check(sealed: &SealedSecret) -> Result<Self, TemplateError> {
        // A value that does not parse (and will not open) is bounded by its sealed form.
        Self::check_with_lengths(sealed, || {
            sealed
                .spec
                .encrypted_data
                .iter()
                .map(|(k, text)| {
                    let len = SealedValue::from_base64(text)
                        .map_or(text.len().div_ceil(4) * 3, |v| v.value_len());
                    (k.clone(), len)
                })
                .collect()
        })
    }

    /// [`Templates::check`] for a caller that has read the sealed values already (each is
    /// parsed once).
    pub fn check_values(
        sealed: &SealedSecret,
        values: &[(String, SealedValue)],
    ) -> Result<Self, TemplateError> {
        Self::check_with_lengths(sealed, || {
            values
                .iter()
                .map(|(key, value)| (key.clone(), value.value_len()))
                .collect()
        })
    }

    /// The check, with the length of each value (public: age does not hide it), asked for
    /// only when there are templates.
    fn check_with_lengths(
        sealed: &SealedSecret,
        lengths: impl FnOnce() -> BTreeMap<String, usize>,
    ) -> Result<Self, TemplateError> {
        let Some(template) = &sealed.spec.template else {
            return Ok(Templates::default());
        };
        let sealed_keys = &sealed.spec.encrypted_data;
        for key in &template.omit {
            if !sealed_keys.contains_key(key) {
                return Err(TemplateError::UnknownOmit(key.clone()));
            }
        }
        let omit: BTreeSet<String> = template.omit.iter().cloned().collect();
        if template.data.is_empty() {
            return Ok(Templates {
                outputs: BTreeMap::new(),
                omit,
            });
        }
        if template.data.len() > MAX_TEMPLATED_KEYS {
            return Err(TemplateError::TooManyTemplates(template.data.len()));
        }
        let type_ = template.type_.as_deref().unwrap_or("Opaque");
        if !TEMPLATABLE_TYPES.contains(&type_) {
            return Err(TemplateError::TypeNotTemplatable(type_.to_owned()));
        }
        let lengths = lengths();
        let mut outputs = BTreeMap::new();
        let mut total: usize = lengths
            .iter()
            .filter(|(k, _)| !omit.contains(*k) && !template.data.contains_key(*k))
            .map(|(_, n)| *n)
            .sum();
        for (key, text) in &template.data {
            let invalid = |problem: String| TemplateError::Invalid {
                key: key.clone(),
                problem,
            };
            if !is_valid_key(key) {
                return Err(invalid(
                    "not a valid data key: use letters, digits, '-', '_' or '.'".to_owned(),
                ));
            }
            if sealed_keys.contains_key(key) && !omit.contains(key) {
                return Err(TemplateError::Collision(key.clone()));
            }
            let expr = compile(text, sealed_keys).map_err(invalid)?;
            if let Some((_, checked)) = CONTENT_CHECKED_KEYS
                .iter()
                .find(|(t, k)| *t == type_ && k == key)
                && !matches!(expr, Expr::Call(Function::DockerConfigJson, _))
            {
                return Err(invalid(format!(
                    "for Secret type {type_} the API server parses {checked} as JSON: write it as one {{{{ dockerconfigjson(server, username, password) }}}}"
                )));
            }
            let bound = expr.bound(&lengths);
            if bound > MAX_TEMPLATE_OUTPUT_BYTES {
                return Err(invalid(format!(
                    "the output could reach {bound} bytes (bound from the lengths of the values it reads), more than the limit of {MAX_TEMPLATE_OUTPUT_BYTES}"
                )));
            }
            total = total.saturating_add(bound);
            outputs.insert(key.clone(), expr);
        }
        if total > MAX_SECRET_DATA_BYTES {
            return Err(TemplateError::SecretTooLarge(total));
        }
        Ok(Templates { outputs, omit })
    }

    /// Whether there is nothing to render and nothing to omit.
    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty() && self.omit.is_empty()
    }

    /// The Secret's data from the opened values: every value not omitted, then every
    /// template's output. Cannot fail: everything that could was checked before.
    pub fn render(&self, mut values: BTreeMap<String, Plaintext>) -> BTreeMap<String, Plaintext> {
        if !self.outputs.is_empty() {
            RENDERS.fetch_add(1, Ordering::Relaxed);
        }
        let lengths: BTreeMap<String, usize> =
            values.iter().map(|(k, v)| (k.clone(), v.len())).collect();
        let rendered: Vec<(String, Plaintext)> = self
            .outputs
            .iter()
            .map(|(key, expr)| (key.clone(), expr.render(&values, &lengths)))
            .collect();
        values.retain(|k, _| !self.omit.contains(k));
        values.extend(rendered);
        values
    }

    /// Each templated key with the sealed keys its template reads.
    pub fn uses(&self) -> BTreeMap<&str, BTreeSet<&str>> {
        self.outputs
            .iter()
            .map(|(key, expr)| {
                let mut used = BTreeSet::new();
                expr.values_used(&mut used);
                (key.as_str(), used)
            })
            .collect()
    }

    /// The sealed keys kept out of the Secret.
    pub fn omitted(&self) -> &BTreeSet<String> {
        &self.omit
    }
}

/// Parses one template and checks it against the sealed keys.
fn compile(text: &str, sealed_keys: &BTreeMap<String, String>) -> Result<Expr, String> {
    if text.len() > MAX_TEMPLATE_BYTES {
        return Err(format!(
            "the template has {} bytes, more than the limit of {MAX_TEMPLATE_BYTES}",
            text.len()
        ));
    }
    let syntax = SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| e.to_string())?;
    let root = minijinja::machinery::parse(text, "template", syntax).map_err(|e| {
        // minijinja's message quotes only the template, never a value.
        let line = e.line().map(|l| format!("line {l}: ")).unwrap_or_default();
        format!("{line}{}", e.detail().unwrap_or("syntax error"))
    })?;
    let mut compiler = Compiler {
        sealed_keys,
        expressions: 0,
    };
    let ast::Stmt::Template(template) = &root else {
        return Err("not a template".to_owned());
    };
    let mut parts = Vec::new();
    for child in &template.children {
        match child {
            ast::Stmt::EmitRaw(raw) => parts.push(Expr::Text(raw.raw.as_bytes().to_vec())),
            ast::Stmt::EmitExpr(emit) => parts.push(compiler.expr(&emit.expr, 0)?),
            other => {
                return Err(format!(
                    "line {}: only {{{{ ... }}}} is allowed: {{% %}} blocks (conditions, loops, assignments) could make the output depend on a value",
                    stmt_line(other)
                ));
            }
        }
    }
    Ok(match parts.len() {
        1 => parts.remove(0),
        _ => Expr::Concat(parts),
    })
}

fn stmt_line(stmt: &ast::Stmt<'_>) -> u16 {
    match stmt {
        ast::Stmt::ForLoop(s) => s.span().start_line,
        ast::Stmt::IfCond(s) => s.span().start_line,
        ast::Stmt::WithBlock(s) => s.span().start_line,
        ast::Stmt::Set(s) => s.span().start_line,
        ast::Stmt::SetBlock(s) => s.span().start_line,
        ast::Stmt::AutoEscape(s) => s.span().start_line,
        ast::Stmt::FilterBlock(s) => s.span().start_line,
        ast::Stmt::Do(s) => s.span().start_line,
        _ => 0,
    }
}

fn expr_line(expr: &ast::Expr<'_>) -> u16 {
    match expr {
        ast::Expr::Var(e) => e.span().start_line,
        ast::Expr::Const(e) => e.span().start_line,
        ast::Expr::Slice(e) => e.span().start_line,
        ast::Expr::UnaryOp(e) => e.span().start_line,
        ast::Expr::BinOp(e) => e.span().start_line,
        ast::Expr::Compare(e) => e.span().start_line,
        ast::Expr::IfExpr(e) => e.span().start_line,
        ast::Expr::Filter(e) => e.span().start_line,
        ast::Expr::Test(e) => e.span().start_line,
        ast::Expr::GetAttr(e) => e.span().start_line,
        ast::Expr::GetItem(e) => e.span().start_line,
        ast::Expr::Call(e) => e.span().start_line,
        ast::Expr::List(e) => e.span().start_line,
        ast::Expr::Tuple(e) => e.span().start_line,
        ast::Expr::Map(e) => e.span().start_line,
    }
}

struct Compiler<'a> {
    sealed_keys: &'a BTreeMap<String, String>,
    expressions: usize,
}

impl Compiler<'_> {
    fn expr(&mut self, expr: &ast::Expr<'_>, depth: usize) -> Result<Expr, String> {
        let line = expr_line(expr);
        let at = |message: String| format!("line {line}: {message}");
        self.expressions += 1;
        if self.expressions > MAX_TEMPLATE_EXPRESSIONS {
            return Err(at(format!(
                "more than {MAX_TEMPLATE_EXPRESSIONS} expressions in one template"
            )));
        }
        if depth > MAX_TEMPLATE_DEPTH {
            return Err(at(format!(
                "expressions nested deeper than {MAX_TEMPLATE_DEPTH}"
            )));
        }
        match expr {
            ast::Expr::Var(var) => self.value(var.id).map_err(at),
            ast::Expr::Const(c) => match c.value.as_str() {
                Some(text) => Ok(Expr::Text(text.as_bytes().to_vec())),
                None => Err(at(format!(
                    "the literal {} is not a string: quote it",
                    c.value
                ))),
            },
            ast::Expr::GetItem(item) => match (&item.expr, &item.subscript_expr) {
                (ast::Expr::Var(var), ast::Expr::Const(key)) if var.id == VALUES_NAME => {
                    match key.value.as_str() {
                        Some(key) => self.value(key).map_err(at),
                        None => Err(at(format!("{VALUES_NAME}[...] takes a quoted key"))),
                    }
                }
                _ => Err(at(format!(
                    "only {VALUES_NAME}[\"key\"] may be indexed, with a quoted key"
                ))),
            },
            ast::Expr::BinOp(op) if matches!(op.op, ast::BinOpKind::Concat) => Ok(Expr::Concat(
                vec![self.expr(&op.left, depth + 1)?, self.expr(&op.right, depth + 1)?],
            )),
            ast::Expr::Filter(filter) => {
                let piped = filter
                    .expr
                    .as_ref()
                    .ok_or_else(|| at(format!("{} needs a value to filter", filter.name)))?;
                self.call(filter.name, Some(piped), &filter.args, depth)
                    .map_err(at)
            }
            ast::Expr::Call(call) => match &call.expr {
                ast::Expr::Var(name) => self.call(name.id, None, &call.args, depth).map_err(at),
                _ => Err(at("only the functions of docs/templates.md can be called".to_owned())),
            },
            ast::Expr::Compare(_) | ast::Expr::Test(_) | ast::Expr::IfExpr(_) => Err(at(
                "comparisons, tests and conditional expressions are not allowed: they would make the output depend on a value"
                    .to_owned(),
            )),
            _ => Err(at(
                "only value names, quoted text, `~` and the functions of docs/templates.md are allowed"
                    .to_owned(),
            )),
        }
    }

    fn value(&self, key: &str) -> Result<Expr, String> {
        if self.sealed_keys.contains_key(key) {
            return Ok(Expr::Value(key.to_owned()));
        }
        if Function::named(key).is_some() {
            return Err(format!("{key} is a function: call it, {key}(...)"));
        }
        let known: Vec<&str> = self.sealed_keys.keys().map(String::as_str).collect();
        Err(format!(
            "unknown value {key:?}: this SealedSecret seals {}",
            if known.is_empty() {
                "nothing".to_owned()
            } else {
                known.join(", ")
            }
        ))
    }

    fn call(
        &mut self,
        name: &str,
        piped: Option<&ast::Expr<'_>>,
        args: &[ast::CallArg<'_>],
        depth: usize,
    ) -> Result<Expr, String> {
        let (mut function, arity) = Function::named(name).ok_or_else(|| {
            format!(
                "unknown function {name:?}: the functions are {}",
                FUNCTIONS
                    .iter()
                    .map(|(n, _, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let mut positional = Vec::new();
        positional.extend(piped);
        for arg in args {
            match arg {
                ast::CallArg::Pos(expr) => positional.push(expr),
                _ => return Err(format!("{name} takes positional arguments only")),
            }
        }
        if let Function::Indent(_) = function {
            // The width is a literal: a value can never decide how much is written.
            let width = match positional.pop() {
                Some(ast::Expr::Const(c)) => c.value.as_usize(),
                _ => None,
            };
            match width {
                Some(width) if width <= MAX_INDENT && positional.len() == 1 => {
                    function = Function::Indent(width)
                }
                _ => {
                    return Err(format!(
                        "indent takes a text and a literal width of at most {MAX_INDENT}: x | indent(4)"
                    ));
                }
            }
        }
        if positional.len() != arity {
            return Err(format!(
                "{name} takes {arity} argument{}, found {}",
                if arity == 1 { "" } else { "s" },
                positional.len()
            ));
        }
        let args = positional
            .into_iter()
            .map(|e| self.expr(e, depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Expr::Call(function, args))
    }
}

/// Standard base64 (with `-` and `_` read as `+` and `/`), skipping every other byte (padding,
/// white space, anything else) and a last incomplete byte: defined for every input.
fn lenient_base64_decode(input: &[u8], out: &mut Vec<u8>) {
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
enum Quoting {
    /// A JSON string.
    Json,
    /// A YAML double-quoted scalar: also escapes what YAML folds or refuses (C1 controls, line
    /// and paragraph separators, the byte order mark).
    Yaml,
}

/// A quoted string of the input read as UTF-8, each invalid byte becoming U+FFFD: defined for
/// every input, at most six bytes per input byte.
fn quote(input: &[u8], quoting: Quoting, out: &mut Vec<u8>) {
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
fn url_encode(input: &[u8], out: &mut Vec<u8>) {
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
fn indent(input: &[u8], width: usize, out: &mut Vec<u8>) {
    for (i, &b) in input.iter().enumerate() {
        out.push(b);
        if b == b'\n' && input.get(i + 1).is_some_and(|&next| next != b'\n') {
            out.extend(std::iter::repeat_n(b' ', width));
        }
    }
}

/// A `.dockerconfigjson` with one registry: `{"auths":{server:{username,password,auth}}}`.
fn docker_config_json(args: &[Plaintext], out: &mut Vec<u8>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{SealedSecretSpec, SecretTemplate};
    use proptest::prelude::*;

    /// A SealedSecret with sealed keys of the given sealed lengths and these templates.
    fn object(sealed: &[(&str, usize)], data: &[(&str, &str)], omit: &[&str]) -> SealedSecret {
        SealedSecret::new(
            "app",
            SealedSecretSpec {
                encrypted_data: sealed
                    .iter()
                    .map(|(k, n)| ((*k).to_owned(), "A".repeat(*n)))
                    .collect(),
                template: Some(SecretTemplate {
                    data: data
                        .iter()
                        .map(|(k, t)| ((*k).to_owned(), (*t).to_owned()))
                        .collect(),
                    omit: omit.iter().map(|k| (*k).to_owned()).collect(),
                    ..SecretTemplate::default()
                }),
            },
        )
    }

    fn values(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Plaintext> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Plaintext::from(*v)))
            .collect()
    }

    fn render_one(template: &str, pairs: &[(&str, &[u8])]) -> Vec<u8> {
        let sealed: Vec<(&str, usize)> = pairs.iter().map(|(k, _)| (*k, 400)).collect();
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
        let templates = Templates::check(&object(&sealed, &[("out", template)], &keys)).unwrap();
        templates.render(values(pairs))["out"].as_bytes().to_vec()
    }

    fn refusal(sealed: &[(&str, usize)], data: &[(&str, &str)], omit: &[&str]) -> String {
        Templates::check(&object(sealed, data, omit))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_database_url_a_config_file_and_a_docker_config_render_to_exact_bytes() {
        let url = render_one(
            "postgres://{{ user | urlencode }}:{{ values[\"db-password\"] | urlencode }}@db:5432/app",
            &[("user", b"app"), ("db-password", b"p@ss/w:rd %")],
        );
        assert_eq!(url, b"postgres://app:p%40ss%2Fw%3Ard%20%25@db:5432/app");

        let config = render_one(
            "token: {{ token | yaml }}\ncert: |\n  {{ cert | indent(2) }}\n",
            &[
                ("token", b"a\"b\n"),
                ("cert", b"-----BEGIN-----\nAAA\n-----END-----\n"),
            ],
        );
        assert_eq!(
            String::from_utf8(config).unwrap(),
            "token: \"a\\\"b\\n\"\ncert: |\n  -----BEGIN-----\n  AAA\n  -----END-----\n\n"
        );

        let docker = render_one(
            "{{ dockerconfigjson(\"registry.example.com\", user, password) }}",
            &[("user", b"robot"), ("password", b"s3cr\"et")],
        );
        let parsed: serde_json::Value = serde_json::from_slice(&docker).unwrap();
        let entry = &parsed["auths"]["registry.example.com"];
        assert_eq!(entry["username"], "robot");
        assert_eq!(entry["password"], "s3cr\"et");
        assert_eq!(entry["auth"], STANDARD.encode("robot:s3cr\"et"));
    }

    #[test]
    fn omitted_parts_leave_the_secret_and_a_template_may_replace_an_omitted_key() {
        let templates = Templates::check(&object(
            &[("user", 200), ("password", 200)],
            &[("password", "{{ user }}:{{ password }}")],
            &["user", "password"],
        ))
        .unwrap();
        let data = templates.render(values(&[("user", b"u"), ("password", b"p")]));
        let keys: Vec<&String> = data.keys().collect();
        assert_eq!(keys, ["password"]);
        assert_eq!(data["password"].as_bytes(), b"u:p");
        let uses = templates.uses();
        assert_eq!(
            uses["password"].iter().copied().collect::<Vec<_>>(),
            ["password", "user"]
        );
    }

    #[test]
    fn what_could_branch_on_a_value_is_refused_before_anything_is_opened() {
        let s = [("password", 200)];
        for template in [
            "{% if password %}x{% endif %}",
            "{% for c in password %}{{ c }}{% endfor %}",
            "{% set x = password %}{{ x }}",
            "{{ 'a' if password == 'b' else 'c' }}",
            "{{ password == 'hunter2' }}",
            "{{ password is defined }}",
            "{{ password[0] }}",
            "{{ password[1:3] }}",
            "{{ password.upper() }}",
            "{{ password | length }}",
            "{{ password + 'x' }}",
            "{{ indent(password, password) }}",
            "{{ [password] }}",
        ] {
            let message = refusal(&s, &[("out", template)], &[]);
            assert!(
                message.starts_with("spec.template.data.out: line 1: "),
                "{template}: {message}"
            );
        }
        assert!(
            refusal(&s, &[("out", "{{ pasword }}")], &[])
                .contains("unknown value \"pasword\": this SealedSecret seals password")
        );
        assert!(
            refusal(&s, &[("out", "{{ password | nosuch }}")], &[])
                .contains("unknown function \"nosuch\"")
        );
        assert!(refusal(&s, &[("out", "{{ password")], &[]).contains("line 1: "));
        assert!(
            refusal(
                &s,
                &[("out", "a\n{{ b64encode(password, password) }}")],
                &[]
            )
            .contains("line 2: b64encode takes 1 argument, found 2")
        );
    }

    #[test]
    fn names_types_and_collisions_are_checked() {
        let s = [("password", 200), ("user", 200)];
        assert_eq!(
            Templates::check(&object(&s, &[("password", "{{ user }}")], &[])).unwrap_err(),
            TemplateError::Collision("password".into())
        );
        assert_eq!(
            Templates::check(&object(&s, &[], &["nope"])).unwrap_err(),
            TemplateError::UnknownOmit("nope".into())
        );
        assert!(refusal(&s, &[("bad/key", "x")], &[]).contains("not a valid data key"));
        let mut typed = object(&s, &[("token-id", "{{ user }}")], &[]);
        typed.spec.template.as_mut().unwrap().type_ = Some("bootstrap.kubernetes.io/token".into());
        assert_eq!(
            Templates::check(&typed).unwrap_err(),
            TemplateError::TypeNotTemplatable("bootstrap.kubernetes.io/token".into())
        );
        let mut docker = object(&s, &[(".dockerconfigjson", "{{ password }}")], &[]);
        docker.spec.template.as_mut().unwrap().type_ =
            Some("kubernetes.io/dockerconfigjson".into());
        assert!(
            Templates::check(&docker)
                .unwrap_err()
                .to_string()
                .contains("parses .dockerconfigjson as JSON")
        );
        docker.spec.template.as_mut().unwrap().data.insert(
            ".dockerconfigjson".into(),
            "{{ dockerconfigjson('r.example', user, password) }}".into(),
        );
        assert!(Templates::check(&docker).is_ok());
    }

    #[test]
    fn every_limit_is_refused_with_its_name() {
        let s = [("v", 100)];
        let many: Vec<(String, String)> = (0..=MAX_TEMPLATED_KEYS)
            .map(|i| (format!("k{i}"), "x".to_owned()))
            .collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            Templates::check(&object(&s, &many, &[])).unwrap_err(),
            TemplateError::TooManyTemplates(MAX_TEMPLATED_KEYS + 1)
        );
        let long = "x".repeat(MAX_TEMPLATE_BYTES + 1);
        assert!(
            refusal(&s, &[("o", &long)], &[])
                .contains(&format!("more than the limit of {MAX_TEMPLATE_BYTES}"))
        );
        assert!(Templates::check(&object(&s, &[("o", &long[1..])], &[])).is_ok());

        let exprs = vec!["{{ v }}"; MAX_TEMPLATE_EXPRESSIONS + 1].concat();
        assert!(
            refusal(&[("v", 1)], &[("o", &exprs)], &[])
                .contains(&format!("more than {MAX_TEMPLATE_EXPRESSIONS} expressions"))
        );
        let deep = format!("{{{{ v{} }}}}", " | json".repeat(MAX_TEMPLATE_DEPTH + 1));
        assert!(
            refusal(&[("v", 1)], &[("o", &deep)], &[])
                .contains(&format!("nested deeper than {MAX_TEMPLATE_DEPTH}"))
        );
        let ok_deep = format!("{{{{ v{} }}}}", " | b64decode".repeat(MAX_TEMPLATE_DEPTH));
        assert!(Templates::check(&object(&[("v", 1)], &[("o", &ok_deep)], &[])).is_ok());

        assert!(
            refusal(
                &s,
                &[("o", &format!("{{{{ v | indent({}) }}}}", MAX_INDENT + 1))],
                &[]
            )
            .contains("at most 32")
        );

        // A value that does not parse is bounded by its sealed form: 250 000 base64 characters
        // hold at most 187 500 bytes.
        let big = [("v", 250_000)];
        assert!(Templates::check(&object(&big, &[("o", "{{ v }}")], &["v"])).is_ok());
        assert!(
            refusal(&big, &[("o", "{{ v | urlencode }}")], &["v"]).contains(&format!(
                "more than the limit of {MAX_TEMPLATE_OUTPUT_BYTES}"
            ))
        );
        assert_eq!(
            Templates::check(&object(
                &big,
                &[
                    ("a", "{{ v }}"),
                    ("b", "{{ v }}"),
                    ("c", "{{ v }}"),
                    ("d", "{{ v }}"),
                    ("e", "{{ v }}")
                ],
                &[]
            ))
            .unwrap_err(),
            TemplateError::SecretTooLarge(187_500 * 6)
        );
    }

    #[test]
    fn the_bound_uses_the_exact_length_of_each_value_and_nothing_else() {
        use kage_core::{Identity, Location, Scope, seal};
        let id = Identity::generate();
        let sealed_with = |value: &[u8]| {
            let binding =
                kage_core::Binding::new(Scope::Strict, &Location::new("ns", "app", "v")).unwrap();
            let text = seal(value, &binding, std::slice::from_ref(id.recipient()))
                .unwrap()
                .to_base64();
            let mut o = object(&[], &[("o", "{{ v | urlencode }}")], &["v"]);
            o.spec.encrypted_data.insert("v".into(), text);
            Templates::check(&o).map(|_| ())
        };
        let edge = MAX_TEMPLATE_OUTPUT_BYTES / 3;
        // Two values of one length, one with nothing to escape and one with everything: the
        // same verdict, decided by the length alone.
        assert!(sealed_with(&vec![b'a'; edge]).is_ok());
        assert!(sealed_with(&vec![b'%'; edge]).is_ok());
        assert!(sealed_with(&vec![b'a'; edge + 1]).is_err());
        assert!(sealed_with(&vec![b'%'; edge + 1]).is_err());
    }

    #[test]
    fn each_bound_holds_for_the_worst_input_of_its_length() {
        let worst: &[(Function, &[&[u8]])] = &[
            (Function::B64Encode, &[b"\xff\xff\xff\xff"]),
            (Function::Json, &[b"\x01\x02\x03"]),
            (Function::Yaml, &[b"\x01\x02\x03"]),
            (Function::UrlEncode, &[b"%%%%"]),
            (Function::Indent(1), &[b"\na\na\na"]),
            (
                Function::DockerConfigJson,
                &[
                    b"\x01\x01\x01",
                    b"\x01\x01\x01\x01",
                    b"\x01\x01\x01\x01\x01",
                ],
            ),
        ];
        for (function, args) in worst {
            let args: Vec<Plaintext> = args.iter().map(|a| Plaintext::from(*a)).collect();
            let mut out = Vec::new();
            function.apply(&args, &mut out);
            let lengths: Vec<usize> = args.iter().map(Plaintext::len).collect();
            assert!(
                out.len() <= function.bound(&lengths),
                "{function:?}: {} > {}",
                out.len(),
                function.bound(&lengths)
            );
            // And no looser than it must be (indent's bound assumes every byte a line).
            if !matches!(function, Function::Indent(_)) {
                assert_eq!(out.len(), function.bound(&lengths), "{function:?}");
            }
        }
    }

    /// The check with these value lengths (as a sealed value's public length gives them).
    fn check_lengths(
        sealed: &[(&str, usize)],
        data: &[(&str, &str)],
        omit: &[&str],
    ) -> Result<Templates, TemplateError> {
        let lengths = sealed.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect();
        Templates::check_with_lengths(&object(sealed, data, omit), || lengths)
    }

    #[test]
    fn each_limit_admits_exactly_its_value() {
        let at_limit: Vec<(String, String)> = (0..MAX_TEMPLATED_KEYS)
            .map(|i| (format!("k{i}"), "x".to_owned()))
            .collect();
        let at_limit: Vec<(&str, &str)> = at_limit
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert!(check_lengths(&[("v", 1)], &at_limit, &[]).is_ok());

        let output = [("v", MAX_TEMPLATE_OUTPUT_BYTES)];
        assert!(check_lengths(&output, &[("o", "{{ v }}")], &["v"]).is_ok());
        assert!(check_lengths(&output, &[("o", "{{ v }}x")], &["v"]).is_err());

        let (a, b) = (MAX_SECRET_DATA_BYTES - 100, 100);
        assert!(check_lengths(&[("a", a), ("b", b)], &[("o", "{{ b }}")], &["b"]).is_ok());
        assert_eq!(
            check_lengths(&[("a", a), ("b", b)], &[("o", "{{ b }}x")], &["b"]).unwrap_err(),
            TemplateError::SecretTooLarge(MAX_SECRET_DATA_BYTES + 1)
        );
        // An omitted value, and a sealed value a template replaces, are not in the Secret.
        assert!(
            check_lengths(
                &[("big", MAX_SECRET_DATA_BYTES), ("small", 1)],
                &[("o", "{{ small }}")],
                &["big"]
            )
            .is_ok()
        );
        assert!(
            check_lengths(
                &[("big", MAX_SECRET_DATA_BYTES), ("small", 1)],
                &[("big", "{{ small }}")],
                &["big"]
            )
            .is_ok()
        );
    }

    #[test]
    fn only_the_key_the_type_parses_must_be_a_docker_config() {
        let s = [("password", 200), ("user", 200)];
        let typed = |type_: &str, key: &str| {
            let mut o = object(&s, &[(key, "{{ user }}")], &[]);
            o.spec.template.as_mut().unwrap().type_ = Some(type_.into());
            Templates::check(&o)
        };
        assert!(typed("Opaque", ".dockerconfigjson").is_ok());
        assert!(typed("kubernetes.io/dockerconfigjson", "note").is_ok());
        assert!(typed("kubernetes.io/dockerconfigjson", ".dockerconfigjson").is_err());
    }

    #[test]
    fn the_values_read_already_are_checked_like_the_sealed_ones() {
        use kage_core::{Identity, Location, Scope, seal};
        let id = Identity::generate();
        let binding =
            kage_core::Binding::new(Scope::Strict, &Location::new("ns", "app", "v")).unwrap();
        let value = seal(b"abc", &binding, std::slice::from_ref(id.recipient())).unwrap();
        let mut o = object(&[], &[("o", "{{ nosuch }}")], &[]);
        o.spec.encrypted_data.insert("v".into(), value.to_base64());
        let values = [("v".to_owned(), value)];
        assert!(Templates::check_values(&o, &values).is_err());
        o.spec.template.as_mut().unwrap().data =
            [("o".to_owned(), "{{ v | urlencode }}".to_owned())].into();
        let templates = Templates::check_values(&o, &values).unwrap();
        assert_eq!(
            templates.uses()["o"].iter().copied().collect::<Vec<_>>(),
            ["v"]
        );
    }

    #[test]
    fn emptiness_omissions_and_the_render_count() {
        assert!(Templates::default().is_empty());
        let omit_only = Templates::check(&object(&[("a", 200), ("b", 200)], &[], &["a"])).unwrap();
        assert!(!omit_only.is_empty());
        assert_eq!(omit_only.omitted().iter().collect::<Vec<_>>(), ["a"]);
        let rendered = omit_only.render(values(&[("a", b"1"), ("b", b"2")]));
        assert_eq!(rendered.keys().collect::<Vec<_>>(), ["b"]);
        let templated = Templates::check(&object(&[("a", 200)], &[("o", "{{ a }}")], &[])).unwrap();
        assert!(!templated.is_empty());
        assert!(templated.omitted().is_empty());
        let before = renders();
        templated.render(values(&[("a", b"1")]));
        assert!(renders() > before, "a render with templates is counted");
    }

    #[test]
    fn quoting_writes_the_short_escapes_and_leaves_printable_text_alone() {
        for (quoting, expected) in [
            (Quoting::Json, "\"a b\\t\\r\\n\\\"\\\\\\u0001\u{85}\""),
            (Quoting::Yaml, "\"a b\\t\\r\\n\\\"\\\\\\u0001\\u0085\""),
        ] {
            let mut out = Vec::new();
            quote("a b\t\r\n\"\\\u{1}\u{85}".as_bytes(), quoting, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn joining_and_indexing_are_the_only_operators() {
        let s = [("a", 200), ("b", 200)];
        assert_eq!(
            render_one("{{ a ~ '-' ~ values[\"b\"] }}", &[("a", b"1"), ("b", b"2")]),
            b"1-2"
        );
        assert!(
            refusal(&s, &[("o", "{{ other[\"a\"] }}")], &[])
                .contains("only values[\"key\"] may be indexed")
        );
        for comparison in ["{{ a is defined }}", "{{ 'x' if a else 'y' }}"] {
            assert!(
                refusal(&s, &[("o", comparison)], &[])
                    .contains("comparisons, tests and conditional expressions are not allowed"),
                "{comparison}"
            );
        }
        let most = vec!["{{ a }}"; MAX_TEMPLATE_EXPRESSIONS].concat();
        assert!(Templates::check(&object(&[("a", 1)], &[("o", &most)], &[])).is_ok());
    }

    #[test]
    fn a_refused_block_names_its_line() {
        for block in [
            "{% if password %}x{% endif %}",
            "{% for c in password %}{% endfor %}",
            "{% set x = password %}",
            "{% with x = password %}{% endwith %}",
            "{% filter upper %}x{% endfilter %}",
            "{% autoescape true %}x{% endautoescape %}",
            "{% set x %}y{% endset %}",
            "{% do b64encode(password) %}",
        ] {
            let message = refusal(
                &[("password", 200)],
                &[("out", &format!("a\n\n{block}"))],
                &[],
            );
            assert!(
                message.contains("line 3: only {{ ... }}"),
                "{block}: {message}"
            );
        }
    }

    proptest! {
        /// Every function is defined for every input, and never writes past its bound (which the
        /// check relied on).
        #[test]
        fn every_function_renders_any_bytes_within_its_bound(
            a in proptest::collection::vec(any::<u8>(), 0..300),
            b in proptest::collection::vec(any::<u8>(), 0..50),
            c in proptest::collection::vec(any::<u8>(), 0..50),
        ) {
            let args = [Plaintext::new(a.clone()), Plaintext::new(b.clone()), Plaintext::new(c.clone())];
            for &(name, function, arity) in FUNCTIONS {
                let function = if let Function::Indent(_) = function { Function::Indent(7) } else { function };
                let mut out = Vec::new();
                function.apply(&args[..arity], &mut out);
                let lengths: Vec<usize> = args[..arity].iter().map(Plaintext::len).collect();
                prop_assert!(out.len() <= function.bound(&lengths), "{name}");
            }
            let lossy = String::from_utf8_lossy(&a).into_owned();
            let mut json = Vec::new();
            quote(&a, Quoting::Json, &mut json);
            prop_assert_eq!(serde_json::from_slice::<String>(&json).unwrap(), lossy.clone());
            let mut yaml = Vec::new();
            quote(&a, Quoting::Yaml, &mut yaml);
            let yaml = String::from_utf8(yaml).unwrap();
            prop_assert_eq!(serde_saphyr::from_str::<String>(&yaml).unwrap(), lossy);
            let mut decoded = Vec::new();
            lenient_base64_decode(STANDARD.encode(&a).as_bytes(), &mut decoded);
            prop_assert_eq!(decoded, a);
        }
    }
}
