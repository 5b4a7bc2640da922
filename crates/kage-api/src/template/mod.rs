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
//!
//! Rendering happens in the controller's reconcile and in offline `kage unseal` only, never on
//! an HTTP endpoint; [`Templates::render`] says whether it rendered, so that the controller's
//! metrics can count it.
//!
//! [`parse`] turns a template's text into a checked expression, [`functions`] says what each
//! expression writes and how long it can be, [`check`] holds a SealedSecret's templates to
//! every limit before anything is opened.

mod check;
mod functions;
mod parse;
#[cfg(test)]
mod tests;

pub use check::Templates;

use crate::limits::MAX_SECRET_DATA_BYTES;

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
