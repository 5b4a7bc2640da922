//! `kage unseal`: recovery with private keys, offline.

use kage_api::manifest::write_documents;
use kage_api::seal::ConvertError;
use kage_api::unseal::unseal;
use zeroize::Zeroizing;

use crate::args::UnsealArgs;
use crate::outcome::{Failure, Outcome};

pub fn run(args: UnsealArgs) -> Outcome {
    let ring = crate::identity_file::ring(&args.identities)?;
    let mut docs = Vec::new();
    for sealed in crate::input::read_sealed_secrets(args.file.as_deref())? {
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
    Ok(crate::files::print(&text)?)
}
