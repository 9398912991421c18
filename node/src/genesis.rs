//! The genesis command that founds a consortium.
//!
//! In production each carrier signs its own registration (proof of possession of its signing
//! key); `roamledger genesis` does it for every carrier whose signing key is in a
//! certificates directory, which is what a demo or a test consortium has.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use settlement::command::{Command, Envelope, Genesis, SignedRegistration};
use settlement::config::{ConsortiumConfig, PeriodScheme};
use settlement::crypto::{Ed25519Signer, Role};
use settlement::registry::CarrierRegistration;
use settlement::types::{Tadig, UtcTime};

use crate::certs::{cert_paths, read_cert_der, read_key_der, root_path};
use crate::error::NodeError;

/// `tadig`'s first registration with Raft node id `node_id`, signed with its signing key
/// from the certificates directory (proof of possession of that key).
pub fn registration(certs: &Path, tadig: Tadig, node_id: u64) -> Result<SignedRegistration, NodeError> {
    let (cert, key) = cert_paths(certs, tadig, Role::Signer);
    let signer = Ed25519Signer::from_pkcs8(&read_key_der(&key)?).map_err(|e| NodeError::Certificates {
        reason: format!("{}: {e}", key.display()),
    })?;
    Ok(SignedRegistration::sign(
        CarrierRegistration {
            tadig,
            name: format!("{tadig}"),
            node_id,
            certificate: read_cert_der(&cert)?,
            version: 0,
        },
        &signer,
    ))
}

/// The encoded genesis envelope for `carriers` (node ids 1, 2, ... in the order given).
pub fn genesis_envelope(
    certs: &Path,
    carriers: &[Tadig],
    period_seconds: Option<u64>,
) -> Result<Vec<u8>, NodeError> {
    let root = read_cert_der(&root_path(certs))?;
    let registrations = carriers
        .iter()
        .enumerate()
        .map(|(i, tadig)| registration(certs, *tadig, i as u64 + 1))
        .collect::<Result<Vec<_>, _>>()?;
    let mut config = ConsortiumConfig::default();
    if let Some(seconds) = period_seconds {
        config.period = PeriodScheme::Fixed { seconds };
    }
    config
        .validate()
        .map_err(|r| NodeError::Input(format!("configuration: {}", r.message)))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let genesis = Command::Genesis(Genesis {
        name: "roamledger consortium".into(),
        config,
        roots: vec![root],
        carriers: registrations,
    });
    Ok(Envelope::new(UtcTime::from_unix_seconds(now), genesis).encode())
}
