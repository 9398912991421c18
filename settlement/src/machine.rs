//! The settlement state machine: `apply(index, command bytes) -> outcome`.
//!
//! Each call decodes one [`Envelope`], applies it against the state in the [`Store`], and
//! writes every change of that command **together with the applied index and the new ledger
//! head** in one atomic [`WriteBatch`]. A crash between two calls therefore leaves a store
//! that says exactly how far it got; the driver replays from `applied_index() + 1`.
//!
//! Small, hot state is cached in memory and mirrored in the store (carriers, accepted
//! agreements, periods, the pair ledgers of open periods); everything else (records,
//! statements) is read from the store on demand.
//!
//! The duplicate index (event fingerprint -> accepted record) is derived data, not state:
//! the entries of recent batches live in memory, older ones in runs the store keeps
//! ([`Store::index_seal`]), and opening the machine reloads from the stored batches what the
//! store's runs do not cover. A record costs a hash-table insert and lookup instead of a
//! key in the store's ordered index (which was more than half of a three-node cluster's CPU).
//!
//! Domain rejections are [`Outcome::Rejected`] (or record rejections inside a batch outcome)
//! and change nothing but the ledger head. [`ApplyError`] means the machine cannot continue:
//! it is then *poisoned* and must be dropped and reopened from its store.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::agreement::{Agreement, Rating};
use crate::batch::{BatchKey, SubmitBatch};
use crate::codec::{Encode, Encoder};
use crate::command::*;
use crate::config::{ConsortiumConfig, PeriodId};
use crate::crypto::{Domain, Hash, sha256};
use crate::error::{ApplyError, ErrorCode, MoneyError, RecordRejection, Rejection, StoreError};
use crate::keys;
use crate::ledger::{PairLedger, RecordAmounts, Totals};
use crate::limits::*;
use crate::merkle::{InclusionProof, TreeReader, inclusion_proof, leaf_hash};
use crate::registry::{
    CarrierEntry, CarrierRegistration, CarrierStatus, check_registration, check_signature,
};
use crate::statement::{
    AmountTotals, ClearingStatement, NETTING_FORMAT, NettingReport, STATEMENT_FORMAT, ServiceLine,
    StatementRef, compute_netting,
};
use crate::store::{IndexKey, IndexRun, IndexValue, ReadStore, Store, WriteBatch};
use crate::types::{Amount, Scale, ServiceKind, Tadig, UsageRecord, UtcTime};

/// Domain label of the ledger head chain.
const CHAIN_LABEL: &[u8] = b"roamledger/v1/chain\0";

/// The machine's progress, stored under [`keys::META`] with every command.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Meta {
    /// Last log index applied (commands and skipped entries).
    pub applied_index: u64,
    /// The ledger head: `SHA-256(label || previous head || index || SHA-256(command bytes))`.
    pub head: Hash,
    /// Ledger time: running maximum of the proposers' timestamps, seconds.
    pub ledger_time_s: i64,
    /// Sequence number the next accepted batch gets.
    pub next_batch: u64,
    /// Commands applied (skipped entries not counted).
    pub commands: u64,
}

/// Facts fixed at genesis.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct GenesisInfo {
    /// Hash of the genesis command: the consortium's id.
    pub consortium: Hash,
    /// Display name.
    pub name: String,
    /// Trust roots (DER).
    pub roots: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
struct ConfigEntry {
    config: ConsortiumConfig,
    version: u64,
}

/// Open or closed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodStatus {
    /// Accepting traffic and disputes.
    Open,
    /// Statements emitted.
    Closed,
}

/// A clearing period.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PeriodEntry {
    /// Its id (start).
    pub id: PeriodId,
    /// End, exclusive.
    pub end: UtcTime,
    /// Open or closed.
    pub status: PeriodStatus,
    /// Log index of the close.
    pub closed_at_index: Option<u64>,
}

/// A batch as stored.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct StoredBatch {
    /// The outcome returned when it was applied.
    pub outcome: BatchOutcome,
    /// Ledger time of the apply.
    pub ledger_time: UtcTime,
    /// Log index of the apply.
    pub log_index: u64,
    /// Leaf index of its first accepted record in the pair's tree.
    pub leaf_start: u64,
    /// Number of records.
    pub record_count: u32,
    /// The records' canonical encodings.
    #[serde(with = "serde_bytes")]
    pub records: Vec<u8>,
}

impl StoredBatch {
    /// Decodes every record.
    pub fn records(&self) -> Result<Vec<UsageRecord>, crate::error::CodecError> {
        let mut d = crate::codec::Decoder::new(&self.records);
        let mut out = Vec::with_capacity(self.record_count as usize);
        for _ in 0..self.record_count {
            out.push(d.get()?);
        }
        Ok(out)
    }

    fn is_rejected(&self, index: u32) -> bool {
        self.outcome
            .rejected
            .binary_search_by(|r| r.index.cmp(&index))
            .is_ok()
    }

    /// Leaf index of record `index` (which must be accepted).
    fn leaf_index(&self, index: u32) -> u64 {
        let rejected_before = self.outcome.rejected.partition_point(|r| r.index < index) as u64;
        self.leaf_start + u64::from(index) - rejected_before
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
struct KeyEntry {
    batch: u64,
    digest: Hash,
}

/// A dispute as stored.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DisputeEntry {
    /// The record.
    pub record: RecordId,
    /// Why.
    pub reason: DisputeReason,
    /// Free text.
    pub text: String,
    /// Ledger time it was raised.
    pub raised_at: UtcTime,
    /// The period whose statement counts it.
    pub counted_in: PeriodId,
    /// True when the record's own period was already closed (an adjustment).
    pub adjustment: bool,
}

/// An agreement and its signatures.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AgreementEntry {
    /// The agreement.
    pub agreement: Agreement,
    /// Who proposed it.
    pub proposer: Tadig,
    /// The proposer's signature.
    #[serde(with = "serde_bytes")]
    pub proposer_signature: Vec<u8>,
    /// The acceptor's signature, once accepted.
    #[serde(with = "serde_bytes")]
    pub acceptor_signature: Vec<u8>,
    /// Log index of the acceptance.
    pub accepted_at_index: Option<u64>,
}

/// A statement as stored: canonical bytes and the signatures collected so far.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct StatementEntry {
    /// The canonical bytes.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
    /// SHA-256 of the bytes.
    pub hash: Hash,
    /// Signatures by party.
    pub signatures: BTreeMap<Tadig, Vec<u8>>,
}

impl StatementEntry {
    /// The parsed statement.
    pub fn statement(&self) -> ClearingStatement {
        ClearingStatement::from_canonical_bytes(&self.bytes).expect("stored statements are canonical")
    }

    /// True when both parties signed.
    pub fn is_final(&self) -> bool {
        let s = self.statement();
        self.signatures.contains_key(&s.visited) && self.signatures.contains_key(&s.home)
    }
}

/// A record with where it stands, and its inclusion proof.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RecordProof {
    /// The record.
    pub record: UsageRecord,
    /// Its id.
    pub id: RecordId,
    /// Its canonical encoding (the Merkle leaf data).
    #[serde(with = "serde_bytes")]
    pub leaf_data: Vec<u8>,
    /// The period the record belongs to.
    pub period: PeriodId,
    /// The proof against the tree of `proof.tree_size` leaves.
    pub proof: InclusionProof,
    /// The root of that tree: the statement's `records_root` once the period is closed.
    pub root: Hash,
    /// Hash of the statement that carries `root`, when the period is closed.
    pub statement: Option<Hash>,
}

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Nothing with that id.
    #[error("{0}")]
    NotFound(String),
    /// The store failed or holds corrupt data.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_stdvec(v).expect("state values serialize")
}

/// [`enc`] into a buffer of `capacity` bytes: a stored batch (hundreds of kilobytes of
/// records) is written once instead of through a dozen doubling reallocations.
fn enc_with_capacity<T: Serialize>(v: &T, capacity: usize) -> Vec<u8> {
    postcard::to_extend(v, Vec::with_capacity(capacity)).expect("state values serialize")
}

fn dec<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, ApplyError> {
    postcard::from_bytes(bytes).map_err(|e| ApplyError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        source: crate::error::CodecError::Invalid {
            field: "state value",
            offset: 0,
            reason: e.to_string(),
        },
    })
}

fn get<T: DeserializeOwned, R: ReadStore + ?Sized>(store: &R, key: &[u8]) -> Result<Option<T>, ApplyError> {
    match store.get(key)? {
        Some(b) => Ok(Some(dec(key, &b)?)),
        None => Ok(None),
    }
}

fn scan_prefix<R: ReadStore + ?Sized>(
    store: &R,
    prefix: &[u8],
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), ApplyError>,
) -> Result<(), ApplyError> {
    let end = keys::prefix_end(prefix);
    let mut err = None;
    store.scan(prefix, Some(&end), &mut |k, v| match visit(k, v) {
        Ok(()) => true,
        Err(e) => {
            err = Some(e);
            false
        }
    })?;
    err.map_or(Ok(()), Err)
}

/// Recomputes the ledger head from `start_head` (the head after some log index) over
/// `commands`: `(log index, command bytes)` of every command applied after it, in order
/// (standards-draft §6.4).
pub fn chain_head(start_head: Hash, commands: impl IntoIterator<Item = (u64, Vec<u8>)>) -> Hash {
    commands.into_iter().fold(start_head, |head, (index, bytes)| {
        sha256(&[CHAIN_LABEL, &head.0, &index.to_be_bytes(), &sha256(&[&bytes]).0])
    })
}

/// Why a record is a duplicate.
#[derive(Clone, Copy)]
enum Duplicate {
    /// An earlier record of the same batch has the same identity.
    InBatch,
    /// A record accepted before has the same identity.
    Accepted(RecordId),
}

/// What one command sees besides its own content.
struct Ctx {
    index: u64,
    time: UtcTime,
    command_digest: Hash,
}

/// Turns a money overflow while aggregating into a rejection.
fn overflow(e: MoneyError, what: &str) -> Rejection {
    Rejection::new(ErrorCode::AggregateOverflow, format!("{what}: {e}"))
}

/// The settlement state machine over a store.
pub struct SettlementMachine<S: Store> {
    store: S,
    meta: Meta,
    genesis: Option<GenesisInfo>,
    config: ConfigEntry,
    carriers: BTreeMap<Tadig, CarrierEntry>,
    /// Accepted agreements by (home, visited), ordered by `valid_from`.
    agreements: BTreeMap<(Tadig, Tadig), Vec<Agreement>>,
    periods: BTreeMap<PeriodId, PeriodEntry>,
    /// Pair ledgers of open periods, by (period, visited, home).
    ledgers: BTreeMap<(PeriodId, Tadig, Tadig), PairLedger>,
    /// Duplicate-index entries (fingerprint -> record id) of the batches from the store's
    /// `index_through` on: the recent part of the index, in memory until it is handed to the
    /// store as one run (see [`Store`]).
    recent: IndexRun,
    /// How many entries `recent` holds before it is sealed.
    recent_max: usize,
    /// Entries of the command being applied; they join `recent` once its state write lands.
    pending: Vec<(IndexKey, IndexValue)>,
    poisoned: bool,
}

/// The machine's progress as `store` holds it, without opening the machine: a driver reads
/// it from a view of what is durable to learn how far the state has been made durable (an
/// empty store gives the default, applied index 0).
pub fn stored_meta<R: ReadStore + ?Sized>(store: &R) -> Result<Meta, ApplyError> {
    Ok(get(store, keys::META)?.unwrap_or_default())
}

impl<S: Store> SettlementMachine<S> {
    /// Opens the machine over `store`, loading the cached state. An empty store gives a
    /// machine waiting for its genesis command.
    pub fn open(store: S) -> Result<Self, ApplyError> {
        let meta = stored_meta(&store)?;
        let genesis = get(&store, keys::GENESIS)?;
        let config = get(&store, keys::CONFIG)?.unwrap_or(ConfigEntry {
            config: ConsortiumConfig::default(),
            version: 0,
        });
        let mut carriers = BTreeMap::new();
        scan_prefix(&store, b"C", |k, v| {
            let c: CarrierEntry = dec(k, v)?;
            carriers.insert(c.registration.tadig, c);
            Ok(())
        })?;
        let mut agreements: BTreeMap<(Tadig, Tadig), Vec<Agreement>> = BTreeMap::new();
        scan_prefix(&store, b"A", |k, v| {
            let a: AgreementEntry = dec(k, v)?;
            if a.accepted_at_index.is_some() {
                let list = agreements
                    .entry((a.agreement.home, a.agreement.visited))
                    .or_default();
                list.push(a.agreement);
                list.sort_by_key(|a| a.valid_from);
            }
            Ok(())
        })?;
        let mut periods = BTreeMap::new();
        scan_prefix(&store, b"P", |k, v| {
            let p: PeriodEntry = dec(k, v)?;
            periods.insert(p.id, p);
            Ok(())
        })?;
        let mut ledgers = BTreeMap::new();
        for p in periods.values().filter(|p| p.status == PeriodStatus::Open) {
            scan_prefix(&store, &keys::ledger_prefix(p.id), |k, v| {
                let (vis, home) = keys::pair_of(k);
                ledgers.insert((p.id, vis, home), dec(k, v)?);
                Ok(())
            })?;
        }
        let mut m = SettlementMachine {
            store,
            meta,
            genesis,
            config,
            carriers,
            agreements,
            periods,
            ledgers,
            recent: IndexRun::default(),
            recent_max: DEDUP_MEMORY_ENTRIES,
            pending: Vec::new(),
            poisoned: false,
        };
        m.rebuild_recent_index()?;
        Ok(m)
    }

    /// Sets how many duplicate-index entries the machine keeps in memory before it hands them
    /// to the store (default [`DEDUP_MEMORY_ENTRIES`]; at least 1). Answers never depend on it.
    pub fn set_index_memory_entries(&mut self, entries: usize) {
        self.recent_max = entries.max(1);
    }

    /// Loads the duplicate-index entries of the stored batches the store's sealed index does
    /// not cover (from its `index_through` to the last stored batch): they were in memory
    /// only when the process stopped, or the index was cleared. Batches are read in order
    /// and sealed in runs of `recent_max` entries, so a whole ledger (after a snapshot
    /// install) never sits in memory at once.
    fn rebuild_recent_index(&mut self) -> Result<(), ApplyError> {
        let mut from = self.store.index_through()?;
        while from < self.meta.next_batch {
            // Some(seq) when the entries of batch `seq` would not fit: seal, resume there.
            let mut resume = None;
            let mut err = None;
            let (recent, recent_max) = (&mut self.recent, self.recent_max);
            self.store.scan(
                &keys::batch(from),
                Some(&keys::batch(self.meta.next_batch)),
                &mut |k, v| {
                    let loaded = dec::<StoredBatch>(k, v).and_then(|b| {
                        let accepted = (b.record_count as usize).saturating_sub(b.outcome.rejected.len());
                        if !recent.is_empty() && recent.len() + accepted > recent_max {
                            resume = Some(b.outcome.batch);
                            return Ok(false);
                        }
                        let records = b.records().map_err(|source| ApplyError::Corrupt {
                            key: String::from_utf8_lossy(k).into_owned(),
                            source,
                        })?;
                        for (i, r) in records.iter().enumerate() {
                            let i = i as u32;
                            if !b.is_rejected(i) {
                                let id = RecordId {
                                    batch: b.outcome.batch,
                                    index: i,
                                };
                                recent.insert(r.identity().fingerprint(), id.to_bytes());
                            }
                        }
                        Ok(true)
                    });
                    loaded.unwrap_or_else(|e| {
                        err = Some(e);
                        false
                    })
                },
            )?;
            if let Some(e) = err {
                return Err(e);
            }
            let Some(seq) = resume else {
                // Every stored batch from `from` on is loaded.
                break;
            };
            self.seal_recent_index(seq)?;
            from = seq;
        }
        Ok(())
    }

    /// Adds the entries of the command just applied to the in-memory index. A run is sealed
    /// before they would take it past `recent_max` (so the hash table never grows beyond the
    /// size that limit needs), and after them if they alone reach it.
    fn add_pending_to_index(&mut self) -> Result<(), ApplyError> {
        if !self.recent.is_empty() && self.recent.len() + self.pending.len() > self.recent_max {
            let first = self
                .pending
                .iter()
                .filter_map(|(_, v)| RecordId::from_bytes(v))
                .map(|id| id.batch)
                .min()
                .unwrap_or(self.meta.next_batch);
            self.seal_recent_index(first)?;
        }
        self.recent.extend(self.pending.drain(..));
        if self.recent.len() >= self.recent_max {
            self.seal_recent_index(self.meta.next_batch)?;
        }
        Ok(())
    }

    /// True when applying the next command could wait for the store: the in-memory index is
    /// within one batch of being sealed ([`RECORDS_PER_BATCH_MAX`] entries) and the store
    /// says a seal now would wait for earlier ones ([`Store::index_seal_would_wait`]). A
    /// driver that must stay responsive (Raft heartbeats) applies the command later instead of
    /// waiting inside `apply`; the outcome is the same either way.
    pub fn apply_would_wait(&self) -> bool {
        self.recent.len().saturating_add(RECORDS_PER_BATCH_MAX) >= self.recent_max
            && self.store.index_seal_would_wait()
    }

    /// Hands the in-memory index entries to the store as one run that completes the index
    /// below batch `through`, and starts a new one of the same capacity (no regrowing): a run
    /// the store is through with when it has one of that size, a new one otherwise.
    ///
    /// Why reuse: the first write to each page of a new run faults the page in. The kernel's
    /// zeroing of faulted pages was 6.9% of the cluster bench's CPU samples with a new run
    /// (and a new sort buffer in the sealing thread) per seal, 2.0% with both reused.
    fn seal_recent_index(&mut self, through: u64) -> Result<(), ApplyError> {
        let capacity = self.recent.capacity();
        let run = std::mem::take(&mut self.recent);
        let spent = self.store.index_seal(run, through)?;
        self.recent = match spent {
            Some(r) if r.is_empty() && r.capacity() >= capacity => r,
            _ => IndexRun::with_capacity(capacity),
        };
        Ok(())
    }

    /// The ids of the records accepted earlier with these fingerprints: the in-memory entries
    /// first, the store's sealed runs for the rest. An id of a batch at or after `applying`
    /// is ignored: only a sealed run written before a crash that lost the state writes of its
    /// batches can hold one, and the replay of those batches must decide as the first apply did.
    fn earlier_records(
        &self,
        fingerprints: &[IndexKey],
        applying: u64,
    ) -> Result<Vec<Option<RecordId>>, ApplyError> {
        let mut found: Vec<Option<IndexValue>> =
            fingerprints.iter().map(|f| self.recent.get(f).copied()).collect();
        let missing: Vec<usize> = (0..found.len()).filter(|&i| found[i].is_none()).collect();
        if !missing.is_empty() {
            let asked: Vec<&IndexKey> = missing.iter().map(|&i| &fingerprints[i]).collect();
            for (i, v) in missing.into_iter().zip(self.store.index_get_many(&asked)?) {
                found[i] = v;
            }
        }
        Ok(found
            .into_iter()
            .map(|v| {
                v.and_then(|v| RecordId::from_bytes(&v))
                    .filter(|id| id.batch < applying)
            })
            .collect())
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// Last applied log index.
    pub fn applied_index(&self) -> u64 {
        self.meta.applied_index
    }

    /// The ledger head (hash chain over every applied command).
    pub fn head(&self) -> Hash {
        self.meta.head
    }

    /// Progress metadata.
    pub fn meta(&self) -> Meta {
        self.meta
    }

    /// Ledger time.
    pub fn ledger_time(&self) -> UtcTime {
        UtcTime::from_unix_seconds(self.meta.ledger_time_s)
    }

    /// Genesis facts, once founded.
    pub fn genesis(&self) -> Option<&GenesisInfo> {
        self.genesis.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &ConsortiumConfig {
        &self.config.config
    }

    /// The configuration version (bumped by every change).
    pub fn config_version(&self) -> u64 {
        self.config.version
    }

    /// Registered carriers, active and retired.
    pub fn carriers(&self) -> &BTreeMap<Tadig, CarrierEntry> {
        &self.carriers
    }

    /// Periods by start.
    pub fn periods(&self) -> &BTreeMap<PeriodId, PeriodEntry> {
        &self.periods
    }

    /// Accepted agreements for (home, visited).
    pub fn accepted_agreements(&self, home: Tadig, visited: Tadig) -> &[Agreement] {
        self.agreements.get(&(home, visited)).map_or(&[], Vec::as_slice)
    }

    /// Applies the command at log `index`. Returns its outcome; the state change (possibly
    /// none), the applied index and the new head are already durable in the store.
    pub fn apply(&mut self, index: u64, bytes: &[u8]) -> Result<Outcome, ApplyError> {
        assert!(
            !self.poisoned,
            "settlement machine used after an apply error; reopen it"
        );
        if index <= self.meta.applied_index {
            return Err(ApplyError::OutOfOrder {
                index,
                applied: self.meta.applied_index,
            });
        }
        let command_digest = sha256(&[bytes]);
        let mut wb = WriteBatch::new();
        let outcome = match Envelope::decode(bytes) {
            Err(e) => Outcome::rejected(
                ErrorCode::CommandMalformed,
                format!("command at log index {index}: {e}"),
            ),
            Ok(env) => {
                self.meta.ledger_time_s = self.meta.ledger_time_s.max(env.proposed_at_s);
                let ctx = Ctx {
                    index,
                    time: self.ledger_time(),
                    command_digest,
                };
                match self.dispatch(&ctx, env.command, &mut wb) {
                    Ok(Ok(o)) => o,
                    Ok(Err(rejection)) => {
                        // A rejection changed no cached state; nothing it staged may land.
                        wb = WriteBatch::new();
                        self.pending.clear();
                        Outcome::Rejected(rejection)
                    }
                    Err(e) => {
                        self.poisoned = true;
                        return Err(e);
                    }
                }
            }
        };
        self.meta.applied_index = index;
        self.meta.commands += 1;
        self.meta.head = sha256(&[
            CHAIN_LABEL,
            &self.meta.head.0,
            &index.to_be_bytes(),
            &command_digest.0,
        ]);
        if self.meta.commands.is_multiple_of(HEAD_CHECKPOINT_COMMANDS) {
            wb.put(keys::head_checkpoint(index), self.meta.head.0.to_vec());
        }
        wb.put(keys::META.to_vec(), enc(&self.meta));
        if let Err(e) = self.store.write(wb) {
            self.poisoned = true;
            return Err(e.into());
        }
        if !self.pending.is_empty()
            && let Err(e) = self.add_pending_to_index()
        {
            self.poisoned = true;
            return Err(e);
        }
        Ok(outcome)
    }

    /// Records that log entry `index` carried no settlement command (an empty entry or a
    /// membership change). The head does not move.
    pub fn skip(&mut self, index: u64) -> Result<(), ApplyError> {
        assert!(
            !self.poisoned,
            "settlement machine used after an apply error; reopen it"
        );
        if index <= self.meta.applied_index {
            return Err(ApplyError::OutOfOrder {
                index,
                applied: self.meta.applied_index,
            });
        }
        let mut meta = self.meta;
        meta.applied_index = index;
        let mut wb = WriteBatch::new();
        wb.put(keys::META.to_vec(), enc(&meta));
        if let Err(e) = self.store.write(wb) {
            self.poisoned = true;
            return Err(e.into());
        }
        self.meta = meta;
        Ok(())
    }

    /// Applies one command. `Ok(Err(_))` is a domain rejection: nothing in `wb` and no cached
    /// state was changed. Cached state is updated only after every check passed.
    fn dispatch(
        &mut self,
        ctx: &Ctx,
        cmd: Command,
        wb: &mut WriteBatch,
    ) -> Result<Result<Outcome, Rejection>, ApplyError> {
        if self.genesis.is_none() && !matches!(cmd, Command::Genesis(_)) {
            return Ok(Err(Rejection::new(
                ErrorCode::GenesisState,
                format!("{} before the consortium's genesis", cmd.name()),
            )));
        }
        match cmd {
            Command::Genesis(g) => self.genesis_cmd(ctx, g, wb),
            Command::RegisterCarrier(r) => self.register(ctx, r, wb),
            Command::UpdateCarrier(r) => self.update_carrier(ctx, r, wb),
            Command::RetireCarrier(r) => self.retire(ctx, r, wb),
            Command::SetConfig(c) => self.set_config(c, wb),
            Command::ProposeAgreement(p) => self.propose_agreement(ctx, p, wb),
            Command::AcceptAgreement(a) => self.accept_agreement(ctx, a, wb),
            Command::SubmitBatch(b) => self.submit_batch(ctx, b, wb),
            Command::DisputeRecords(d) => self.dispute(ctx, d, wb),
            Command::ClosePeriod(c) => self.close_period(ctx, c, wb),
            Command::SignStatement(s) => self.sign_statement(ctx, s, wb),
        }
    }

    fn active(&self, t: Tadig, code: ErrorCode, role: &str) -> Result<&CarrierEntry, Rejection> {
        match self.carriers.get(&t) {
            Some(c) if c.is_active() => Ok(c),
            Some(_) => Err(Rejection::new(code, format!("{role} {t} is retired"))),
            None => Err(Rejection::new(
                code,
                format!("{role} {t} is not a registered carrier"),
            )),
        }
    }

    fn roots(&self) -> &[Vec<u8>] {
        self.genesis.as_ref().map_or(&[], |g| g.roots.as_slice())
    }

    // ---------------------------------------------------------------- registry

    fn genesis_cmd(
        &mut self,
        ctx: &Ctx,
        g: Genesis,
        wb: &mut WriteBatch,
    ) -> Result<Result<Outcome, Rejection>, ApplyError> {
        if self.genesis.is_some() {
            return Ok(Err(Rejection::new(
                ErrorCode::GenesisState,
                "the consortium already has its genesis",
            )));
        }
        if let Err(r) = g.config.validate() {
            return Ok(Err(r));
        }
        if g.roots.is_empty() || g.roots.len() > ROOTS_MAX {
            return Ok(Err(Rejection::new(
                ErrorCode::ConfigInvalid,
                format!("{} trust roots; 1 to {ROOTS_MAX} are required", g.roots.len()),
            )));
        }
        for (i, root) in g.roots.iter().enumerate() {
            match crate::crypto::parse_certificate(root) {
                Ok(info) if info.is_ca => {}
                Ok(_) => {
                    return Ok(Err(Rejection::new(
                        ErrorCode::CertificateInvalid,
                        format!("trust root {i} is not a CA certificate"),
                    )));
                }
                Err(e) => {
                    return Ok(Err(Rejection::new(
                        ErrorCode::CertificateInvalid,
                        format!("trust root {i}: {e}"),
                    )));
                }
            }
        }
        if g.carriers.len() > CARRIERS_MAX {
            return Ok(Err(Rejection::new(
                ErrorCode::LimitExceeded,
                "too many founding carriers",
            )));
        }
        let mut carriers = BTreeMap::new();
        for sr in &g.carriers {
            let entry = match self.check_new_carrier(ctx, sr, &g.roots, &carriers) {
                Ok(e) => e,
                Err(r) => return Ok(Err(r)),
            };
            carriers.insert(entry.registration.tadig, entry);
        }
        let info = GenesisInfo {
            consortium: ctx.command_digest,
            name: g.name,
            roots: g.roots,
        };
        let config = ConfigEntry {
            config: g.config,
            version: 1,
        };
        wb.put(keys::GENESIS.to_vec(), enc(&info));
        wb.put(keys::CONFIG.to_vec(), enc(&config));
        for c in carriers.values() {
            wb.put(keys::carrier(c.registration.tadig), enc(c));
        }
        let consortium = info.consortium;
        self.genesis = Some(info);
        self.config = config;
        self.carriers = carriers;
        Ok(Ok(Outcome::GenesisApplied { consortium }))
    }

    fn check_new_carrier(
        &self,
        ctx: &Ctx,
        sr: &SignedRegistration,
        roots: &[Vec<u8>],
        existing: &BTreeMap<Tadig, CarrierEntry>,
    ) -> Result<CarrierEntry, Rejection> {
        let reg = &sr.registration;
        if existing.get(&reg.tadig).is_some_and(CarrierEntry::is_active) {
            return Err(Rejection::new(
                ErrorCode::CarrierExists,
                format!("carrier {} is already registered", reg.tadig),
            ));
        }
        let expected_version = existing.get(&reg.tadig).map_or(0, |c| c.version);
        if reg.version != expected_version {
            return Err(Rejection::new(
                ErrorCode::NotAuthorized,
                format!(
                    "registration of {} names version {}, expected {expected_version}",
                    reg.tadig, reg.version
                ),
            ));
        }
        if existing.values().filter(|c| c.is_active()).count() >= CARRIERS_MAX {
            return Err(Rejection::new(ErrorCode::LimitExceeded, "the consortium is full"));
        }
        if let Some(c) = existing
            .values()
            .find(|c| c.is_active() && c.registration.node_id == reg.node_id)
        {
            return Err(Rejection::new(
                ErrorCode::CarrierExists,
                format!(
                    "node id {} is already used by {}",
                    reg.node_id, c.registration.tadig
                ),
            ));
        }
        let info = check_registration(reg, roots, ctx.time)?;
        check_signature(
            &info.public_key,
            Domain::Registry,
            &reg.canonical_bytes(),
            &sr.signature,
            &format!("{} (proof of possession)", reg.tadig),
        )?;
        Ok(CarrierEntry {
            registration: reg.clone(),
            public_key: info.public_key,
            not_before: info.not_before,
            not_after: info.not_after,
            status: CarrierStatus::Active,
            version: expected_version + 1,
        })
    }

    fn register(
        &mut self,
        ctx: &Ctx,
        sr: SignedRegistration,
        wb: &mut WriteBatch,
    ) -> Result<Result<Outcome, Rejection>, ApplyError> {
        let entry = match self.check_new_carrier(ctx, &sr, self.roots(), &self.carriers) {
            Ok(e) => e,
            Err(r) => return Ok(Err(r)),
        };
        let tadig = entry.registration.tadig;
        wb.put(keys::carrier(tadig), enc(&entry));
        self.carriers.insert(tadig, entry);
        Ok(Ok(Outcome::CarrierRegistered { tadig }))
    }

    fn update_carrier(
        &mut self,
        ctx: &Ctx,
        sr: SignedRegistration,
        wb: &mut WriteBatch,
    ) -> Result<Result<Outcome, Rejection>, ApplyError> {
        let reg: &CarrierRegistration = &sr.registration;
        let current = match self.active(reg.tadig, ErrorCode::CarrierUnknown, "carrier") {
            Ok(c) => c.clone(),
            Err(r) => return Ok(Err(r)),
        };
        if reg.version != current.version {
            return Ok(Err(Rejection::new(
                ErrorCode::NotAuthorized,
                format!(
                    "update of {} names version {}, the registry is at {}",
                    reg.tadig, reg.version, current.version
                ),
            )));
        }
        if let Err(r) = check_signature(
            &current.public_key,
            Domain::Registry,
            &reg.canonical_bytes(),
            &sr.signature,
            &format!("{} (current key)", reg.tadig),
        ) {
            return Ok(Err(r));
        }
        if let Some(c) = self.carriers.values().find(|c| {
            c.is_active() && c.registration.tadig != reg.tadig && c.registration.node_id == reg.node_id
        }) {
            return Ok(Err(Rejection::new(
                ErrorCode::CarrierExists,
                format!(
                    "node id {} is already used by {}",
                    reg.node_id, c.registration.tadig
                ),
            )));
        }
        let info = match check_registration(reg, self.roots(), ctx.time) {
            Ok(i) => i,
            Err(r) => return Ok(Err(r)),
        };
        let entry = CarrierEntry {
            registration: reg.clone(),
            public_key: info.public_key,
            not_before: info.not_before,
            not_after: info.not_after,
            status: CarrierStatus::Active,
            version: current.version + 1,
        };
        let (tadig, version) = (reg.tadig, entry.version);
        wb.put(keys::carrier(tadig), enc(&entry));
        self.carriers.insert(tadig, entry);
        Ok(Ok(Outcome::CarrierUpdated { tadig, version }))
    }

    fn root_key(&self, index: u8) -> Result<crate::crypto::PublicKey, Rejection> {
        let der = self.roots().get(usize::from(index)).ok_or_else(|| {
            Rejection::new(
                ErrorCode::NotAuthorized,
                format!("there is no trust root {index}"),
            )
        })?;
        crate::crypto::parse_certificate(der)
            .map(|i| i.public_key)
            .map_err(|e| Rejection::new(ErrorCode::CertificateInvalid, format!("trust root {index}: {e}")))
    }

    fn retire(
        &mut self,
        _ctx: &Ctx,
        r: RetireCarrier,
        wb: &mut WriteBatch,
    ) -> Result<Result<Outcome, Rejection>, ApplyError> {
        let p = &r.payload;
        let current = match self.active(p.tadig, ErrorCode::CarrierUnknown, "carrier") {
            Ok(c) => c.clone(),
            Err(rej) => return Ok(Err(rej)),
        };
        if p.reason.len() > FREE_TEXT_BYTES_MAX {
            return Ok(Err(Rejection::new(
                ErrorCode::LimitExceeded,
                "retirement reason too long",
            )));
        }
        if p.version != current.version {
            return Ok(Err(Rejection::new(
                ErrorCode::NotAuthorized,
                format!(
                    "retirement of {} names version {}, the registry is at {}",
                    p.tadig, p.version, current.version
                ),
            )));
        }
        let payload = crate::canonical::to_canonical(p);
        let checked = match r.authority {
            RetireAuthority::Carrier => check_signature(
                &current.public_key,
                Domain::Registry,
                &payload,
                &r.signature,
                &p.tadig.to_string(),
            ),
            RetireAuthority::Root(i) => self.root_key(i).and_then(|k| {
                check_signature(
                    &k,
                    Domain::Consortium,
                    &payload,
                    &r.signature,
                    "the consortium root",
                )
            }),
        };
        if let Err(rej) = checked {
            return Ok(Err(rej));
        }
        let mut entry = current;
        entry.status = CarrierStatus::Retired;
        entry.version += 1;
        wb.put(keys::carrier(p.tadig), enc(&entry));
        self.carriers.insert(p.tadig, entry);
        Ok(Ok(Outcome::CarrierRetired { tadig: p.tadig }))
    }

    fn set_config(
        &mut self,
        c: SetConfig,
        wb: &mut WriteBatch,
    ) -> Result<Result<Outcome, Rejection>, ApplyError> {
        let p = &c.payload;
        let key = match self.root_key(c.root) {
            Ok(k) => k,
            Err(r) => return Ok(Err(r)),
        };
        if let Err(r) = check_signature(
            &key,
            Domain::Consortium,
            &crate::canonical::to_canonical(p),
            &c.signature,
            "the consortium root",
        ) {
            return Ok(Err(r));
        }
        if p.version != self.config.version {
            return Ok(Err(Rejection::new(
                ErrorCode::NotAuthorized,
                format!(
                    "configuration change names version {}, the current is {}",
                    p.version, self.config.version
                ),
            )));
        }
        if let Err(r) = p.config.validate() {
            return Ok(Err(r));
        }
        let cur = &self.config.config;
        if p.config.settlement_currency != cur.settlement_currency
            || p.config.settlement_scale != cur.settlement_scale
        {
            return Ok(Err(Rejection::new(
                ErrorCode::ConfigInvalid,
                "the settlement currency and scale are fixed at genesis",
            )));
        }
        let entry = ConfigEntry {
            config: p.config.clone(),
            version: self.config.version + 1,
        };
        wb.put(keys::CONFIG.to_vec(), enc(&entry));
        let version = entry.version;
        self.config = entry;
        Ok(Ok(Outcome::ConfigSet { version }))
    }

    // ---------------------------------------------------------------- agreements

    fn propose_agreement(
        &mut self,
        ctx: &Ctx,
        p: ProposeAgreement,
        wb: &mut WriteBatch,
    ) -> Result<Result<Outcome, Rejection>, ApplyError> {
        let a = &p.agreement;
        if let Err(r) = a.validate(self.config.config.settlement_currency) {
            return Ok(Err(r));
        }
        if p.proposer != a.home && p.proposer != a.visited {
            return Ok(Err(Rejection::new(
                ErrorCode::NotAuthorized,
                format!(
                    "{} is not a party to the agreement {}<-{}",
                    p.proposer, a.home, a.visited
                ),
            )));
        }
        for party in [a.home, a.visited] {
            if let Err(r) = self.active(party, ErrorCode::CarrierUnknown, "party") {
                return Ok(Err(r));
            }
        }
        let proposer = self.carriers[&p.proposer].clone();
        if let Err(r) = proposer.check_valid_at(ctx.time) {
            return Ok(Err(r));
        }
        let bytes = a.canonical_bytes();
        if let Err(r) = check_signature(
            &proposer.public_key,
            Domain::Agreement,
            &bytes,
            &p.signature,
            &p.proposer.to_string(),
        ) {
            return Ok(Err(r));
        }
        let id = sha256(&[&bytes]);
        let key = keys::agreement(&id);
        if let Some(existing) = get::<AgreementEntry, _>(&self.store, &key)? {
            return Ok(Err(if existing.accepted_at_index.is_some() {
                Rejection::new(
                    ErrorCode::AgreementAlreadyAccepted,
                    format!("agreement {id} is already in force"),
                )
            } else {
                Rejection::new(
                    ErrorCode::AgreementAlreadyProposed,
                    format!("agreement {id} is already proposed and awaits acceptance"),
                )
            }));
        }
        let entry = AgreementEntry {
            agreement: p.agreement,
            proposer: p.proposer,
            proposer_signature: p.signature,
            acceptor_signature: Vec::new(),
            accepted_at_index: None,
        };
        wb.put(key, enc(&entry));
        Ok(Ok(Outcome::AgreementProposed { id }))
    }

    fn accept_agreement(
        &mut self,
        ctx: &Ctx,
        acc: AcceptAgreement,
        wb: &mut WriteBatch,
    ) -> Result<Result<Outcome, Rejection>, ApplyError> {
        let key = keys::agreement(&acc.id);
        let Some(mut entry) = get::<AgreementEntry, _>(&self.store, &key)? else {
            return Ok(Err(Rejection::new(
                ErrorCode::AgreementUnknown,
                format!("no agreement {} was proposed", acc.id),
            )));
        };
        if entry.accepted_at_index.is_some() {
            return Ok(Err(Rejection::new(
                ErrorCode::AgreementAlreadyAccepted,
                format!("agreement {} is already in force", acc.id),
            )));
        }
        let a = &entry.agreement;
        let other = if entry.proposer == a.home {
            a.visited
        } else {
            a.home
        };
        if acc.acceptor != other {
            return Ok(Err(Rejection::new(
                ErrorCode::NotAuthorized,
                format!(
                    "agreement {} must be accepted by {other}, not {}",
                    acc.id, acc.acceptor
                ),
            )));
        }
        let acceptor = match self.active(acc.acceptor, ErrorCode::CarrierUnknown, "party") {
            Ok(c) => c.clone(),
            Err(r) => return Ok(Err(r)),
        };
        if let Err(r) = acceptor.check_valid_at(ctx.time) {
            return Ok(Err(r));
        }
        if let Err(r) = check_signature(
            &acceptor.public_key,
            Domain::Agreement,
            &a.canonical_bytes(),
            &acc.signature,
            &acc.acceptor.to_string(),
        ) {
            return Ok(Err(r));
        }
        if let Some(o) = self
            .accepted_agreements(a.home, a.visited)
            .iter()
            .find(|o| o.overlaps(a))
        {
            return Ok(Err(Rejection::new(
                ErrorCode::AgreementOverlap,
                format!(
                    "agreement {} ({} to {}) overlaps the agreement in force {} ({} to {})",
                    acc.id,
                    a.valid_from,
                    a.valid_until,
                    o.id(),
                    o.valid_from,
                    o.valid_until
                ),
            )));
        }
        entry.acceptor_signature = acc.signature;
        entry.accepted_at_index = Some(ctx.index);
        wb.put(key, enc(&entry));
        let list = self
            .agreements
            .entry((entry.agreement.home, entry.agreement.visited))
            .or_default();
        list.push(entry.agreement);
        list.sort_by_key(|a| a.valid_from);
        Ok(Ok(Outcome::AgreementAccepted { id: acc.id }))
    }

    // ---------------------------------------------------------------- periods

    /// The period ledger time `t` falls in: the latest period if it contains `t`, else a new
    /// one (returned but not yet stored).
    fn period_for(&self, t: UtcTime) -> Result<PeriodEntry, Rejection> {
        if let Some(last) = self.periods.values().next_back()
            && t < last.end
        {
            assert!(
                last.id.0 <= t,
                "ledger time went backwards before period {}",
                last.id
            );
            if last.status == PeriodStatus::Closed {
                return Err(Rejection::new(
                    ErrorCode::PeriodClosed,
                    format!("ledger time {t} falls in period {} which is closed", last.id),
                ));
            }
            return Ok(*last);
        }
        let (start, end) = self.config.config.period.bounds(t);
        let start = self
            .periods
            .values()
            .next_back()
            .map_or(start, |last| start.max(last.end));
        Ok(PeriodEntry {
            id: PeriodId(start),
            end,
            status: PeriodStatus::Open,
            closed_at_index: None,
        })
    }

    fn agreement_at(&self, home: Tadig, visited: Tadig, t: UtcTime) -> Option<&Agreement> {
        self.accepted_agreements(home, visited)
            .iter()
            .find(|a| a.covers(t))
    }

    // ---------------------------------------------------------------- batches

    fn submit_batch(
        &mut self,
        ctx: &Ctx,
        b: SubmitBatch,
        wb: &mut WriteBatch,
    ) -> Result<Result<Outcome, Rejection>, ApplyError> {
        let label = b.key.to_string();
        let fatal = |code: ErrorCode, m: String| Ok(Err(Rejection::new(code, format!("{label}: {m}"))));
        let (sender, recipient) = (b.key.sender, b.key.recipient);
        if b.record_count == 0 {
            return fatal(ErrorCode::EmptyBatch, "the batch has no records".into());
        }
        if b.record_count as usize > RECORDS_PER_BATCH_MAX {
            return fatal(
                ErrorCode::BatchTooLarge,
                format!(
                    "{} records; at most {RECORDS_PER_BATCH_MAX} per batch",
                    b.record_count
                ),
            );
        }
        // Idempotency: a retry answers the original outcome and changes nothing.
        if let Some(k) = get::<KeyEntry, _>(&self.store, &keys::batch_key(&b.key))? {
            if k.digest == b.digest {
                let stored: StoredBatch =
                    get(&self.store, &keys::batch(k.batch))?.ok_or_else(|| ApplyError::Corrupt {
                        key: format!("B{}", k.batch),
                        source: crate::error::CodecError::Invalid {
                            field: "batch",
                            offset: 0,
                            reason: "batch key index points to a missing batch".into(),
                        },
                    })?;
                let mut outcome = stored.outcome;
                outcome.replayed = true;
                return Ok(Ok(Outcome::BatchApplied(outcome)));
            }
            return fatal(
                ErrorCode::ConflictingDuplicateBatch,
                format!(
                    "this key was already accepted as batch {} with digest {}; this submission has digest {}",
                    k.batch, k.digest, b.digest
                ),
            );
        }
        let sender_entry = match self.active(sender, ErrorCode::SenderUnknown, "sender") {
            Ok(c) => c,
            Err(r) => return fatal(r.code, r.message),
        };
        if let Err(r) = self.active(recipient, ErrorCode::RecipientUnknown, "recipient") {
            return fatal(r.code, r.message);
        }
        if sender == recipient {
            return fatal(
                ErrorCode::RecipientIsSender,
                format!("sender and recipient are both {sender}"),
            );
        }
        if sender_entry
            .public_key
            .verify(Domain::Batch, &b.digest.0, &b.signature)
            .is_err()
        {
            return fatal(
                ErrorCode::BatchSignatureInvalid,
                format!("the signature does not verify against {sender}'s registered certificate"),
            );
        }
        if let Err(r) = sender_entry.check_valid_at(ctx.time) {
            return fatal(ErrorCode::SenderCertificateExpired, r.message);
        }
        let cfg = &self.config.config;
        let settle_scale = cfg.settlement_scale;
        if b.currency != cfg.settlement_currency {
            return fatal(
                ErrorCode::CurrencyNotSettlementCurrency,
                format!(
                    "currency {} is not the settlement currency {}",
                    b.currency, cfg.settlement_currency
                ),
            );
        }
        if b.scale > settle_scale {
            return fatal(
                ErrorCode::DecimalPlacesOutOfRange,
                format!(
                    "{} decimal places is more than the settlement scale of {}",
                    b.scale.places(),
                    settle_scale.places()
                ),
            );
        }
        let decoded = match b.decode_records() {
            Ok(d) => d,
            Err((i, e)) => return fatal(ErrorCode::RecordEncodingInvalid, format!("record {i}: {e}")),
        };
        let leaves: Vec<Hash> = decoded.iter().map(|d| d.leaf).collect();
        let digest = b.compute_digest(&leaves);
        if digest != b.digest {
            return fatal(
                ErrorCode::BatchDigestMismatch,
                format!("declared digest {} but the records digest to {digest}", b.digest),
            );
        }
        for (i, d) in decoded.iter().enumerate() {
            let r = &d.record;
            if r.visited != sender || r.home != recipient {
                return fatal(
                    ErrorCode::RecordNotForBatchPair,
                    format!(
                        "record {i} is {}->{}, the batch is {sender}->{recipient}",
                        r.visited, r.home
                    ),
                );
            }
            if r.charge.scale() != b.scale || r.tax.scale() != b.scale {
                return fatal(
                    ErrorCode::DecimalPlacesOutOfRange,
                    format!(
                        "record {i} has amounts with {}/{} decimal places, the batch declares {}",
                        r.charge.scale().places(),
                        r.tax.scale().places(),
                        b.scale.places()
                    ),
                );
            }
        }
        if self.accepted_agreements(recipient, sender).is_empty() {
            return fatal(
                ErrorCode::NoAgreement,
                format!("no agreement between home {recipient} and visited {sender} is in force"),
            );
        }
        let period = match self.period_for(ctx.time) {
            Ok(p) => p,
            Err(r) => return fatal(r.code, r.message),
        };

        // Per-record validation (severe), dedup, rating, aggregation — on a copy of the
        // ledger, so a fatal error half-way leaves nothing behind.
        let batch_seq = self.meta.next_batch;
        let ledger_key = (period.id, sender, recipient);
        let mut ledger = self.ledgers.get(&ledger_key).cloned().unwrap_or_default();
        let leaf_start = ledger.tree.size();
        let mut rejected = Vec::new();
        let mut flagged = Vec::new();
        // All duplicate checks of the batch in one batched lookup.
        let fingerprints: Vec<IndexKey> = decoded
            .iter()
            .map(|d| d.record.identity().fingerprint())
            .collect();
        let earlier = self.earlier_records(&fingerprints, batch_seq)?;
        // Membership tests only (never iterated), so a hash set cannot make the outcome
        // depend on an order.
        let mut seen: HashSet<&[u8], foldhash::fast::FixedState> =
            HashSet::with_capacity_and_hasher(decoded.len(), Default::default());
        let mut accepted = 0u32;
        let mut dedup_writes = Vec::with_capacity(decoded.len());
        let mut chunk_writes = Vec::new();
        let future_max = cfg.event_future_max_s as i64;
        let age_max = cfg.event_age_max_s as i64;
        for (i, d) in decoded.iter().enumerate() {
            let fingerprint = &fingerprints[i];
            let duplicate_of = match earlier[i] {
                Some(id) => Some(Duplicate::Accepted(id)),
                None if seen.contains(fingerprint.as_slice()) => Some(Duplicate::InBatch),
                None => None,
            };
            let i = i as u32;
            let r = &d.record;
            let charge = r.charge.rescale_exact(settle_scale).expect("scale checked above");
            let tax = r.tax.rescale_exact(settle_scale).expect("scale checked above");
            let verdict = self.check_record(ctx, r, i, charge, future_max, age_max, duplicate_of);
            match verdict {
                Err(rej) => {
                    if let Err(e) = ledger.rejected.add(charge.minor(), tax.minor()) {
                        return fatal(ErrorCode::AggregateOverflow, format!("rejected totals: {e}"));
                    }
                    rejected.push(rej);
                }
                Ok(rating) => {
                    let amounts = RecordAmounts::of(r, charge, tax, &rating);
                    if let Err(e) = ledger.accept(&amounts) {
                        return fatal(ErrorCode::AggregateOverflow, format!("record {i}: {e}"));
                    }
                    if rating.flagged {
                        flagged.push(FlaggedRecord {
                            index: i,
                            declared: charge,
                            expected: rating.expected,
                        });
                    }
                    seen.insert(fingerprint.as_slice());
                    dedup_writes.push(i);
                    ledger.tail.push(d.leaf);
                    if let Some((chunk, root)) = ledger.tree.push(d.leaf) {
                        debug_assert_eq!(ledger.tail.len() as u64, MERKLE_CHUNK_LEAVES);
                        let leaves: Vec<u8> = ledger.tail.drain(..).flat_map(|h| h.0).collect();
                        chunk_writes.push((keys::leaf_chunk(period.id, sender, recipient, chunk), leaves));
                        chunk_writes.push((
                            keys::chunk_root(period.id, sender, recipient, chunk),
                            root.0.to_vec(),
                        ));
                    }
                    accepted += 1;
                }
            }
        }
        ledger.batch_count += 1;
        let outcome = BatchOutcome {
            key: b.key.clone(),
            digest: b.digest,
            batch: batch_seq,
            period: period.id,
            accepted,
            rejected,
            flagged,
            replayed: false,
        };
        let stored = StoredBatch {
            outcome: outcome.clone(),
            ledger_time: ctx.time,
            log_index: ctx.index,
            leaf_start,
            record_count: b.record_count,
            records: b.records,
        };
        // Everything checked: stage the writes and update the caches.
        wb.reserve(chunk_writes.len() + 6);
        // Records plus the outcome (a guess for rejection messages; a miss costs one realloc).
        let capacity = stored.records.len()
            + 256
            + 160 * stored.outcome.rejected.len()
            + 48 * stored.outcome.flagged.len();
        wb.put(keys::batch(batch_seq), enc_with_capacity(&stored, capacity));
        wb.put(
            keys::batch_key(&b.key),
            enc(&KeyEntry {
                batch: batch_seq,
                digest: b.digest,
            }),
        );
        wb.put(
            keys::pair_batch(period.id, sender, recipient, batch_seq),
            b.key.to_bytes(),
        );
        drop(seen);
        // The duplicate index is not in the write batch (see `recent`): `apply` adds these
        // once the batch's state write has landed.
        self.pending.extend(dedup_writes.into_iter().map(|index| {
            let id = RecordId {
                batch: batch_seq,
                index,
            };
            (fingerprints[index as usize], id.to_bytes())
        }));
        for (k, v) in chunk_writes {
            wb.put(k, v);
        }
        wb.put(keys::ledger(period.id, sender, recipient), enc(&ledger));
        if let std::collections::btree_map::Entry::Vacant(v) = self.periods.entry(period.id) {
            wb.put(keys::period(period.id), enc(&period));
            v.insert(period);
        }
        self.ledgers.insert(ledger_key, ledger);
        self.meta.next_batch += 1;
        Ok(Ok(Outcome::BatchApplied(outcome)))
    }

    /// Severe checks of one record, in TD.57 order: values, time stamps, duplicates, then the
    /// agreement. `Ok(rating)` accepts it.
    #[allow(clippy::too_many_arguments)]
    fn check_record(
        &self,
        ctx: &Ctx,
        r: &UsageRecord,
        i: u32,
        charge: Amount,
        future_max: i64,
        age_max: i64,
        duplicate_of: Option<Duplicate>,
    ) -> Result<Rating, RecordRejection> {
        let reject = |code: ErrorCode, message: String| {
            Err(RecordRejection {
                index: i,
                code,
                message,
            })
        };
        if r.is_credit() && (r.charge.minor() > 0 || r.tax.minor() > 0) {
            return reject(
                ErrorCode::NegativeAmount,
                format!(
                    "record {i}: charge {} and tax {} have opposite signs (a credit has both at or below zero)",
                    r.charge, r.tax
                ),
            );
        }
        let start = r.start.unix_seconds();
        let now = ctx.time.unix_seconds();
        if start > now.saturating_add(future_max) {
            return reject(
                ErrorCode::EventInFuture,
                format!(
                    "record {i}: callEventStartTimeStamp {} is after the ledger time {} (+{future_max} s allowed)",
                    r.start, ctx.time
                ),
            );
        }
        if now.saturating_sub(start) > age_max {
            return reject(
                ErrorCode::EventTooOld,
                format!(
                    "record {i}: callEventStartTimeStamp {} is more than {} days before the ledger time {}",
                    r.start,
                    age_max / 86_400,
                    ctx.time
                ),
            );
        }
        match duplicate_of {
            Some(Duplicate::InBatch) => {
                return reject(
                    ErrorCode::DuplicateRecord,
                    format!(
                        "record {i}: duplicate of an earlier record of this batch (same subscriber, service, start, duration, volume, other party)"
                    ),
                );
            }
            Some(Duplicate::Accepted(original)) => {
                return reject(
                    ErrorCode::DuplicateRecord,
                    format!("record {i}: duplicate of record {original} already accepted"),
                );
            }
            None => {}
        }
        let Some(agreement) = self.agreement_at(r.home, r.visited, r.start) else {
            return reject(
                ErrorCode::NoAgreementAtEventTime,
                format!(
                    "record {i}: no agreement {}<-{} in force at {}",
                    r.home, r.visited, r.start
                ),
            );
        };
        match agreement.rate(r, charge, charge.scale()) {
            None => reject(
                ErrorCode::ServiceNotInAgreement,
                format!(
                    "record {i}: the agreement in force has no tariff for {}",
                    r.service
                ),
            ),
            Some(Ok(rating)) => Ok(rating),
            Some(Err(e)) => reject(
                ErrorCode::ServiceNotInAgreement,
                format!("record {i}: the tariff for {} cannot rate it: {e}", r.service),
            ),
        }
    }

    /// Loads a stored batch.
    pub fn stored_batch(&self, seq: u64) -> Result<Option<StoredBatch>, ApplyError> {
        get(&self.store, &keys::batch(seq))
    }

    /// The outcome of an accepted batch by its key.
    pub fn batch_outcome(&self, key: &BatchKey) -> Result<Option<BatchOutcome>, ApplyError> {
        let Some(k) = get::<KeyEntry, _>(&self.store, &keys::batch_key(key))? else {
            return Ok(None);
        };
        Ok(self.stored_batch(k.batch)?.map(|b| b.outcome))
    }

    // ---------------------------------------------------------------- disputes

    fn dispute(
        &mut self,
        ctx: &Ctx,
        d: DisputeRecords,
        wb: &mut WriteBatch,
    ) -> Result<Result<Outcome, Rejection>, ApplyError> {
        let home = d.payload.home;
        let rej = |code: ErrorCode, m: String| Ok(Err(Rejection::new(code, m)));
        let entry = match self.active(home, ErrorCode::CarrierUnknown, "home network") {
            Ok(c) => c,
            Err(r) => return Ok(Err(r)),
        };
        let n = d.payload.items.len();
        if n == 0 || n > DISPUTES_PER_COMMAND_MAX {
            return rej(
                ErrorCode::LimitExceeded,
                format!("{n} disputed records; 1 to {DISPUTES_PER_COMMAND_MAX} per command"),
            );
        }
        if let Err(r) = check_signature(
            &entry.public_key,
            Domain::Dispute,
            &d.payload.canonical_bytes(),
            &d.signature,
            &home.to_string(),
        ) {
            return Ok(Err(r));
        }
        if let Err(r) = entry.check_valid_at(ctx.time) {
            return Ok(Err(r));
        }
        // Check every item before changing anything: a dispute command applies whole or not.
        let mut batches: BTreeMap<u64, (StoredBatch, Vec<UsageRecord>)> = BTreeMap::new();
        let mut seen = BTreeSet::new();
        for item in &d.payload.items {
            let id = item.record;
            if item.text.len() > FREE_TEXT_BYTES_MAX {
                return rej(
                    ErrorCode::LimitExceeded,
                    format!("dispute text of record {id} is too long"),
                );
            }
            if !seen.insert(id) {
                return rej(
                    ErrorCode::RecordAlreadyDisputed,
                    format!("record {id} appears twice in this dispute"),
                );
            }
            if let std::collections::btree_map::Entry::Vacant(v) = batches.entry(id.batch) {
                let Some(b) = self.stored_batch(id.batch)? else {
                    return rej(
                        ErrorCode::RecordUnknown,
                        format!("record {id}: there is no batch {}", id.batch),
                    );
                };
                let records = b.records().map_err(|e| ApplyError::Corrupt {
                    key: format!("B{}", id.batch),
                    source: e,
                })?;
                v.insert((b, records));
            }
            let (b, records) = &batches[&id.batch];
            if id.index >= b.record_count {
                return rej(
                    ErrorCode::RecordUnknown,
                    format!("record {id}: batch {} has {} records", id.batch, b.record_count),
                );
            }
            if b.is_rejected(id.index) {
                return rej(
                    ErrorCode::RecordUnknown,
                    format!("record {id} was rejected at ingest, not accepted"),
                );
            }
            let r = &records[id.index as usize];
            if r.home != home {
                return rej(
                    ErrorCode::NotAuthorized,
                    format!("record {id} is billed to {}, not to {home}", r.home),
                );
            }
            if self.store.get(&keys::dispute(id))?.is_some() {
                return rej(
                    ErrorCode::RecordAlreadyDisputed,
                    format!("record {id} is already disputed"),
                );
            }
        }
        let settle_scale = self.config.config.settlement_scale;
        let mut touched: BTreeMap<(PeriodId, Tadig, Tadig), PairLedger> = BTreeMap::new();
        let mut new_period = None;
        let (mut in_period, mut adjustments) = (0u32, 0u32);
        for item in &d.payload.items {
            let id = item.record;
            let (b, records) = &batches[&id.batch];
            let r = &records[id.index as usize];
            let charge = r
                .charge
                .rescale_exact(settle_scale)
                .expect("stored amounts fit the settlement scale");
            let tax = r
                .tax
                .rescale_exact(settle_scale)
                .expect("stored amounts fit the settlement scale");
            let rating = self
                .agreement_at(r.home, r.visited, r.start)
                .and_then(|a| a.rate(r, charge, settle_scale))
                .and_then(Result::ok)
                .expect("an accepted record was rated by an agreement in force");
            let amounts = RecordAmounts::of(r, charge, tax, &rating);
            let own = b.outcome.period;
            let open = self
                .periods
                .get(&own)
                .is_some_and(|p| p.status == PeriodStatus::Open);
            let counted_in = if open {
                own
            } else {
                match new_period.or_else(|| self.period_for(ctx.time).ok()) {
                    Some(p) => {
                        new_period = Some(p);
                        p.id
                    }
                    None => return rej(ErrorCode::PeriodClosed, format!("no open period at {}", ctx.time)),
                }
            };
            let key = (counted_in, r.visited, r.home);
            let ledger = match touched.entry(key) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(self.ledgers.get(&key).cloned().unwrap_or_default())
                }
            };
            let res = if open {
                ledger.dispute(&amounts)
            } else {
                ledger.adjust(&amounts)
            };
            if let Err(e) = res {
                return Ok(Err(overflow(e, &format!("dispute of record {id}"))));
            }
            let mut e = Encoder::new();
            e.u64(id.batch);
            e.u32(id.index);
            e.u8(item.reason as u8);
            e.str(&item.text);
            ledger.disputes_tree.push(leaf_hash(e.as_bytes()));
            let entry = DisputeEntry {
                record: id,
                reason: item.reason,
                text: item.text.clone(),
                raised_at: ctx.time,
                counted_in,
                adjustment: !open,
            };
            wb.put(keys::dispute(id), enc(&entry));
            wb.put(keys::pair_dispute(counted_in, r.visited, r.home, id), Vec::new());
            if open {
                in_period += 1;
            } else {
                adjustments += 1;
            }
        }
        for (key, ledger) in touched {
            wb.put(keys::ledger(key.0, key.1, key.2), enc(&ledger));
            self.ledgers.insert(key, ledger);
        }
        if let Some(p) = new_period
            && let std::collections::btree_map::Entry::Vacant(v) = self.periods.entry(p.id)
        {
            wb.put(keys::period(p.id), enc(&p));
            v.insert(p);
        }
        Ok(Ok(Outcome::RecordsDisputed {
            in_period,
            adjustments,
        }))
    }

    /// A dispute by record id.
    pub fn dispute_entry(&self, id: RecordId) -> Result<Option<DisputeEntry>, ApplyError> {
        get(&self.store, &keys::dispute(id))
    }

    /// Disputes counted in the statement of (period, visited, home).
    pub fn disputes(
        &self,
        period: PeriodId,
        visited: Tadig,
        home: Tadig,
    ) -> Result<Vec<DisputeEntry>, ApplyError> {
        let mut ids = Vec::new();
        scan_prefix(
            &self.store,
            &keys::pair_dispute_prefix(period, visited, home),
            |k, _| {
                let n = k.len();
                ids.push(RecordId {
                    batch: u64::from_be_bytes(k[n - 12..n - 4].try_into().expect("8 bytes")),
                    index: u32::from_be_bytes(k[n - 4..].try_into().expect("4 bytes")),
                });
                Ok(())
            },
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.dispute_entry(id)?);
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- close and sign

    fn close_period(
        &mut self,
        ctx: &Ctx,
        c: ClosePeriod,
        wb: &mut WriteBatch,
    ) -> Result<Result<Outcome, Rejection>, ApplyError> {
        let Some(mut period) = self.periods.get(&c.period).copied() else {
            return Ok(Err(Rejection::new(
                ErrorCode::PeriodUnknown,
                format!("there is no period starting {}", c.period),
            )));
        };
        if period.status == PeriodStatus::Closed {
            return Ok(Err(Rejection::new(
                ErrorCode::PeriodAlreadyClosed,
                format!("period {} is already closed", c.period),
            )));
        }
        if ctx.time < period.end {
            return Ok(Err(Rejection::new(
                ErrorCode::PeriodNotEnded,
                format!(
                    "period {} ends {}; ledger time is {}",
                    c.period, period.end, ctx.time
                ),
            )));
        }
        let consortium = self.genesis.as_ref().expect("genesis checked").consortium;
        let scale = self.config.config.settlement_scale;
        let currency = self.config.config.settlement_currency;
        let pairs: Vec<((PeriodId, Tadig, Tadig), PairLedger)> = self
            .ledgers
            .range(
                (
                    c.period,
                    Tadig::from_bytes(b"00000").expect("valid"),
                    Tadig::from_bytes(b"00000").expect("valid"),
                )..,
            )
            .take_while(|(k, _)| k.0 == c.period)
            .map(|(k, l)| (*k, l.clone()))
            .collect();
        let mut statements = Vec::with_capacity(pairs.len());
        let mut refs = Vec::with_capacity(pairs.len());
        for ((_, visited, home), ledger) in &pairs {
            let previous = match self.store.get(&keys::pair_head(*visited, *home))? {
                Some(b) => Hash(b.as_slice().try_into().map_err(|_| ApplyError::Corrupt {
                    key: format!("T{visited}{home}"),
                    source: crate::error::CodecError::Invalid {
                        field: "statement hash",
                        offset: 0,
                        reason: "not 32 bytes".into(),
                    },
                })?),
                None => Hash::ZERO,
            };
            let mut batches = Vec::new();
            scan_prefix(
                &self.store,
                &keys::pair_batch_prefix(c.period, *visited, *home),
                |k, v| {
                    batches.push(crate::codec::Decode::from_bytes(v, "batch key").map_err(|e| {
                        ApplyError::Corrupt {
                            key: String::from_utf8_lossy(k).into_owned(),
                            source: e,
                        }
                    })?);
                    Ok(())
                },
            )?;
            let statement = match build_statement(
                consortium, &period, *visited, *home, currency, scale, ledger, batches, previous, ctx,
            ) {
                Ok(s) => s,
                Err(e) => return Ok(Err(overflow(e, &format!("statement {visited}->{home}")))),
            };
            statement
                .check_consistency()
                .expect("a statement built from the ledger is consistent");
            let bytes = statement.canonical_bytes();
            let hash = sha256(&[&bytes]);
            refs.push(StatementRef {
                visited: *visited,
                home: *home,
                hash,
                amount_due: statement.amount_due,
            });
            wb.put(
                keys::statement(c.period, *visited, *home),
                enc(&StatementEntry {
                    bytes,
                    hash,
                    signatures: BTreeMap::new(),
                }),
            );
            wb.put(keys::pair_head(*visited, *home), hash.0.to_vec());
            statements.push(statement);
        }
        // Netting: compute_netting asserts the positions sum to zero before we emit; the
        // report is then verified against the statements, as any verifier will.
        let (bilateral, multilateral) = match compute_netting(&refs, scale) {
            Ok(x) => x,
            Err(e) => return Ok(Err(overflow(e, "netting"))),
        };
        let report = NettingReport {
            format: NETTING_FORMAT.to_string(),
            consortium,
            period_start: period.id.0,
            period_end: period.end,
            currency,
            scale,
            statements: refs.clone(),
            bilateral,
            multilateral,
        };
        report
            .verify(&statements)
            .expect("the netting report verifies against the statements it was built from");
        let netting_bytes = report.canonical_bytes();
        let netting = sha256(&[&netting_bytes]);
        wb.put(keys::netting(c.period), netting_bytes);
        period.status = PeriodStatus::Closed;
        period.closed_at_index = Some(ctx.index);
        wb.put(keys::period(c.period), enc(&period));
        self.periods.insert(c.period, period);
        for (k, _) in pairs {
            self.ledgers.remove(&k);
        }
        Ok(Ok(Outcome::PeriodClosed {
            period: c.period,
            statements: refs,
            netting,
        }))
    }

    fn sign_statement(
        &mut self,
        ctx: &Ctx,
        s: SignStatement,
        wb: &mut WriteBatch,
    ) -> Result<Result<Outcome, Rejection>, ApplyError> {
        let key = keys::statement(s.period, s.visited, s.home);
        let Some(mut entry) = get::<StatementEntry, _>(&self.store, &key)? else {
            return Ok(Err(Rejection::new(
                ErrorCode::StatementUnknown,
                format!(
                    "there is no statement {}->{} for period {}",
                    s.visited, s.home, s.period
                ),
            )));
        };
        if s.signer != s.visited && s.signer != s.home {
            return Ok(Err(Rejection::new(
                ErrorCode::NotAuthorized,
                format!(
                    "{} is not a party to statement {}->{}",
                    s.signer, s.visited, s.home
                ),
            )));
        }
        if entry.signatures.contains_key(&s.signer) {
            return Ok(Err(Rejection::new(
                ErrorCode::StatementAlreadySigned,
                format!(
                    "{} already signed statement {}->{} of {}",
                    s.signer, s.visited, s.home, s.period
                ),
            )));
        }
        let signer = match self.active(s.signer, ErrorCode::CarrierUnknown, "signer") {
            Ok(c) => c,
            Err(r) => return Ok(Err(r)),
        };
        if let Err(r) = signer.check_valid_at(ctx.time) {
            return Ok(Err(r));
        }
        if let Err(r) = check_signature(
            &signer.public_key,
            Domain::Statement,
            &entry.bytes,
            &s.signature,
            &s.signer.to_string(),
        ) {
            return Ok(Err(r));
        }
        entry.signatures.insert(s.signer, s.signature);
        let is_final = entry.signatures.contains_key(&s.visited) && entry.signatures.contains_key(&s.home);
        wb.put(key, enc(&entry));
        Ok(Ok(Outcome::StatementSigned {
            period: s.period,
            visited: s.visited,
            home: s.home,
            signer: s.signer,
            is_final,
        }))
    }

    /// The statement of (period, visited, home).
    pub fn statement(
        &self,
        period: PeriodId,
        visited: Tadig,
        home: Tadig,
    ) -> Result<Option<StatementEntry>, ApplyError> {
        get(&self.store, &keys::statement(period, visited, home))
    }

    /// Every statement of a period, by (visited, home).
    pub fn statements(&self, period: PeriodId) -> Result<Vec<StatementEntry>, ApplyError> {
        let mut out = Vec::new();
        scan_prefix(&self.store, &keys::statement_prefix(period), |k, v| {
            out.push(dec(k, v)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The netting report (canonical bytes) of a closed period.
    pub fn netting(&self, period: PeriodId) -> Result<Option<Vec<u8>>, ApplyError> {
        Ok(self.store.get(&keys::netting(period))?)
    }

    /// An agreement by id.
    pub fn agreement(&self, id: &Hash) -> Result<Option<AgreementEntry>, ApplyError> {
        get(&self.store, &keys::agreement(id))
    }

    /// Every agreement, proposed or accepted, by id.
    pub fn agreements(&self) -> Result<Vec<AgreementEntry>, ApplyError> {
        let mut out = Vec::new();
        scan_prefix(&self.store, b"A", |k, v| {
            out.push(dec(k, v)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The pair ledger of (period, visited, home), open or closed.
    pub fn pair_ledger(
        &self,
        period: PeriodId,
        visited: Tadig,
        home: Tadig,
    ) -> Result<Option<PairLedger>, ApplyError> {
        if let Some(l) = self.ledgers.get(&(period, visited, home)) {
            return Ok(Some(l.clone()));
        }
        get(&self.store, &keys::ledger(period, visited, home))
    }

    // ---------------------------------------------------------------- proofs

    /// A record, its leaf and its inclusion proof: against the statement's root when the
    /// period is closed, else against the pair's current tree.
    pub fn record_proof(&self, id: RecordId) -> Result<RecordProof, QueryError> {
        let b = self
            .stored_batch(id.batch)?
            .ok_or_else(|| QueryError::NotFound(format!("there is no batch {}", id.batch)))?;
        if id.index >= b.record_count {
            return Err(QueryError::NotFound(format!(
                "batch {} has {} records",
                id.batch, b.record_count
            )));
        }
        if b.is_rejected(id.index) {
            return Err(QueryError::NotFound(format!(
                "record {id} was rejected at ingest"
            )));
        }
        let records = b.records().map_err(|e| ApplyError::Corrupt {
            key: format!("B{}", id.batch),
            source: e,
        })?;
        let record = records[id.index as usize].clone();
        let leaf_data = record.to_bytes();
        let (p, v, h) = (b.outcome.period, record.visited, record.home);
        let ledger = self
            .pair_ledger(p, v, h)?
            .ok_or_else(|| QueryError::NotFound(format!("no ledger for {v}->{h} in {p}")))?;
        let (tree_size, root, statement) = match self.statement(p, v, h)? {
            Some(s) => {
                let st = s.statement();
                (st.tree_size, st.records_root, Some(s.hash))
            }
            None => (ledger.tree.size(), ledger.tree.root(), None),
        };
        let reader = StoredTree {
            store: &self.store,
            period: p,
            visited: v,
            home: h,
            complete_chunks: ledger.tree.size() / MERKLE_CHUNK_LEAVES,
            tail: &ledger.tail,
        };
        let leaf_index = b.leaf_index(id.index);
        let proof = inclusion_proof(&reader, leaf_index, tree_size)?;
        debug_assert_eq!(reader.leaf(leaf_index)?, leaf_hash(&leaf_data));
        Ok(RecordProof {
            record,
            id,
            leaf_data,
            period: p,
            proof,
            root,
            statement,
        })
    }

    /// Stored ledger-head checkpoints `(log index, head)`, in index order.
    pub fn head_checkpoints(&self) -> Result<Vec<(u64, Hash)>, ApplyError> {
        let mut out = Vec::new();
        let prefix = b"Mh";
        let end = keys::prefix_end(prefix);
        self.store.scan(prefix, Some(&end), &mut |k, v| {
            if let (Ok(i), Ok(h)) = (<[u8; 8]>::try_from(&k[2..]), <[u8; 32]>::try_from(v)) {
                out.push((u64::from_be_bytes(i), Hash(h)));
            }
            true
        })?;
        Ok(out)
    }

    /// SHA-256 over every key and value of the state, in key order: equal on two nodes iff
    /// their states are byte-identical. O(state); for tests and audits.
    pub fn state_digest(&self) -> Result<Hash, ApplyError> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        self.store.scan(&[], None, &mut |k, v| {
            h.update((k.len() as u32).to_be_bytes());
            h.update(k);
            h.update((v.len() as u32).to_be_bytes());
            h.update(v);
            true
        })?;
        Ok(Hash(h.finalize().into()))
    }
}

/// Reads a pair's stored tree for proofs.
struct StoredTree<'a, S: ReadStore> {
    store: &'a S,
    period: PeriodId,
    visited: Tadig,
    home: Tadig,
    complete_chunks: u64,
    tail: &'a [Hash],
}

impl<S: ReadStore> TreeReader for StoredTree<'_, S> {
    type Error = ApplyError;

    fn leaf(&self, index: u64) -> Result<Hash, ApplyError> {
        let chunk = index / MERKLE_CHUNK_LEAVES;
        let at = (index % MERKLE_CHUNK_LEAVES) as usize;
        if chunk >= self.complete_chunks {
            return self.tail.get(at).copied().ok_or_else(|| ApplyError::Corrupt {
                key: format!("leaf {index}"),
                source: crate::error::CodecError::Invalid {
                    field: "leaf",
                    offset: at,
                    reason: "beyond the tree".into(),
                },
            });
        }
        let key = keys::leaf_chunk(self.period, self.visited, self.home, chunk);
        let bytes = self.store.get(&key)?.ok_or_else(|| ApplyError::Corrupt {
            key: String::from_utf8_lossy(&key).into_owned(),
            source: crate::error::CodecError::Invalid {
                field: "leaf chunk",
                offset: 0,
                reason: "missing".into(),
            },
        })?;
        let h = bytes
            .get(at * 32..at * 32 + 32)
            .ok_or_else(|| ApplyError::Corrupt {
                key: String::from_utf8_lossy(&key).into_owned(),
                source: crate::error::CodecError::Invalid {
                    field: "leaf chunk",
                    offset: at * 32,
                    reason: "short".into(),
                },
            })?;
        Ok(Hash(h.try_into().expect("32 bytes")))
    }

    fn chunk_root(&self, chunk: u64) -> Result<Option<Hash>, ApplyError> {
        if chunk >= self.complete_chunks {
            return Ok(None);
        }
        Ok(self
            .store
            .get(&keys::chunk_root(self.period, self.visited, self.home, chunk))?
            .and_then(|b| b.as_slice().try_into().ok().map(Hash)))
    }
}

fn totals(t: &Totals, scale: Scale) -> AmountTotals {
    AmountTotals {
        count: t.count,
        charge: Amount::new(t.charge, scale),
        tax: Amount::new(t.tax, scale),
    }
}

#[allow(clippy::too_many_arguments)]
fn build_statement(
    consortium: Hash,
    period: &PeriodEntry,
    visited: Tadig,
    home: Tadig,
    currency: crate::types::Currency,
    scale: Scale,
    ledger: &PairLedger,
    batches: Vec<BatchKey>,
    previous: Hash,
    ctx: &Ctx,
) -> Result<ClearingStatement, MoneyError> {
    let services = ledger
        .services
        .iter()
        .filter(|(_, s)| s.totals.count > 0)
        .map(|(code, s)| ServiceLine {
            service: ServiceKind::from_code(*code).expect("stored service codes are valid"),
            totals: totals(&s.totals, scale),
            charged_units: s.units,
            expected_charge: Amount::new(s.expected_charge, scale),
            flagged_count: s.flagged_count,
            flagged_charge: Amount::new(s.flagged_charge, scale),
        })
        .collect();
    let accepted = totals(&ledger.accepted()?, scale);
    let adjustments = totals(&ledger.adjustments, scale);
    let amount_due = accepted.gross()?.checked_add(adjustments.gross()?)?;
    Ok(ClearingStatement {
        format: STATEMENT_FORMAT.to_string(),
        consortium,
        period_start: period.id.0,
        period_end: period.end,
        visited,
        home,
        currency,
        scale,
        services,
        accepted,
        rejected: totals(&ledger.rejected, scale),
        disputed: totals(&ledger.disputed, scale),
        disputes_root: ledger.disputes_tree.root(),
        adjustments,
        amount_due,
        tree_size: ledger.tree.size(),
        records_root: ledger.tree.root(),
        batches,
        previous_statement: previous,
        closed_at: ctx.time,
        closed_at_index: ctx.index,
    })
}

impl From<StoreError> for QueryError {
    fn from(e: StoreError) -> Self {
        QueryError::Apply(e.into())
    }
}

#[cfg(test)]
mod tests;
