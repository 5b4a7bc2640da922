//! `kage unseal`: recovery with private keys, offline.

use anyhow::{Context, anyhow};
use kage_api::manifest::write_documents;
use kage_api::seal::ConvertError;
use kage_api::unseal::unseal;
use kage_core::{Identity, KeyRing};
use zeroize::Zeroizing;

use crate::args::UnsealArgs;
use crate::run::{Failure, Outcome};

pub fn run(args: UnsealArgs) -> Outcome {
    let mut ring = KeyRing::default();
    for path in &args.identities {
        let text = Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        );
        let ids = Identity::parse_file(&text)
            .map_err(|e| Failure::Input(anyhow!("{}: {e}", path.display())))?;
        ids.into_iter().for_each(|id| ring.insert(id));
    }
    let mut docs = Vec::new();
    for sealed in super::read_sealed_secrets(args.file.as_deref())? {
        let secret = unseal(&sealed, &ring).map_err(|e| {
            let refused = matches!(e, ConvertError::Open { .. });
            let what = anyhow::Error::from(e).context(format!(
                "SealedSecret {}/{}",
                sealed.namespace_or_empty(),
                sealed.name_or_empty()
            ));
            if refused {
                Failure::Unseal(what)
            } else {
                Failure::Input(what)
            }
        })?;
        docs.push(secret.to_document());
    }
    let text = Zeroizing::new(write_documents(&docs, args.format.into()));
    docs.iter_mut().for_each(kage_api::manifest::wipe);
    super::print(&text)
}
