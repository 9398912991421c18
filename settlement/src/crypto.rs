//! Hashes, certificates and signatures.
//!
//! Carriers sign with the key of their *signing certificate*, which the consortium root
//! issues and the registry records. Verification needs only the certificate: the public key
//! is read from it with `x509-parser` once, at registration, and kept as a [`PublicKey`].
//! Ed25519 and ECDSA P-256 (SHA-256) keys verify; nodes sign with Ed25519, which is
//! deterministic and needs no randomness (see [`Ed25519Signer`]).
//!
//! Every signed message starts with a domain label (see [`Domain`]), so a signature made for
//! one purpose (a batch) can never be replayed as another (a statement).
//!
//! Certificates name their carrier and role in a SAN URI:
//! `urn:roamledger:carrier:<TADIG>:role:<role>` (draft §3.2).

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::error::CryptoError;
use crate::types::{Tadig, UtcTime};

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash: the "previous" of a first element.
    pub const ZERO: Hash = Hash([0; 32]);

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Hash> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Hash(out))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", &self.to_hex()[..16])
    }
}

/// SHA-256 over the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> Hash {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len <= SHORT_MESSAGE_MAX {
        return sha256_short(parts, len);
    }
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    Hash(h.finalize().into())
}

/// Longest message that fits two SHA-256 blocks with its padding (0x80 and the 8-byte
/// length): every leaf, node, fingerprint and chain hash of the apply path.
const SHORT_MESSAGE_MAX: usize = 2 * 64 - 9;

/// FIPS 180-4 §5.3.3: the initial SHA-256 hash value.
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// SHA-256 of a message of `len <= SHORT_MESSAGE_MAX` bytes: padded by hand (FIPS 180-4
/// §5.1.1) and compressed in one call, without the streaming wrapper's buffering, which
/// costs as much as the compression for messages this short.
fn sha256_short(parts: &[&[u8]], len: usize) -> Hash {
    use sha2::digest::generic_array::GenericArray;
    debug_assert!(len <= SHORT_MESSAGE_MAX);
    let mut buf = [0u8; 128];
    let mut at = 0;
    for p in parts {
        buf[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    buf[len] = 0x80;
    let n = if len + 9 <= 64 { 1 } else { 2 };
    buf[n * 64 - 8..n * 64].copy_from_slice(&((len as u64) * 8).to_be_bytes());
    let blocks = [
        *GenericArray::from_slice(&buf[..64]),
        *GenericArray::from_slice(&buf[64..]),
    ];
    let mut state = SHA256_IV;
    sha2::compress256(&mut state, &blocks[..n]);
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    Hash(out)
}

/// What a signature is for. The label is prefixed to the signed bytes (draft §3.4).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Domain {
    /// A batch digest signed by its sender.
    Batch,
    /// A statement's canonical bytes signed by a party.
    Statement,
    /// An agreement's canonical bytes signed by a party.
    Agreement,
    /// A carrier registration or update signed by the carrier.
    Registry,
    /// A dispute signed by the home carrier.
    Dispute,
    /// A consortium-level command signed with the root key.
    Consortium,
}

impl Domain {
    /// The label bytes, NUL-terminated.
    pub fn label(self) -> &'static [u8] {
        match self {
            Domain::Batch => b"roamledger/v1/batch\0",
            Domain::Statement => b"roamledger/v1/statement\0",
            Domain::Agreement => b"roamledger/v1/agreement\0",
            Domain::Registry => b"roamledger/v1/registry\0",
            Domain::Dispute => b"roamledger/v1/dispute\0",
            Domain::Consortium => b"roamledger/v1/consortium\0",
        }
    }

    /// `label || payload`: the exact bytes signed.
    pub fn message(self, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(self.label().len() + payload.len());
        m.extend_from_slice(self.label());
        m.extend_from_slice(payload);
        m
    }
}

/// Public key algorithms we verify.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    /// Ed25519 (RFC 8032).
    Ed25519,
    /// ECDSA on P-256 with SHA-256, signatures ASN.1 DER-encoded.
    EcdsaP256Sha256,
}

/// A public key taken from a certificate.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PublicKey {
    /// The algorithm.
    pub algorithm: KeyAlgorithm,
    /// The raw key (Ed25519: 32 bytes; P-256: the uncompressed point).
    pub bytes: Vec<u8>,
}

impl PublicKey {
    /// Verifies `signature` over `domain.message(payload)`.
    pub fn verify(&self, domain: Domain, payload: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        let alg: &dyn ring::signature::VerificationAlgorithm = match self.algorithm {
            KeyAlgorithm::Ed25519 => &ring::signature::ED25519,
            KeyAlgorithm::EcdsaP256Sha256 => &ring::signature::ECDSA_P256_SHA256_ASN1,
        };
        ring::signature::UnparsedPublicKey::new(alg, &self.bytes)
            .verify(&domain.message(payload), signature)
            .map_err(|_| CryptoError::BadSignature)
    }
}

/// A role a certificate grants (draft §3.2).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A consortium node (Raft peer).
    Node,
    /// A carrier system submitting usage.
    Submitter,
    /// A billing system reading statements.
    Reader,
    /// An operator running admin commands.
    Admin,
    /// The carrier's signing key for batches, statements, agreements and disputes.
    Signer,
}

impl Role {
    /// The role's name in the SAN URI.
    pub fn name(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Submitter => "submitter",
            Role::Reader => "reader",
            Role::Admin => "admin",
            Role::Signer => "signer",
        }
    }

    /// The role for a SAN URI name.
    pub fn from_name(s: &str) -> Option<Role> {
        [
            Role::Node,
            Role::Submitter,
            Role::Reader,
            Role::Admin,
            Role::Signer,
        ]
        .into_iter()
        .find(|r| r.name() == s)
    }
}

/// The SAN URI naming `tadig` with `role`.
pub fn identity_uri(tadig: Tadig, role: Role) -> String {
    format!("urn:roamledger:carrier:{tadig}:role:{}", role.name())
}

/// Parses `urn:roamledger:carrier:<TADIG>:role:<role>`.
pub fn parse_identity_uri(uri: &str) -> Option<(Tadig, Role)> {
    let rest = uri.strip_prefix("urn:roamledger:carrier:")?;
    let (tadig, role) = rest.split_once(":role:")?;
    Some((tadig.parse().ok()?, Role::from_name(role)?))
}

/// What the ledger needs to know about a certificate.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CertificateInfo {
    /// The subject public key.
    pub public_key: PublicKey,
    /// Start of validity.
    pub not_before: UtcTime,
    /// End of validity.
    pub not_after: UtcTime,
    /// Carrier identities from SAN URIs.
    pub identities: Vec<(Tadig, Role)>,
    /// True for a CA certificate.
    pub is_ca: bool,
    /// The subject, printable.
    pub subject: String,
}

impl CertificateInfo {
    /// Fails unless `at` is within the validity period.
    pub fn check_valid_at(&self, at: UtcTime) -> Result<(), CryptoError> {
        if at < self.not_before || at > self.not_after {
            return Err(CryptoError::Expired {
                at,
                not_before: self.not_before,
                not_after: self.not_after,
            });
        }
        Ok(())
    }

    /// Fails unless the certificate names `tadig` with `role`.
    pub fn check_identity(&self, tadig: Tadig, role: Role) -> Result<(), CryptoError> {
        if self.identities.contains(&(tadig, role)) {
            return Ok(());
        }
        Err(CryptoError::WrongCarrier {
            expected: tadig,
            found: self
                .identities
                .iter()
                .map(|(t, r)| format!("{t}:{}", r.name()))
                .collect(),
        })
    }
}

fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, CryptoError> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| CryptoError::CertificateParse {
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(CryptoError::CertificateParse {
            reason: format!("{} trailing bytes after the certificate", rest.len()),
        });
    }
    Ok(cert)
}

const OID_ED25519: &str = "1.3.101.112";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";

/// Parses a DER certificate into what the ledger uses.
pub fn parse_certificate(der: &[u8]) -> Result<CertificateInfo, CryptoError> {
    let cert = parse_der(der)?;
    let spki = cert.public_key();
    let oid = spki.algorithm.algorithm.to_id_string();
    let algorithm = match oid.as_str() {
        OID_ED25519 => KeyAlgorithm::Ed25519,
        OID_EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| x509_parser::der_parser::asn1_rs::Oid::try_from(p).ok())
                .map(|o| o.to_id_string());
            if curve.as_deref() != Some(OID_P256) {
                return Err(CryptoError::UnsupportedKey {
                    oid: format!("{oid} on curve {}", curve.unwrap_or_else(|| "?".into())),
                });
            }
            KeyAlgorithm::EcdsaP256Sha256
        }
        _ => return Err(CryptoError::UnsupportedKey { oid }),
    };
    let mut identities = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::URI(uri) = name
                && let Some(id) = parse_identity_uri(uri)
            {
                identities.push(id);
            }
        }
    }
    let validity = cert.validity();
    Ok(CertificateInfo {
        public_key: PublicKey {
            algorithm,
            bytes: spki.subject_public_key.data.to_vec(),
        },
        not_before: UtcTime::from_unix_seconds(validity.not_before.timestamp()),
        not_after: UtcTime::from_unix_seconds(validity.not_after.timestamp()),
        identities,
        is_ca: cert.is_ca(),
        subject: cert.subject().to_string(),
    })
}

/// Verifies that `cert_der` was issued (signed) by the CA certificate `root_der`.
pub fn verify_issued_by(cert_der: &[u8], root_der: &[u8]) -> Result<(), CryptoError> {
    let cert = parse_der(cert_der)?;
    let root = parse_der(root_der)?;
    if !root.is_ca() {
        return Err(CryptoError::NotIssuedByRoot {
            reason: "the trust root is not a CA certificate".into(),
        });
    }
    if cert.issuer() != root.subject() {
        return Err(CryptoError::NotIssuedByRoot {
            reason: format!("issuer {} is not the root {}", cert.issuer(), root.subject()),
        });
    }
    cert.verify_signature(Some(root.public_key()))
        .map_err(|e| CryptoError::NotIssuedByRoot {
            reason: format!("signature check failed: {e}"),
        })
}

/// Signs with an Ed25519 key (PKCS#8). Deterministic: the same message always yields the
/// same signature, so signing needs no randomness and can run anywhere.
pub struct Ed25519Signer {
    key: ring::signature::Ed25519KeyPair,
}

impl Ed25519Signer {
    /// Loads a PKCS#8 v1 or v2 Ed25519 private key.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CryptoError> {
        let key = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|e| {
            CryptoError::SigningKey {
                reason: e.to_string(),
            }
        })?;
        Ok(Ed25519Signer { key })
    }

    /// Signs `domain.message(payload)`.
    pub fn sign(&self, domain: Domain, payload: &[u8]) -> Vec<u8> {
        self.key.sign(&domain.message(payload)).as_ref().to_vec()
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        use ring::signature::KeyPair;
        PublicKey {
            algorithm: KeyAlgorithm::Ed25519,
            bytes: self.key.public_key().as_ref().to_vec(),
        }
    }
}

impl fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ed25519Signer(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TestPki;

    proptest::proptest! {
        /// The hand-padded short path and the streaming path agree at every length around
        /// the block boundaries, however the message is split into parts.
        #[test]
        fn short_hashes_match_the_streaming_hash(
            msg in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            cut in 0usize..200,
        ) {
            let cut = cut.min(msg.len());
            let mut h = Sha256::new();
            h.update(&msg);
            let streaming = Hash(h.finalize().into());
            proptest::prop_assert_eq!(sha256(&[&msg[..cut], &msg[cut..]]), streaming);
            proptest::prop_assert_eq!(sha256(&[&msg]), streaming);
        }
    }

    #[test]
    fn short_hash_boundaries() {
        for len in [0usize, 1, 55, 56, 63, 64, 65, 119, 120, 128] {
            let msg = vec![0xa5u8; len];
            let mut h = Sha256::new();
            h.update(&msg);
            assert_eq!(sha256(&[&msg]).0, <[u8; 32]>::from(h.finalize()), "length {len}");
        }
    }

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            sha256(&[b"ab", b"c"]).to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn certificate_identity_and_validity() {
        let pki = TestPki::new("Test Consortium Root");
        let c = pki.issue("KORKT", Role::Signer, (2025, 2030));
        let info = parse_certificate(&c.cert_der).unwrap();
        assert_eq!(info.identities, vec![("KORKT".parse().unwrap(), Role::Signer)]);
        assert_eq!(info.public_key, c.signer.public_key());
        info.check_identity("KORKT".parse().unwrap(), Role::Signer)
            .unwrap();
        assert!(
            info.check_identity("JPNDO".parse().unwrap(), Role::Signer)
                .is_err()
        );
        assert!(
            info.check_identity("KORKT".parse().unwrap(), Role::Admin)
                .is_err()
        );
        info.check_valid_at("2026-11-23T00:00:00Z".parse().unwrap())
            .unwrap();
        assert!(matches!(
            info.check_valid_at("2031-01-01T00:00:00Z".parse().unwrap()),
            Err(CryptoError::Expired { .. })
        ));
        verify_issued_by(&c.cert_der, &pki.root_der).unwrap();
        let other = TestPki::new("Another Root");
        assert!(matches!(
            verify_issued_by(&c.cert_der, &other.root_der),
            Err(CryptoError::NotIssuedByRoot { .. })
        ));
        // A leaf is not a trust root.
        assert!(verify_issued_by(&c.cert_der, &c.cert_der).is_err());
    }

    #[test]
    fn signatures_verify_and_are_domain_separated() {
        let pki = TestPki::new("root");
        let c = pki.issue("JPNDO", Role::Signer, (2025, 2030));
        let key = parse_certificate(&c.cert_der).unwrap().public_key;
        let sig = c.signer.sign(Domain::Batch, b"digest");
        key.verify(Domain::Batch, b"digest", &sig).unwrap();
        assert_eq!(
            key.verify(Domain::Statement, b"digest", &sig),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            key.verify(Domain::Batch, b"digesT", &sig),
            Err(CryptoError::BadSignature)
        );
        let other = pki.issue_named("JPNDO", Role::Signer, (2025, 2030), "another key");
        let other_sig = other.signer.sign(Domain::Batch, b"digest");
        assert_eq!(
            key.verify(Domain::Batch, b"digest", &other_sig),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn ecdsa_p256_certificates_verify() {
        let pki = TestPki::new("root");
        let key = TestPki::p256_key();
        let der = pki.issue_with_key("CHNCM", Role::Signer, (2025, 2030), &key);
        let info = parse_certificate(&der).unwrap();
        assert_eq!(info.public_key.algorithm, KeyAlgorithm::EcdsaP256Sha256);
        let rng = ring::rand::SystemRandom::new();
        let kp = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &key.serialize_der(),
            &rng,
        )
        .unwrap();
        let sig = kp.sign(&rng, &Domain::Statement.message(b"stmt")).unwrap();
        info.public_key
            .verify(Domain::Statement, b"stmt", sig.as_ref())
            .unwrap();
        assert!(
            info.public_key
                .verify(Domain::Statement, b"stmT", sig.as_ref())
                .is_err()
        );
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(matches!(
            parse_certificate(b"not a cert"),
            Err(CryptoError::CertificateParse { .. })
        ));
        let pki = TestPki::new("root");
        let mut der = pki.root_der.clone();
        der.push(0);
        assert!(matches!(
            parse_certificate(&der),
            Err(CryptoError::CertificateParse { .. })
        ));
    }

    #[test]
    fn identity_uris_round_trip() {
        let t: Tadig = "KORKT".parse().unwrap();
        for r in [
            Role::Node,
            Role::Submitter,
            Role::Reader,
            Role::Admin,
            Role::Signer,
        ] {
            assert_eq!(parse_identity_uri(&identity_uri(t, r)), Some((t, r)));
        }
        assert_eq!(parse_identity_uri("urn:roamledger:carrier:korkt:role:node"), None);
        assert_eq!(parse_identity_uri("urn:roamledger:carrier:KORKT:role:boss"), None);
    }
}
