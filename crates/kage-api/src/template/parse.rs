//! A template's text, parsed by minijinja and cut down to the expressions kage allows.

use std::collections::BTreeMap;

use minijinja::machinery::ast;
use minijinja::syntax::SyntaxConfig;

use super::functions::{Expr, FUNCTIONS, Function};
use super::*;

/// Parses one template and checks it against the sealed keys.
pub(super) fn compile(text: &str, sealed_keys: &BTreeMap<String, String>) -> Result<Expr, String> {
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
