//! `kage keygen`: a new identity.

use anyhow::{Context, anyhow};
use kage_core::Identity;
use zeroize::Zeroizing;

use crate::args::KeygenArgs;
use crate::files;
use crate::outcome::{Failure, Outcome};

pub fn run(args: KeygenArgs) -> Outcome {
    let identity = Identity::generate();
    let recipient = identity.recipient().to_string();
    let created = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_default();
    let mut file = Zeroizing::new(format!(
        "# created: {created}\n# public key: {recipient}\n# fingerprint: {}\n",
        identity.fingerprint()
    ));
    file.push_str(&identity.to_secret_string());
    file.push('\n');
    match args.output {
        Some(path) => {
            if path.exists() {
                return Err(Failure::Input(anyhow!(
                    "{} already exists; kage keygen never overwrites a key",
                    path.display()
                )));
            }
            files::write_atomic(&path, file.as_bytes(), Some(0o600))
                .with_context(|| format!("writing {}", path.display()))?;
            println!("{recipient}");
        }
        None => {
            eprintln!("Public key: {recipient}");
            crate::files::print(&file)?;
        }
    }
    Ok(())
}
