//! `roamledger certs init`: a consortium's certificates, generated with `rcgen`.
//!
//! Layout of the output directory:
//!
//! ```text
//! ca.pem, ca.key.pem                 consortium root (keep the key offline in production)
//! <TADIG>/node.pem, node.key.pem     the carrier's node: TLS server and Raft peer
//! <TADIG>/signer.pem, signer.key.pem the carrier's signing key (batches, statements, ...)
//! <TADIG>/submitter.pem, ...         client certificates for mediation systems
//! <TADIG>/reader.pem, ...            ... for billing systems
//! <TADIG>/admin.pem, ...             ... for operators
//! ```
//!
//! Every certificate names its carrier and role in a SAN URI
//! `urn:roamledger:carrier:<TADIG>:role:<role>` (standards-draft §3.2); node certificates
//! also carry the host names and addresses they serve on. All keys are Ed25519.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ED25519, SanType,
};
use settlement::crypto::{Role, identity_uri};
use settlement::types::{Tadig, UtcTime};

use crate::error::NodeError;

/// Every role a carrier gets a certificate for.
pub const ROLES: [Role; 5] = [
    Role::Node,
    Role::Signer,
    Role::Submitter,
    Role::Reader,
    Role::Admin,
];

/// What `init` wrote.
#[derive(Debug)]
pub struct InitReport {
    /// The root certificate.
    pub root: PathBuf,
    /// Files written.
    pub files: Vec<PathBuf>,
}

/// Paths of one carrier's certificate and key for a role.
pub fn cert_paths(dir: &Path, tadig: Tadig, role: Role) -> (PathBuf, PathBuf) {
    let d = dir.join(tadig.as_str());
    (
        d.join(format!("{}.pem", role.name())),
        d.join(format!("{}.key.pem", role.name())),
    )
}

/// The root certificate's path.
pub fn root_path(dir: &Path) -> PathBuf {
    dir.join("ca.pem")
}

fn rcgen_err(what: &str, e: rcgen::Error) -> NodeError {
    NodeError::Certificates {
        reason: format!("{what}: {e}"),
    }
}

/// Sets a certificate's validity from `from_days` to `to_days` days from today (UTC dates).
fn set_validity(p: &mut CertificateParams, from_days: i64, to_days: i64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let day = |days: i64| UtcTime::from_unix_seconds(now + days * 86_400).to_civil();
    let (a, b) = (day(from_days), day(to_days));
    p.not_before = rcgen::date_time_ymd(a.year, a.month, a.day);
    p.not_after = rcgen::date_time_ymd(b.year, b.month, b.day);
}

fn write(path: &Path, contents: &str, secret: bool, files: &mut Vec<PathBuf>) -> Result<(), NodeError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| NodeError::io(parent, e))?;
    }
    std::fs::write(path, contents).map_err(|e| NodeError::io(path, e))?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| NodeError::io(path, e))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    files.push(path.to_path_buf());
    Ok(())
}

/// Generates a consortium root and every role's certificate for each carrier under `out`.
/// `hosts` are the DNS names or IP addresses node certificates are valid for (besides
/// `localhost` and `127.0.0.1`). Refuses to overwrite an existing root.
pub fn init(
    out: &Path,
    consortium: &str,
    carriers: &[Tadig],
    hosts: &[String],
    valid_days: u32,
) -> Result<InitReport, NodeError> {
    let root_file = root_path(out);
    if root_file.exists() {
        return Err(NodeError::Certificates {
            reason: format!(
                "{} already exists: refusing to replace a consortium root (remove the directory to start over)",
                root_file.display()
            ),
        });
    }
    let mut files = Vec::new();
    let root_key = KeyPair::generate_for(&PKCS_ED25519).map_err(|e| rcgen_err("root key", e))?;
    let mut rp = CertificateParams::new(Vec::<String>::new()).map_err(|e| rcgen_err("root", e))?;
    rp.distinguished_name
        .push(DnType::CommonName, format!("{consortium} consortium root"));
    rp.distinguished_name.push(DnType::OrganizationName, consortium);
    rp.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    rp.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut rp, -1, i64::from(valid_days) * 3);
    let root = rp.self_signed(&root_key).map_err(|e| rcgen_err("root", e))?;
    write(&root_file, &root.pem(), false, &mut files)?;
    write(
        &out.join("ca.key.pem"),
        &root_key.serialize_pem(),
        true,
        &mut files,
    )?;
    let issuer = rcgen::Issuer::from_params(&rp, &root_key);

    for tadig in carriers {
        for role in ROLES {
            let (cert, key) = leaf(&issuer, *tadig, role, hosts, valid_days)?;
            let (cert_path, key_path) = cert_paths(out, *tadig, role);
            write(&cert_path, &cert.pem(), false, &mut files)?;
            write(&key_path, &key.serialize_pem(), true, &mut files)?;
        }
    }
    Ok(InitReport {
        root: root_file,
        files,
    })
}

/// One carrier certificate for `role`, issued by `issuer`.
fn leaf(
    issuer: &rcgen::Issuer<'_, impl rcgen::SigningKey>,
    tadig: Tadig,
    role: Role,
    hosts: &[String],
    valid_days: u32,
) -> Result<(rcgen::Certificate, KeyPair), NodeError> {
    let key = KeyPair::generate_for(&PKCS_ED25519).map_err(|e| rcgen_err("key", e))?;
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(|e| rcgen_err("params", e))?;
    p.distinguished_name
        .push(DnType::CommonName, format!("{tadig} {}", role.name()));
    p.distinguished_name
        .push(DnType::OrganizationName, tadig.as_str());
    let uri = identity_uri(tadig, role)
        .try_into()
        .map_err(|e| rcgen_err("identity URI", e))?;
    p.subject_alt_names = vec![SanType::URI(uri)];
    set_validity(&mut p, -1, i64::from(valid_days));
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    match role {
        Role::Node => {
            let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
            for h in hosts {
                if !names.contains(h) {
                    names.push(h.clone());
                }
            }
            for h in &names {
                p.subject_alt_names.push(match h.parse::<std::net::IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName(h.clone().try_into().map_err(|e| rcgen_err("host name", e))?),
                });
            }
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
        }
        Role::Submitter | Role::Reader | Role::Admin => {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        Role::Signer => {}
    }
    let cert = p
        .signed_by(&key, issuer)
        .map_err(|e| rcgen_err("certificate", e))?;
    Ok((cert, key))
}

/// Issues one more certificate under the root of an existing certificates directory (a new
/// carrier joining, a rotated key) and writes it next to the others. Returns the certificate
/// and the PKCS#8 key, DER.
pub fn issue(
    dir: &Path,
    tadig: Tadig,
    role: Role,
    hosts: &[String],
    valid_days: u32,
) -> Result<(Vec<u8>, Vec<u8>), NodeError> {
    let root_pem = std::fs::read_to_string(root_path(dir)).map_err(|e| NodeError::io(&root_path(dir), e))?;
    let key_path = dir.join("ca.key.pem");
    let key_pem = std::fs::read_to_string(&key_path).map_err(|e| NodeError::io(&key_path, e))?;
    let root_key = KeyPair::from_pem(&key_pem).map_err(|e| rcgen_err("root key", e))?;
    let issuer =
        rcgen::Issuer::from_ca_cert_pem(&root_pem, root_key).map_err(|e| rcgen_err("root certificate", e))?;
    let (cert, key) = leaf(&issuer, tadig, role, hosts, valid_days)?;
    let (cert_path, key_file) = cert_paths(dir, tadig, role);
    let mut files = Vec::new();
    write(&cert_path, &cert.pem(), false, &mut files)?;
    write(&key_file, &key.serialize_pem(), true, &mut files)?;
    Ok((cert.der().to_vec(), key.serialize_der()))
}

/// Reads the first certificate of a PEM file as DER.
pub fn read_cert_der(path: &Path) -> Result<Vec<u8>, NodeError> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    CertificateDer::from_pem_file(path)
        .map(|c| c.to_vec())
        .map_err(|e| NodeError::Certificates {
            reason: format!("{}: not a PEM certificate: {e}", path.display()),
        })
}

/// Reads a PKCS#8 private key from a PEM file as DER.
pub fn read_key_der(path: &Path) -> Result<Vec<u8>, NodeError> {
    use rustls::pki_types::{PrivatePkcs8KeyDer, pem::PemObject};
    PrivatePkcs8KeyDer::from_pem_file(path)
        .map(|k| k.secret_pkcs8_der().to_vec())
        .map_err(|e| NodeError::Certificates {
            reason: format!("{}: not a PEM PKCS#8 private key: {e}", path.display()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use settlement::crypto::{parse_certificate, verify_issued_by};

    #[test]
    fn init_writes_a_verifiable_pki() {
        let dir = tempfile::tempdir().unwrap();
        let carriers: Vec<Tadig> = ["KORKT", "JPNDO"].iter().map(|t| t.parse().unwrap()).collect();
        let report = init(dir.path(), "test", &carriers, &["node1.example".into()], 30).unwrap();
        assert_eq!(report.files.len(), 2 + 2 * ROLES.len() * 2);
        let root = read_cert_der(&root_path(dir.path())).unwrap();
        assert!(parse_certificate(&root).unwrap().is_ca);
        for t in &carriers {
            for role in ROLES {
                let (c, k) = cert_paths(dir.path(), *t, role);
                let der = read_cert_der(&c).unwrap();
                verify_issued_by(&der, &root).unwrap();
                let info = parse_certificate(&der).unwrap();
                info.check_identity(*t, role).unwrap();
                let now = UtcTime::from_unix_seconds(
                    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64,
                );
                info.check_valid_at(now).unwrap();
                let key = read_key_der(&k).unwrap();
                let signer = settlement::crypto::Ed25519Signer::from_pkcs8(&key).unwrap();
                assert_eq!(signer.public_key(), info.public_key, "{t} {role:?}");
            }
        }
        // A second init into the same directory refuses to replace the root.
        assert!(init(dir.path(), "test", &carriers, &[], 30).is_err());
        // One more carrier under the same root.
        let usatt: Tadig = "USATT".parse().unwrap();
        let (der, key) = issue(dir.path(), usatt, Role::Node, &[], 30).unwrap();
        verify_issued_by(&der, &root).unwrap();
        parse_certificate(&der)
            .unwrap()
            .check_identity(usatt, Role::Node)
            .unwrap();
        assert!(!key.is_empty());
    }
}
