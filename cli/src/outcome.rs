//! How a command ended: success, or a [`Failure`] whose kind decides the exit code.

/// Why the command failed; decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// Malformed input: exit code 3.
    Input(anyhow::Error),
    /// A value cannot be unsealed here: exit code 4.
    Unseal(anyhow::Error),
    /// Validation found problems (already reported): exit code 5.
    Invalid,
    /// Anything else: exit code 1.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

/// Result of a command.
pub type Outcome = Result<(), Failure>;
