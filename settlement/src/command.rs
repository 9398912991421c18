//! Replicated commands, their envelope and their outcomes.
//!
//! The Raft log carries [`Envelope`]s: the proposer's timestamp (ledger time) and a
//! [`Command`]. Encoding is a version byte followed by postcard (a deterministic, compact
//! serde format); the records inside a batch are the canonical binary encoding of
//! [`crate::codec`], carried as opaque bytes so the batch digest can be checked without
//! re-encoding. [`Outcome`]s are encoded the same way.

use serde::{Deserialize, Serialize};

use crate::agreement::Agreement;
use crate::batch::{BatchKey, SubmitBatch};
use crate::canonical::to_canonical;
use crate::config::{ConsortiumConfig, PeriodId};
use crate::crypto::{Domain, Ed25519Signer, Hash};
use crate::error::{CodecError, ErrorCode, RecordRejection, Rejection};
use crate::limits::COMMAND_BYTES_MAX;
use crate::registry::CarrierRegistration;
use crate::statement::StatementRef;
use crate::types::{Amount, Tadig, UtcTime};

/// Encoding version of envelopes and outcomes.
pub const COMMAND_FORMAT_VERSION: u8 = 1;

/// A command as the log carries it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// The proposer's clock when it proposed, seconds since the epoch. The machine's ledger
    /// time is the running maximum of these, so it never goes backwards.
    pub proposed_at_s: i64,
    /// The command.
    pub command: Command,
}

impl Envelope {
    /// An envelope stamped `at`.
    pub fn new(at: UtcTime, command: Command) -> Self {
        Envelope {
            proposed_at_s: at.unix_seconds(),
            command,
        }
    }

    /// Encodes: version byte, then postcard.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![COMMAND_FORMAT_VERSION];
        postcard::to_io(self, &mut out).expect("writing to a Vec cannot fail");
        out
    }

    /// Decodes, refusing oversized input and unknown versions.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, CodecError> {
        decode_versioned(bytes, "command")
    }
}

fn decode_versioned<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &'static str) -> Result<T, CodecError> {
    if bytes.len() > COMMAND_BYTES_MAX {
        return Err(CodecError::TooLong {
            field: what,
            offset: 0,
            len: bytes.len(),
            max: COMMAND_BYTES_MAX,
        });
    }
    match bytes.first() {
        Some(&COMMAND_FORMAT_VERSION) => {}
        Some(&v) => return Err(CodecError::Version { what, version: v }),
        None => {
            return Err(CodecError::Truncated {
                field: what,
                offset: 0,
                needed: 1,
                available: 0,
            });
        }
    }
    let (v, rest) = postcard::take_from_bytes::<T>(&bytes[1..]).map_err(|e| CodecError::Invalid {
        field: what,
        offset: 1,
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes {
            what,
            offset: bytes.len() - rest.len(),
            extra: rest.len(),
        });
    }
    Ok(v)
}

/// Every command the settlement machine applies.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Command {
    /// Founds the consortium: configuration, trust roots, first members. Only as the first
    /// command.
    Genesis(Genesis),
    /// Registers a carrier.
    RegisterCarrier(SignedRegistration),
    /// Changes a carrier's name, node id or certificate.
    UpdateCarrier(SignedRegistration),
    /// Retires a carrier.
    RetireCarrier(RetireCarrier),
    /// Changes the configuration (signed with a root key).
    SetConfig(SetConfig),
    /// One party proposes an agreement.
    ProposeAgreement(ProposeAgreement),
    /// The other party accepts it.
    AcceptAgreement(AcceptAgreement),
    /// A batch of usage.
    SubmitBatch(SubmitBatch),
    /// The home network disputes accepted records.
    DisputeRecords(DisputeRecords),
    /// Closes a period and emits its statements.
    ClosePeriod(ClosePeriod),
    /// A party signs a statement.
    SignStatement(SignStatement),
}

impl Command {
    /// The command's name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Genesis(_) => "genesis",
            Command::RegisterCarrier(_) => "register_carrier",
            Command::UpdateCarrier(_) => "update_carrier",
            Command::RetireCarrier(_) => "retire_carrier",
            Command::SetConfig(_) => "set_config",
            Command::ProposeAgreement(_) => "propose_agreement",
            Command::AcceptAgreement(_) => "accept_agreement",
            Command::SubmitBatch(_) => "submit_batch",
            Command::DisputeRecords(_) => "dispute_records",
            Command::ClosePeriod(_) => "close_period",
            Command::SignStatement(_) => "sign_statement",
        }
    }
}

/// A registration with the signature that authorizes it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SignedRegistration {
    /// What is registered.
    pub registration: CarrierRegistration,
    /// For a registration: by the key in `registration.certificate` (proof of possession).
    /// For an update: by the carrier's current key.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

impl SignedRegistration {
    /// Signs `registration` with `signer`.
    pub fn sign(registration: CarrierRegistration, signer: &Ed25519Signer) -> Self {
        let signature = signer.sign(Domain::Registry, &registration.canonical_bytes());
        SignedRegistration {
            registration,
            signature,
        }
    }
}

/// The consortium's founding command.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Genesis {
    /// Display name of the consortium.
    pub name: String,
    /// Its configuration.
    pub config: ConsortiumConfig,
    /// Trust roots (DER CA certificates) that issue carrier certificates.
    pub roots: Vec<Vec<u8>>,
    /// The founding members.
    pub carriers: Vec<SignedRegistration>,
}

/// Who authorizes a retirement.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetireAuthority {
    /// The carrier itself, with its current key.
    Carrier,
    /// A consortium root key (expulsion); the index is into the genesis roots.
    Root(u8),
}

/// The signed part of a retirement.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RetirePayload {
    /// The carrier retired.
    pub tadig: Tadig,
    /// The registry version it applies to.
    pub version: u64,
    /// Why, for the record.
    pub reason: String,
}

/// Retires a carrier.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RetireCarrier {
    /// What is signed.
    pub payload: RetirePayload,
    /// Who signs.
    pub authority: RetireAuthority,
    /// Signature over the payload's canonical bytes (domain registry or consortium).
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// The signed part of a configuration change.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ConfigPayload {
    /// The new configuration.
    pub config: ConsortiumConfig,
    /// The configuration version it replaces (replay protection).
    pub version: u64,
}

/// Changes the configuration; signed with a root key.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SetConfig {
    /// What is signed.
    pub payload: ConfigPayload,
    /// Index of the signing root.
    pub root: u8,
    /// Signature over the payload's canonical bytes (domain consortium).
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// One party proposes an agreement.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ProposeAgreement {
    /// The agreement.
    pub agreement: Agreement,
    /// Home or visited.
    pub proposer: Tadig,
    /// Signature over the agreement's canonical bytes (domain agreement).
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// The other party accepts an agreement.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AcceptAgreement {
    /// The agreement's id.
    pub id: Hash,
    /// The party accepting.
    pub acceptor: Tadig,
    /// Signature over the agreement's canonical bytes (domain agreement).
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// A record of the ledger: the batch it was accepted in and its index there.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct RecordId {
    /// The batch's sequence number (assigned when it was accepted).
    pub batch: u64,
    /// The record's index in the batch.
    pub index: u32,
}

impl RecordId {
    /// Fixed 12-byte big-endian form (batch, index), as stored in the dedup index.
    pub fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.batch.to_be_bytes());
        b[8..].copy_from_slice(&self.index.to_be_bytes());
        b
    }

    /// Parses the 12-byte form.
    pub fn from_bytes(b: &[u8]) -> Option<RecordId> {
        let b: &[u8; 12] = b.try_into().ok()?;
        Some(RecordId {
            batch: u64::from_be_bytes(b[..8].try_into().expect("8 bytes")),
            index: u32::from_be_bytes(b[8..].try_into().expect("4 bytes")),
        })
    }
}

impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.batch, self.index)
    }
}

impl std::str::FromStr for RecordId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (b, i) = s
            .split_once(':')
            .ok_or_else(|| format!("record id {s:?} must be BATCH:INDEX"))?;
        Ok(RecordId {
            batch: b.parse().map_err(|_| format!("bad batch number in {s:?}"))?,
            index: i.parse().map_err(|_| format!("bad record index in {s:?}"))?,
        })
    }
}

/// Reason codes of a dispute, modelled on RAP/TD.32 return reasons.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeReason {
    /// The subscriber is not ours or was not roaming there.
    SubscriberUnknown,
    /// The charge does not follow the agreement.
    RatingDiscrepancy,
    /// The same event was already charged.
    DuplicateEvent,
    /// The event time is implausible.
    InvalidTimestamp,
    /// The service was not provided as recorded.
    ServiceNotProvided,
    /// Anything else; the text says what.
    Other,
}

/// One disputed record.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DisputeItem {
    /// The record.
    pub record: RecordId,
    /// Why.
    pub reason: DisputeReason,
    /// Free text (at most 256 bytes).
    pub text: String,
}

/// The signed part of a dispute.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DisputePayload {
    /// The home network raising the dispute.
    pub home: Tadig,
    /// The records.
    pub items: Vec<DisputeItem>,
}

impl DisputePayload {
    /// Canonical bytes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        to_canonical(self)
    }
}

/// The home network rejects accepted records.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DisputeRecords {
    /// What is signed.
    pub payload: DisputePayload,
    /// Signature by the home network (domain dispute).
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// Closes a period. Unsigned: it can only close a period whose end has passed in ledger time,
/// so the worst a hostile proposer can do is choose the moment.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ClosePeriod {
    /// The period.
    pub period: PeriodId,
}

/// A party's signature on a statement.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SignStatement {
    /// The period.
    pub period: PeriodId,
    /// Visited network of the statement.
    pub visited: Tadig,
    /// Home network of the statement.
    pub home: Tadig,
    /// Who signs (one of the two).
    pub signer: Tadig,
    /// Signature over the statement's canonical bytes (domain statement).
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// A record accepted but beyond the rating tolerance.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FlaggedRecord {
    /// Index in the batch.
    pub index: u32,
    /// The declared charge, at the settlement scale.
    pub declared: Amount,
    /// The agreement's charge.
    pub expected: Amount,
}

/// The outcome of an accepted batch.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct BatchOutcome {
    /// The batch.
    pub key: BatchKey,
    /// Its digest.
    pub digest: Hash,
    /// Its sequence number in the ledger (record ids are `batch:index`).
    pub batch: u64,
    /// The period it counts in.
    pub period: PeriodId,
    /// Records accepted.
    pub accepted: u32,
    /// Records rejected with severe errors.
    pub rejected: Vec<RecordRejection>,
    /// Accepted records beyond the rating tolerance.
    pub flagged: Vec<FlaggedRecord>,
    /// True when this answers a retry: nothing was applied again.
    pub replayed: bool,
}

/// What applying a command produced.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Outcome {
    /// The consortium was founded.
    GenesisApplied {
        /// Its id: the hash of the genesis command.
        consortium: Hash,
    },
    /// A carrier was registered.
    CarrierRegistered {
        /// Which.
        tadig: Tadig,
    },
    /// A carrier was updated.
    CarrierUpdated {
        /// Which.
        tadig: Tadig,
        /// Its new registry version.
        version: u64,
    },
    /// A carrier was retired.
    CarrierRetired {
        /// Which.
        tadig: Tadig,
    },
    /// The configuration changed.
    ConfigSet {
        /// The new version.
        version: u64,
    },
    /// An agreement was proposed.
    AgreementProposed {
        /// Its id.
        id: Hash,
    },
    /// An agreement took effect.
    AgreementAccepted {
        /// Its id.
        id: Hash,
    },
    /// A batch was applied (possibly with record rejections).
    BatchApplied(BatchOutcome),
    /// Records were disputed.
    RecordsDisputed {
        /// Disputes counted in their (open) period.
        in_period: u32,
        /// Disputes of closed periods, counted as adjustments now.
        adjustments: u32,
    },
    /// A period was closed.
    PeriodClosed {
        /// Which.
        period: PeriodId,
        /// Its statements.
        statements: Vec<StatementRef>,
        /// Hash of the netting report.
        netting: Hash,
    },
    /// A statement was signed.
    StatementSigned {
        /// Which period.
        period: PeriodId,
        /// Visited.
        visited: Tadig,
        /// Home.
        home: Tadig,
        /// Who signed.
        signer: Tadig,
        /// True once both parties have signed.
        is_final: bool,
    },
    /// The command (or whole batch) was rejected; nothing changed.
    Rejected(Rejection),
}

impl Outcome {
    /// A rejection outcome.
    pub fn rejected(code: ErrorCode, message: impl Into<String>) -> Self {
        Outcome::Rejected(Rejection::new(code, message))
    }

    /// Encodes: version byte, then postcard.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![COMMAND_FORMAT_VERSION];
        postcard::to_io(self, &mut out).expect("writing to a Vec cannot fail");
        out
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Outcome, CodecError> {
        decode_versioned(bytes, "outcome")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PeriodId;

    #[test]
    fn envelopes_round_trip_and_refuse_other_versions() {
        let e = Envelope::new(
            UtcTime::from_unix_seconds(1_800_000_000),
            Command::ClosePeriod(ClosePeriod {
                period: PeriodId(UtcTime::from_unix_seconds(1_700_000_000)),
            }),
        );
        let bytes = e.encode();
        assert_eq!(Envelope::decode(&bytes).unwrap(), e);
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert!(matches!(
            Envelope::decode(&v2),
            Err(CodecError::Version { version: 2, .. })
        ));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            Envelope::decode(&trailing),
            Err(CodecError::TrailingBytes { .. })
        ));
        assert!(Envelope::decode(&[]).is_err());
        assert!(Envelope::decode(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn record_ids_parse() {
        let r: RecordId = "12:7".parse().unwrap();
        assert_eq!(r, RecordId { batch: 12, index: 7 });
        assert_eq!(r.to_string(), "12:7");
        assert!("12".parse::<RecordId>().is_err());
        assert!("a:1".parse::<RecordId>().is_err());
    }
}
