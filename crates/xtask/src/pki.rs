//! Fresh certificates and keys for the local control plane, generated at every `cluster up`.

use std::path::Path;

use anyhow::Result;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

/// PEM files of one control plane.
pub struct Pki {
    /// The cluster CA certificate (trusted by clients, and for client certificates).
    pub ca_cert: String,
    /// The admin client certificate (`system:masters`).
    pub admin_cert: String,
    /// The admin client key.
    pub admin_key: String,
    /// The node's client certificate and key (`system:node:NAME` in `system:nodes`).
    pub node: (String, String),
    /// kube-proxy's client certificate and key (`system:kube-proxy`).
    pub kube_proxy: (String, String),
}

fn params(cn: &str, orgs: &[&str]) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    for org in orgs {
        dn.push(DnType::OrganizationName, *org);
    }
    params.distinguished_name = dn;
    Ok(params)
}

/// Writes `ca.crt`, `ca.key`, `apiserver.crt/key`, `admin.crt/key`, `sa.key` and `sa.pub`
/// (the service-account token signing key pair) into `dir`.
pub fn generate(dir: &Path) -> Result<Pki> {
    std::fs::create_dir_all(dir)?;
    let mut ca_params = params("kage-local-ca", &[])?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;

    let mut serving = params("kube-apiserver", &[])?;
    serving.subject_alt_names = vec![
        SanType::IpAddress("127.0.0.1".parse()?),
        SanType::IpAddress("10.0.0.1".parse()?),
        SanType::IpAddress(crate::node::GATEWAY.parse()?),
        SanType::DnsName("localhost".try_into()?),
        SanType::DnsName("kubernetes".try_into()?),
        SanType::DnsName("kubernetes.default".try_into()?),
        SanType::DnsName("kubernetes.default.svc".try_into()?),
    ];
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let serving_key = KeyPair::generate()?;
    let serving_cert = serving.signed_by(&serving_key, &ca)?;

    let client = |cn: &str, orgs: &[&str]| -> Result<(String, String)> {
        let mut params = params(cn, orgs)?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;
        Ok((cert.pem(), key.serialize_pem()))
    };
    let (admin_cert, admin_key) = client("kage-admin", &["system:masters"])?;
    let node = client(
        &format!("system:node:{}", crate::node::NODE_NAME),
        &["system:nodes"],
    )?;
    let kube_proxy = client("system:kube-proxy", &[])?;

    let sa_key = KeyPair::generate()?;

    let files = [
        ("ca.crt", ca.pem()),
        ("ca.key", ca_key_pem),
        ("apiserver.crt", serving_cert.pem()),
        ("apiserver.key", serving_key.serialize_pem()),
        ("admin.crt", admin_cert.clone()),
        ("admin.key", admin_key.clone()),
        ("sa.key", sa_key.serialize_pem()),
        ("sa.pub", sa_key.public_key_pem()),
    ];
    for (name, pem) in &files {
        write_private(&dir.join(name), pem)?;
    }
    Ok(Pki {
        ca_cert: ca.pem(),
        admin_cert,
        admin_key,
        node,
        kube_proxy,
    })
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}
