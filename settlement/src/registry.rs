//! The consortium registry: trust roots and member carriers.
//!
//! A carrier is registered with its signing certificate, which must be issued by one of the
//! consortium roots fixed at genesis, name the carrier's TADIG with the `signer` role, and be
//! valid at ledger time. The registration is signed with that certificate's key (proof of
//! possession). Updates are signed with the carrier's current key; retirement by the carrier
//! itself or by a consortium root key. Every signed registry payload carries the entry's
//! version, so an old signature cannot be replayed.

use serde::{Deserialize, Serialize};

use crate::canonical::to_canonical;
use crate::crypto::{CertificateInfo, Domain, PublicKey, Role, parse_certificate, verify_issued_by};
use crate::error::{ErrorCode, Rejection};
use crate::limits::{CARRIER_NAME_BYTES_MAX, CERTIFICATE_BYTES_MAX};
use crate::types::{Tadig, UtcTime};

/// What a carrier registers (the signed part).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CarrierRegistration {
    /// The carrier's TADIG code.
    pub tadig: Tadig,
    /// Display name.
    pub name: String,
    /// Its node's Raft id.
    pub node_id: u64,
    /// Its signing certificate, DER.
    #[serde(with = "hex_bytes")]
    pub certificate: Vec<u8>,
    /// The registry version this change applies to (0 for a first registration).
    pub version: u64,
}

impl CarrierRegistration {
    /// The canonical bytes signed for this registration.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        to_canonical(self)
    }
}

/// Whether a carrier takes part.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CarrierStatus {
    /// A member.
    Active,
    /// No longer a member; its history stays.
    Retired,
}

/// A registered carrier.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CarrierEntry {
    /// The registration in force.
    pub registration: CarrierRegistration,
    /// The key from the certificate.
    pub public_key: PublicKey,
    /// Certificate validity start.
    pub not_before: UtcTime,
    /// Certificate validity end.
    pub not_after: UtcTime,
    /// Active or retired.
    pub status: CarrierStatus,
    /// Bumped on every change; signed payloads name it.
    pub version: u64,
}

impl CarrierEntry {
    /// True for an active member.
    pub fn is_active(&self) -> bool {
        self.status == CarrierStatus::Active
    }

    /// Fails unless the signing certificate is valid at `at`.
    pub fn check_valid_at(&self, at: UtcTime) -> Result<(), Rejection> {
        if at < self.not_before || at > self.not_after {
            return Err(Rejection::new(
                ErrorCode::CertificateInvalid,
                format!(
                    "{}'s signing certificate is not valid at {at} (valid {} to {})",
                    self.registration.tadig, self.not_before, self.not_after
                ),
            ));
        }
        Ok(())
    }
}

/// Checks a registration's certificate against the roots at ledger time `at` and returns
/// what the ledger keeps of it.
pub fn check_registration(
    reg: &CarrierRegistration,
    roots: &[Vec<u8>],
    at: UtcTime,
) -> Result<CertificateInfo, Rejection> {
    let bad = |m: String| Rejection::new(ErrorCode::CertificateInvalid, m);
    if reg.name.is_empty() || reg.name.len() > CARRIER_NAME_BYTES_MAX {
        return Err(Rejection::new(
            ErrorCode::LimitExceeded,
            format!("carrier name must be 1 to {CARRIER_NAME_BYTES_MAX} bytes"),
        ));
    }
    if reg.certificate.len() > CERTIFICATE_BYTES_MAX {
        return Err(Rejection::new(
            ErrorCode::LimitExceeded,
            format!(
                "certificate is {} bytes; at most {CERTIFICATE_BYTES_MAX}",
                reg.certificate.len()
            ),
        ));
    }
    let info = parse_certificate(&reg.certificate).map_err(|e| bad(format!("{}: {e}", reg.tadig)))?;
    let issued = roots
        .iter()
        .any(|root| verify_issued_by(&reg.certificate, root).is_ok());
    if !issued {
        return Err(bad(format!(
            "{}'s certificate ({}) is not issued by a consortium root",
            reg.tadig, info.subject
        )));
    }
    info.check_valid_at(at)
        .map_err(|e| bad(format!("{}: {e}", reg.tadig)))?;
    info.check_identity(reg.tadig, Role::Signer)
        .map_err(|e| bad(format!("{}: {e}", reg.tadig)))?;
    Ok(info)
}

/// Verifies `signature` by `key` over `payload` in `domain`, as a command rejection.
pub fn check_signature(
    key: &PublicKey,
    domain: Domain,
    payload: &[u8],
    signature: &[u8],
    who: &str,
) -> Result<(), Rejection> {
    key.verify(domain, payload, signature).map_err(|_| {
        Rejection::new(
            ErrorCode::CommandSignatureInvalid,
            format!("signature by {who} does not verify"),
        )
    })
}

/// Serde helper: bytes as lower-case hex strings in JSON.
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes bytes as hex.
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    /// Deserializes hex into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TestPki;

    #[test]
    fn registration_requires_root_validity_and_identity() {
        let pki = TestPki::new("root");
        let at: UtcTime = "2026-11-23T00:00:00Z".parse().unwrap();
        let c = pki.issue("KORKT", Role::Signer, (2025, 2030));
        let mut reg = CarrierRegistration {
            tadig: "KORKT".parse().unwrap(),
            name: "KT".into(),
            node_id: 1,
            certificate: c.cert_der.clone(),
            version: 0,
        };
        check_registration(&reg, std::slice::from_ref(&pki.root_der), at).unwrap();
        // Another root.
        let other = TestPki::new("other");
        let e = check_registration(&reg, std::slice::from_ref(&other.root_der), at).unwrap_err();
        assert_eq!(e.code, ErrorCode::CertificateInvalid);
        assert!(e.message.contains("not issued by a consortium root"), "{e}");
        // Expired at ledger time.
        let e = check_registration(
            &reg,
            std::slice::from_ref(&pki.root_der),
            "2031-01-01T00:00:00Z".parse().unwrap(),
        )
        .unwrap_err();
        assert!(e.message.contains("not valid at"), "{e}");
        // A certificate for another carrier.
        reg.tadig = "JPNDO".parse().unwrap();
        let e = check_registration(&reg, std::slice::from_ref(&pki.root_der), at).unwrap_err();
        assert!(e.message.contains("does not carry TADIG JPNDO"), "{e}");
        // The wrong role.
        let admin = pki.issue("KORKT", Role::Admin, (2025, 2030));
        reg.tadig = "KORKT".parse().unwrap();
        reg.certificate = admin.cert_der;
        assert!(check_registration(&reg, std::slice::from_ref(&pki.root_der), at).is_err());
    }

    #[test]
    fn registration_canonical_bytes_are_hex_and_sorted() {
        let reg = CarrierRegistration {
            tadig: "KORKT".parse().unwrap(),
            name: "KT".into(),
            node_id: 1,
            certificate: vec![0xde, 0xad],
            version: 3,
        };
        assert_eq!(
            String::from_utf8(reg.canonical_bytes()).unwrap(),
            r#"{"certificate":"dead","name":"KT","node_id":1,"tadig":"KORKT","version":3}"#
        );
    }
}
