//! Test support (feature `testkit`, and this crate's own tests): a deterministic test PKI and
//! a consortium fixture that builds signed commands.
//!
//! Keys are derived from names (`SHA-256("roamledger-testkit/" || name)` as the Ed25519
//! seed) and certificate dates are fixed, so the same fixture yields the same certificates,
//! signatures and commands on every run and every machine: tests that compare state digests
//! across nodes or runs can rely on it. Never use these keys outside tests.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};

use crate::agreement::{Agreement, Tariff, Tolerance};
use crate::batch::{BatchId, BatchKey, SubmitBatch};
use crate::command::*;
use crate::config::ConsortiumConfig;
use crate::crypto::{Domain, Ed25519Signer, Role, identity_uri, sha256};
use crate::registry::CarrierRegistration;
use crate::types::*;

/// The PKCS#8 v1 DER of the Ed25519 key with `seed` (RFC 8410 `OneAsymmetricKey`).
pub fn ed25519_pkcs8_from_seed(seed: [u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ];
    der.extend_from_slice(&seed);
    der
}

/// The deterministic PKCS#8 key of `name`.
pub fn named_key(name: &str) -> Vec<u8> {
    let seed = sha256(&[b"roamledger-testkit/", name.as_bytes()]).0;
    ed25519_pkcs8_from_seed(seed)
}

fn key_pair(name: &str) -> KeyPair {
    KeyPair::try_from(named_key(name).as_slice()).expect("a valid Ed25519 PKCS#8 key")
}

/// A consortium root and the certificates it issues.
pub struct TestPki {
    /// The root certificate, DER.
    pub root_der: Vec<u8>,
    name: String,
    root_key: KeyPair,
    root_params: CertificateParams,
}

/// A certificate with its key.
pub struct TestIdentity {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The key's PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
    /// A signer over the key.
    pub signer: Ed25519Signer,
}

impl TestPki {
    /// A root named `name`, valid 2020 to 2040.
    pub fn new(name: &str) -> Self {
        let root_key = key_pair(&format!("root/{name}"));
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("no SANs");
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2040, 1, 1);
        let root = p.self_signed(&root_key).expect("self-signed root");
        TestPki {
            root_der: root.der().to_vec(),
            name: name.to_owned(),
            root_key,
            root_params: p,
        }
    }

    /// A signer over the root key.
    pub fn root_signer(&self) -> Ed25519Signer {
        Ed25519Signer::from_pkcs8(&named_key(&format!("root/{}", self.name))).expect("valid key")
    }

    /// Issues a certificate naming `tadig` with `role`, valid from January 1st of
    /// `years.0` to January 1st of `years.1`, with a key derived from the names.
    pub fn issue(&self, tadig: &str, role: Role, years: (i32, i32)) -> TestIdentity {
        self.issue_named(
            tadig,
            role,
            years,
            &format!("{}/{tadig}/{}", self.name, role.name()),
        )
    }

    /// As [`TestPki::issue`] with an explicit key name (to get a second, different key).
    pub fn issue_named(&self, tadig: &str, role: Role, years: (i32, i32), key_name: &str) -> TestIdentity {
        let key_pkcs8 = named_key(key_name);
        let key = KeyPair::try_from(key_pkcs8.as_slice()).expect("valid key");
        let cert_der = self.issue_with_key(tadig, role, years, &key);
        TestIdentity {
            cert_der,
            signer: Ed25519Signer::from_pkcs8(&key_pkcs8).expect("valid key"),
            key_pkcs8,
        }
    }

    /// Issues a certificate for an arbitrary key (ECDSA P-256 keys included).
    pub fn issue_with_key(&self, tadig: &str, role: Role, years: (i32, i32), key: &KeyPair) -> Vec<u8> {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("no DNS SANs");
        p.distinguished_name
            .push(DnType::CommonName, format!("{tadig} {}", role.name()));
        let uri = identity_uri(tadig.parse().expect("valid TADIG"), role);
        p.subject_alt_names = vec![SanType::URI(uri.try_into().expect("ASCII URI"))];
        p.not_before = rcgen::date_time_ymd(years.0, 1, 1);
        p.not_after = rcgen::date_time_ymd(years.1, 1, 1);
        let issuer = rcgen::Issuer::from_params(&self.root_params, &self.root_key);
        p.signed_by(key, &issuer).expect("issued").der().to_vec()
    }

    /// A fresh ECDSA P-256 key pair (random: use only where determinism does not matter).
    pub fn p256_key() -> KeyPair {
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256 key")
    }
}

/// One carrier of a fixture.
pub struct TestCarrier {
    /// Its TADIG.
    pub tadig: Tadig,
    /// Its Raft node id.
    pub node_id: u64,
    /// Its signing certificate and key.
    pub id: TestIdentity,
}

/// A consortium of carriers under one test root, with helpers that build signed commands.
pub struct Fixture {
    /// The PKI.
    pub pki: TestPki,
    /// The carriers, in the order given.
    pub carriers: Vec<TestCarrier>,
    /// The configuration genesis uses.
    pub config: ConsortiumConfig,
}

/// Scale 3, TAP's most common `tapDecimalPlaces`.
pub fn scale3() -> Scale {
    Scale::new(3).expect("valid")
}

impl Fixture {
    /// A consortium of `tadigs` (node ids 1, 2, ...) with the default configuration.
    pub fn new(tadigs: &[&str]) -> Self {
        let pki = TestPki::new("roamledger test root");
        let carriers = tadigs
            .iter()
            .enumerate()
            .map(|(i, t)| TestCarrier {
                tadig: t.parse().expect("valid TADIG"),
                node_id: i as u64 + 1,
                id: pki.issue(t, Role::Signer, (2025, 2035)),
            })
            .collect();
        Fixture {
            pki,
            carriers,
            config: ConsortiumConfig::default(),
        }
    }

    /// The carrier `tadig`.
    pub fn carrier(&self, tadig: &str) -> &TestCarrier {
        self.carriers
            .iter()
            .find(|c| c.tadig.as_str() == tadig)
            .unwrap_or_else(|| panic!("{tadig} is not in the fixture"))
    }

    /// The signed registration of `c` at registry `version`.
    pub fn registration(c: &TestCarrier, version: u64) -> SignedRegistration {
        SignedRegistration::sign(
            CarrierRegistration {
                tadig: c.tadig,
                name: format!("{} Mobile", c.tadig),
                node_id: c.node_id,
                certificate: c.id.cert_der.clone(),
                version,
            },
            &c.id.signer,
        )
    }

    /// The genesis command registering every carrier.
    pub fn genesis(&self) -> Command {
        Command::Genesis(Genesis {
            name: "roamledger test consortium".into(),
            config: self.config.clone(),
            roots: vec![self.pki.root_der.clone()],
            carriers: self.carriers.iter().map(|c| Self::registration(c, 0)).collect(),
        })
    }

    /// A 2026 agreement home <- visited covering every service.
    pub fn agreement(&self, home: &str, visited: &str) -> Agreement {
        let price = |s: &str| Amount::parse_at(s, scale3()).expect("valid price");
        let per_event = |service, p: &str| Tariff {
            service,
            price: price(p),
            unit_size: 1,
            minimum_units: 1,
            increment_units: 1,
        };
        let per_minute = |service, p: &str| Tariff {
            service,
            price: price(p),
            unit_size: 60,
            minimum_units: 30,
            increment_units: 1,
        };
        Agreement {
            home: home.parse().expect("valid TADIG"),
            visited: visited.parse().expect("valid TADIG"),
            valid_from: "2026-01-01T00:00:00Z".parse().expect("valid time"),
            valid_until: "2027-01-01T00:00:00Z".parse().expect("valid time"),
            currency: Currency::SDR,
            tariffs: vec![
                per_minute(ServiceKind::VoiceOriginated, "0.6"),
                per_minute(ServiceKind::VoiceTerminated, "0.06"),
                per_event(ServiceKind::SmsOriginated, "0.1"),
                per_event(ServiceKind::SmsTerminated, "0"),
                Tariff {
                    service: ServiceKind::Data,
                    price: price("0.01"),
                    unit_size: 1_048_576,
                    minimum_units: 1024,
                    increment_units: 1024,
                },
                per_minute(ServiceKind::MobileSession, "0.5"),
                per_event(ServiceKind::MessagingEvent, "0.05"),
                per_event(ServiceKind::SupplementaryService, "0.02"),
            ],
            tolerance: Tolerance {
                absolute: price("0.005"),
                relative_bps: 100,
            },
        }
    }

    /// `by` proposes `a`.
    pub fn propose(&self, a: &Agreement, by: &str) -> Command {
        let c = self.carrier(by);
        Command::ProposeAgreement(ProposeAgreement {
            agreement: a.clone(),
            proposer: c.tadig,
            signature: c.id.signer.sign(Domain::Agreement, &a.canonical_bytes()),
        })
    }

    /// `by` accepts `a`.
    pub fn accept(&self, a: &Agreement, by: &str) -> Command {
        let c = self.carrier(by);
        Command::AcceptAgreement(AcceptAgreement {
            id: a.id(),
            acceptor: c.tadig,
            signature: c.id.signer.sign(Domain::Agreement, &a.canonical_bytes()),
        })
    }

    /// Genesis, then an agreement proposed by the visited and accepted by the home network
    /// for every ordered pair.
    pub fn setup(&self) -> Vec<Command> {
        let mut out = vec![self.genesis()];
        for v in &self.carriers {
            for h in &self.carriers {
                if v.tadig != h.tadig {
                    let a = self.agreement(h.tadig.as_str(), v.tadig.as_str());
                    out.push(self.propose(&a, v.tadig.as_str()));
                    out.push(self.accept(&a, h.tadig.as_str()));
                }
            }
        }
        out
    }

    /// `n` valid records visited -> home, rated exactly by [`Fixture::agreement`], starting
    /// at `start` one minute apart; `salt` makes the events distinct across calls.
    pub fn records(&self, visited: &str, home: &str, n: u32, start: UtcTime, salt: u64) -> Vec<UsageRecord> {
        let a = self.agreement(home, visited);
        (0..n)
            .map(|i| {
                let k = salt.wrapping_mul(1_000_003).wrapping_add(u64::from(i));
                let service = match k % 4 {
                    0 | 1 => ServiceKind::VoiceOriginated,
                    2 => ServiceKind::SmsOriginated,
                    _ => ServiceKind::Data,
                };
                let duration_s = if service == ServiceKind::VoiceOriginated {
                    (k % 600) as u32 + 1
                } else {
                    0
                };
                let volume = if service == ServiceKind::Data {
                    (k % 5_000_000) + 1
                } else {
                    0
                };
                let mut r = UsageRecord {
                    visited: visited.parse().expect("valid TADIG"),
                    home: home.parse().expect("valid TADIG"),
                    imsi: format!("{}{:09}", home_mccmnc(home), k % 1_000_000_000)
                        .parse()
                        .expect("valid IMSI"),
                    msisdn: None,
                    service,
                    start: UtcTime::from_unix_seconds(start.unix_seconds() + i64::from(i) * 60),
                    duration_s,
                    volume_up_bytes: volume / 4,
                    volume_down_bytes: volume - volume / 4,
                    charged_units: match service {
                        ServiceKind::VoiceOriginated => u64::from(duration_s),
                        ServiceKind::Data => volume,
                        _ => 1,
                    },
                    charge: Amount::zero(scale3()),
                    tax: Amount::zero(scale3()),
                    other_party: Some(format!("8210{:08}", k % 100_000_000).parse().expect("digits")),
                    charging_id: (service == ServiceKind::Data).then_some(k),
                    source: SourceRef {
                        file_sequence_number: None,
                        record_index: i,
                    },
                };
                let charge = a
                    .rate(&r, Amount::zero(scale3()), scale3())
                    .expect("tariff exists")
                    .expect("rating fits")
                    .expected;
                r.charge = charge;
                r.tax = Amount::new(charge.minor() / 10, scale3());
                r
            })
            .collect()
    }

    /// A signed batch visited -> home with a client batch id.
    pub fn batch(&self, visited: &str, home: &str, id: &str, records: &[UsageRecord]) -> SubmitBatch {
        let key = BatchKey {
            sender: visited.parse().expect("valid TADIG"),
            recipient: home.parse().expect("valid TADIG"),
            id: BatchId::client(id).expect("valid id"),
        };
        SubmitBatch::build(
            key,
            Currency::SDR,
            scale3(),
            records,
            &self.carrier(visited).id.signer,
        )
        .expect("batch within limits")
    }

    /// `signer` signs the statement bytes.
    pub fn sign_statement(
        &self,
        period: crate::config::PeriodId,
        visited: Tadig,
        home: Tadig,
        signer: &str,
        bytes: &[u8],
    ) -> Command {
        let c = self.carrier(signer);
        Command::SignStatement(SignStatement {
            period,
            visited,
            home,
            signer: c.tadig,
            signature: c.id.signer.sign(Domain::Statement, bytes),
        })
    }

    /// `home` disputes `items`.
    pub fn dispute(&self, home: &str, items: Vec<DisputeItem>) -> Command {
        let payload = DisputePayload {
            home: home.parse().expect("valid TADIG"),
            items,
        };
        let signature = self
            .carrier(home)
            .id
            .signer
            .sign(Domain::Dispute, &payload.canonical_bytes());
        Command::DisputeRecords(DisputeRecords { payload, signature })
    }
}

/// A plausible MCC+MNC prefix for a home network's IMSIs.
fn home_mccmnc(home: &str) -> &'static str {
    match home {
        "KORKT" => "45008",
        "JPNDO" => "44010",
        "CHNCM" => "46000",
        _ => "99999",
    }
}

/// Encodes a command stamped `at`.
pub fn envelope(at: UtcTime, command: Command) -> Vec<u8> {
    Envelope::new(at, command).encode()
}
