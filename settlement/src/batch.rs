//! Usage batches: the unit of ingest, of idempotency and of one Raft entry.
//!
//! The sender (visited network) signs the batch **digest**, which covers the idempotency key,
//! the currency, the scale and every record (draft §4.3):
//!
//! ```text
//! digest = SHA-256( "roamledger/v1/batch-digest\0" || key || currency || scale
//!                   || record_count (u32) || leaf_hash(record_0) || ... || leaf_hash(record_n-1) )
//! leaf_hash(r) = SHA-256( 0x00 || canonical record encoding )      (RFC 9162 leaf)
//! ```
//!
//! The proposer's timestamp is not part of the digest: a retry of the same batch at a later
//! time is the same batch.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::{Decode, Decoder, Encode, Encoder};
use crate::crypto::{Domain, Ed25519Signer, Hash};
use crate::error::{CodecError, TypeError};
use crate::limits::{CLIENT_BATCH_ID_BYTES_MAX, RECORDS_PER_BATCH_MAX};
use crate::merkle::leaf_hash;
use crate::types::{Currency, FileSequenceNumber, Scale, Tadig, UsageRecord};

/// What makes a batch unique for its sender and recipient.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchId {
    /// A TAP file's sequence number.
    FileSequence(FileSequenceNumber),
    /// A client-chosen id for CSV, JSON and streamed input (1..=64 bytes of printable ASCII).
    Client(String),
    /// One part of a TAP file with more records than one batch holds: parts are the file's
    /// records in order, cut every [`crate::limits::RECORDS_PER_FILE_PART`] records.
    FilePart {
        /// The file's sequence number.
        file: FileSequenceNumber,
        /// Zero-based index of this part.
        part: u32,
        /// How many parts the file has (at least 2).
        parts: u32,
    },
}

impl BatchId {
    /// Validates a client batch id.
    pub fn client(id: &str) -> Result<BatchId, TypeError> {
        if id.is_empty() || id.len() > CLIENT_BATCH_ID_BYTES_MAX {
            return Err(TypeError::TooLong {
                field: "client batch id",
                len: id.len(),
                max: CLIENT_BATCH_ID_BYTES_MAX,
            });
        }
        if !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TypeError::Digits {
                kind: "client batch id",
                value: id.to_owned(),
                reason: "only printable ASCII without spaces is allowed",
            });
        }
        Ok(BatchId::Client(id.to_owned()))
    }

    /// Validates a file part.
    pub fn file_part(file: FileSequenceNumber, part: u32, parts: u32) -> Result<BatchId, TypeError> {
        if parts < 2 || part >= parts {
            return Err(TypeError::FilePart { part, parts });
        }
        Ok(BatchId::FilePart { file, part, parts })
    }
}

/// The idempotency key of a batch: (sender, recipient, file sequence number or client id).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct BatchKey {
    /// The visited network that sends the usage.
    pub sender: Tadig,
    /// The home network billed.
    pub recipient: Tadig,
    /// The file or client batch id.
    pub id: BatchId,
}

impl fmt::Display for BatchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            BatchId::FileSequence(n) => write!(f, "{}->{} file {n}", self.sender, self.recipient),
            BatchId::Client(c) => write!(f, "{}->{} batch {c}", self.sender, self.recipient),
            BatchId::FilePart { file, part, parts } => write!(
                f,
                "{}->{} file {file} part {}/{parts}",
                self.sender,
                self.recipient,
                part + 1
            ),
        }
    }
}

impl Encode for BatchKey {
    fn encode(&self, e: &mut Encoder) {
        e.put(&self.sender);
        e.put(&self.recipient);
        match &self.id {
            BatchId::FileSequence(n) => {
                e.u8(1);
                e.u32(n.get());
            }
            BatchId::Client(c) => {
                e.u8(2);
                e.str(c);
            }
            BatchId::FilePart { file, part, parts } => {
                e.u8(3);
                e.u32(file.get());
                e.u32(*part);
                e.u32(*parts);
            }
        }
    }
}

impl Decode for BatchKey {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let sender = d.get()?;
        let recipient = d.get()?;
        let at = d.offset();
        let id = match d.u8("batch id kind")? {
            1 => {
                let n = d.u32("file_sequence_number")?;
                BatchId::FileSequence(
                    FileSequenceNumber::new(n)
                        .map_err(|e| d.invalid("file_sequence_number", e.to_string()))?,
                )
            }
            2 => {
                let c = d.str("client batch id", CLIENT_BATCH_ID_BYTES_MAX)?;
                BatchId::client(c).map_err(|e| d.invalid("client batch id", e.to_string()))?
            }
            3 => {
                let n = d.u32("file_sequence_number")?;
                let file = FileSequenceNumber::new(n)
                    .map_err(|e| d.invalid("file_sequence_number", e.to_string()))?;
                let part = d.u32("file part")?;
                let parts = d.u32("file parts")?;
                BatchId::file_part(file, part, parts).map_err(|e| d.invalid("file part", e.to_string()))?
            }
            k => {
                return Err(CodecError::Invalid {
                    field: "batch id kind",
                    offset: at,
                    reason: format!("unknown kind {k}"),
                });
            }
        };
        Ok(BatchKey {
            sender,
            recipient,
            id,
        })
    }
}

/// Domain label of the batch digest.
const DIGEST_LABEL: &[u8] = b"roamledger/v1/batch-digest\0";

/// Computes the digest over an already-encoded record sequence, returning the digest and the
/// records' leaf hashes (which the ledger appends to the statement's Merkle tree).
pub fn digest_records(key: &BatchKey, currency: Currency, scale: Scale, leaves: &[Hash]) -> Hash {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(DIGEST_LABEL);
    h.update(key.to_bytes());
    h.update(currency.as_bytes());
    h.update([scale.places()]);
    h.update((leaves.len() as u32).to_be_bytes());
    for l in leaves {
        h.update(l.0);
    }
    Hash(h.finalize().into())
}

/// The `SubmitBatch` command: a signed batch of usage from one visited network to one home
/// network.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SubmitBatch {
    /// The idempotency key.
    pub key: BatchKey,
    /// Currency of all amounts.
    pub currency: Currency,
    /// Decimal places of all amounts (TAP `tapDecimalPlaces`).
    pub scale: Scale,
    /// Number of records in `records`.
    pub record_count: u32,
    /// The records' canonical encodings, concatenated.
    #[serde(with = "serde_bytes")]
    pub records: Vec<u8>,
    /// The batch digest.
    pub digest: Hash,
    /// The sender's signature over the digest (domain `roamledger/v1/batch`).
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// One decoded record of a batch with its leaf hash.
#[derive(Clone, Debug)]
pub struct DecodedRecord {
    /// The record.
    pub record: UsageRecord,
    /// `leaf_hash` of its canonical encoding.
    pub leaf: Hash,
}

impl SubmitBatch {
    /// Builds and signs a batch. Fails if there are more records than a batch may hold.
    pub fn build(
        key: BatchKey,
        currency: Currency,
        scale: Scale,
        records: &[UsageRecord],
        signer: &Ed25519Signer,
    ) -> Result<SubmitBatch, TypeError> {
        if records.len() > RECORDS_PER_BATCH_MAX {
            return Err(TypeError::TooLong {
                field: "batch records",
                len: records.len(),
                max: RECORDS_PER_BATCH_MAX,
            });
        }
        let mut e = Encoder::with_capacity(records.len() * 112);
        let mut leaves = Vec::with_capacity(records.len());
        for r in records {
            let at = e.len();
            e.put(r);
            leaves.push(leaf_hash(&e.as_bytes()[at..]));
        }
        let digest = digest_records(&key, currency, scale, &leaves);
        let signature = signer.sign(Domain::Batch, &digest.0);
        Ok(SubmitBatch {
            key,
            currency,
            scale,
            record_count: records.len() as u32,
            records: e.into_bytes(),
            digest,
            signature,
        })
    }

    /// Decodes every record and computes its leaf hash. Errors name the record index and the
    /// byte offset within the records.
    pub fn decode_records(&self) -> Result<Vec<DecodedRecord>, (u32, CodecError)> {
        let n = self.record_count as usize;
        if n > RECORDS_PER_BATCH_MAX {
            return Err((
                0,
                CodecError::TooLong {
                    field: "record_count",
                    offset: 0,
                    len: n,
                    max: RECORDS_PER_BATCH_MAX,
                },
            ));
        }
        let mut out = Vec::with_capacity(n.min(self.records.len() / 40 + 1));
        let mut d = Decoder::new(&self.records);
        for i in 0..self.record_count {
            let at = d.offset();
            let record = UsageRecord::decode(&mut d).map_err(|e| (i, e))?;
            let leaf = leaf_hash(&self.records[at..d.offset()]);
            out.push(DecodedRecord { record, leaf });
        }
        d.finish("batch records").map_err(|e| (self.record_count, e))?;
        Ok(out)
    }

    /// The digest recomputed from the content.
    pub fn compute_digest(&self, leaves: &[Hash]) -> Hash {
        digest_records(&self.key, self.currency, self.scale, leaves)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Role;
    use crate::testkit::TestPki;
    use crate::types::sample_record;

    fn key() -> BatchKey {
        BatchKey {
            sender: "KORKT".parse().unwrap(),
            recipient: "JPNDO".parse().unwrap(),
            id: BatchId::FileSequence(FileSequenceNumber::new(42).unwrap()),
        }
    }

    #[test]
    fn build_decode_and_digest_agree() {
        let pki = TestPki::new("root");
        let c = pki.issue("KORKT", Role::Signer, (2025, 2030));
        let recs: Vec<_> = (0..5).map(sample_record).collect();
        let b = SubmitBatch::build(key(), Currency::SDR, Scale::new(3).unwrap(), &recs, &c.signer).unwrap();
        let decoded = b.decode_records().unwrap();
        assert_eq!(decoded.iter().map(|d| d.record.clone()).collect::<Vec<_>>(), recs);
        let leaves: Vec<Hash> = decoded.iter().map(|d| d.leaf).collect();
        assert_eq!(b.compute_digest(&leaves), b.digest);
        c.signer
            .public_key()
            .verify(Domain::Batch, &b.digest.0, &b.signature)
            .unwrap();
        // Any change of key, scale or a record changes the digest.
        let mut k2 = key();
        k2.id = BatchId::FileSequence(FileSequenceNumber::new(43).unwrap());
        assert_ne!(
            digest_records(&k2, Currency::SDR, Scale::new(3).unwrap(), &leaves),
            b.digest
        );
        assert_ne!(
            digest_records(&key(), Currency::SDR, Scale::new(2).unwrap(), &leaves),
            b.digest
        );
        assert_ne!(
            digest_records(&key(), Currency::SDR, Scale::new(3).unwrap(), &leaves[1..]),
            b.digest
        );
    }

    #[test]
    fn malformed_record_bytes_name_the_record() {
        let pki = TestPki::new("root");
        let c = pki.issue("KORKT", Role::Signer, (2025, 2030));
        let recs: Vec<_> = (0..3).map(sample_record).collect();
        let mut b =
            SubmitBatch::build(key(), Currency::SDR, Scale::new(3).unwrap(), &recs, &c.signer).unwrap();
        let one = recs[0].to_bytes().len();
        b.records.truncate(one * 2 + 5);
        let (idx, err) = b.decode_records().unwrap_err();
        assert_eq!(idx, 2);
        assert!(matches!(err, CodecError::Truncated { .. }), "{err}");
        b.record_count = 1;
        b.records = recs[0].to_bytes();
        b.records.push(0);
        assert!(matches!(
            b.decode_records(),
            Err((1, CodecError::TrailingBytes { .. }))
        ));
    }

    #[test]
    fn batch_keys_encode_and_validate() {
        let k = BatchKey {
            sender: "KORKT".parse().unwrap(),
            recipient: "JPNDO".parse().unwrap(),
            id: BatchId::client("csv-2026-11-23-001").unwrap(),
        };
        assert_eq!(BatchKey::from_bytes(&k.to_bytes(), "key").unwrap(), k);
        assert_eq!(BatchKey::from_bytes(&key().to_bytes(), "key").unwrap(), key());
        let part = BatchKey {
            id: BatchId::file_part(FileSequenceNumber::new(42).unwrap(), 1, 3).unwrap(),
            ..key()
        };
        assert_eq!(BatchKey::from_bytes(&part.to_bytes(), "key").unwrap(), part);
        assert_eq!(part.to_string(), "KORKT->JPNDO file 00042 part 2/3");
        assert!(BatchId::file_part(FileSequenceNumber::new(1).unwrap(), 3, 3).is_err());
        assert!(BatchId::file_part(FileSequenceNumber::new(1).unwrap(), 0, 1).is_err());
        assert!(BatchId::client("").is_err());
        assert!(BatchId::client("has space").is_err());
        assert!(BatchId::client(&"x".repeat(65)).is_err());
        assert_eq!(key().to_string(), "KORKT->JPNDO file 00042");
    }
}
