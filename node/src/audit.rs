//! `roamledger audit`: recomputes, from a stopped node's storage, everything the ledger
//! commits to, and reports every mismatch.
//!
//! - every accepted record's leaf hash against the stored leaves of its pair's tree;
//! - every pair tree's root against its frontier and, for closed periods, the statement's
//!   `records_root` and `tree_size`;
//! - every statement's hash, consistency and chain link to the pair's previous statement;
//! - every closed period's netting report against its statements;
//! - the ledger head, recomputed over the Raft log entries the node still holds, from the
//!   latest head checkpoint they cover.
//!
//! It audits the state as stored: state writes are durable when RocksDB flushes them, so a
//! stopped node's state may stop short of its log; the report says how many committed
//! entries the next start will replay on top of it.

use std::collections::BTreeMap;
use std::path::Path;

use consensus::{LogStore, RocksEngine};
use settlement::crypto::Hash;
use settlement::machine::{PeriodStatus, SettlementMachine, chain_head};
use settlement::merkle::{leaf_hash, root_of};
use settlement::statement::{ClearingStatement, NettingReport};
use settlement::types::Tadig;

use crate::cli::out;
use crate::error::NodeError;

/// Runs the audit; exit code 0 when everything matches, 1 otherwise.
pub fn audit(data_dir: &Path) -> Result<i32, NodeError> {
    let engine = RocksEngine::open(data_dir.join("rocksdb"), false)?;
    let log = engine.log_store()?;
    let m = SettlementMachine::open(engine.state_store()?)?;
    let mut problems: Vec<String> = Vec::new();
    let mut checked_records = 0u64;

    // Records and trees, pair by pair.
    let mut leaves: BTreeMap<(settlement::config::PeriodId, Tadig, Tadig), Vec<Hash>> = BTreeMap::new();
    let mut seq = 0u64;
    while let Some(b) = m.stored_batch(seq)? {
        let records = b
            .records()
            .map_err(|e| NodeError::Input(format!("batch {seq}: {e}")))?;
        let mut leaf = b.leaf_start;
        for (i, r) in records.iter().enumerate() {
            if b.outcome.rejected.iter().any(|x| x.index as usize == i) {
                continue;
            }
            let list = leaves.entry((b.outcome.period, r.visited, r.home)).or_default();
            if list.len() as u64 != leaf {
                problems.push(format!(
                    "batch {seq}: record {i} should be leaf {leaf} of {}->{} in {}, the tree has {} leaves before it",
                    r.visited,
                    r.home,
                    b.outcome.period,
                    list.len()
                ));
            }
            list.push(leaf_hash(&settlement::codec::Encode::to_bytes(r)));
            leaf += 1;
            checked_records += 1;
        }
        seq += 1;
    }
    for ((p, v, h), recomputed) in &leaves {
        let Some(ledger) = m.pair_ledger(*p, *v, *h)? else {
            problems.push(format!("{v}->{h} in {p}: records but no ledger"));
            continue;
        };
        let root = root_of(recomputed);
        if ledger.tree.root() != root || ledger.tree.size() != recomputed.len() as u64 {
            problems.push(format!(
                "{v}->{h} in {p}: the stored tree ({} leaves, root {}) differs from the records ({} leaves, root {root})",
                ledger.tree.size(),
                ledger.tree.root(),
                recomputed.len()
            ));
        }
        if let Some(st) = m.statement(*p, *v, *h)? {
            let s = st.statement();
            if s.records_root != root || s.tree_size != recomputed.len() as u64 {
                problems.push(format!(
                    "statement {v}->{h} of {p}: records_root {} over {} leaves, the records give {root} over {}",
                    s.records_root,
                    s.tree_size,
                    recomputed.len()
                ));
            }
        }
    }

    // Statements, chains and netting.
    let mut last: BTreeMap<(Tadig, Tadig), Hash> = BTreeMap::new();
    let mut statements = 0usize;
    for (p, period) in m.periods() {
        let entries = m.statements(*p)?;
        let mut parsed: Vec<ClearingStatement> = Vec::new();
        for e in &entries {
            statements += 1;
            let s = match ClearingStatement::from_canonical_bytes(&e.bytes) {
                Ok(s) => s,
                Err(err) => {
                    problems.push(format!("a statement of {p}: {err}"));
                    continue;
                }
            };
            if settlement::crypto::sha256(&[&e.bytes]) != e.hash {
                problems.push(format!(
                    "statement {}->{} of {p}: stored hash is not the hash of its bytes",
                    s.visited, s.home
                ));
            }
            if let Err(err) = s.check_consistency() {
                problems.push(format!("statement {}->{} of {p}: {err}", s.visited, s.home));
            }
            let prev = last.get(&(s.visited, s.home)).copied().unwrap_or(Hash::ZERO);
            if s.previous_statement != prev {
                problems.push(format!(
                    "statement {}->{} of {p}: previous_statement {} but the previous statement's hash is {prev}",
                    s.visited, s.home, s.previous_statement
                ));
            }
            last.insert((s.visited, s.home), e.hash);
            parsed.push(s);
        }
        if period.status == PeriodStatus::Closed {
            match m.netting(*p)? {
                Some(bytes) => {
                    match NettingReport::from_canonical_bytes(&bytes).and_then(|n| n.verify(&parsed)) {
                        Ok(()) => {}
                        Err(err) => problems.push(format!("netting of {p}: {err}")),
                    }
                }
                None => problems.push(format!("period {p} is closed but has no netting report")),
            }
        }
    }

    // The ledger head over the log entries still held.
    let applied = m.applied_index();
    let first = log.first_index();
    let checkpoints = m.head_checkpoints()?;
    let start = checkpoints
        .iter()
        .filter(|(i, _)| *i + 1 >= first && *i <= applied)
        .min_by_key(|(i, _)| *i)
        .copied()
        .or_else(|| (first <= 1).then_some((0, Hash::ZERO)));
    let head_note = match start {
        None => "the log no longer holds the commands after the last head checkpoint; head not recomputed"
            .to_string(),
        Some((from, head)) => {
            let mut commands = Vec::new();
            let mut i = from + 1;
            while i <= applied {
                let batch = log.entries(i, (applied + 1).min(i + 1024), None)?;
                if batch.is_empty() {
                    break;
                }
                for e in &batch {
                    if e.get_entry_type() == raft::prelude::EntryType::EntryNormal && !e.get_data().is_empty()
                    {
                        commands.push((e.get_index(), e.get_data().to_vec()));
                    }
                }
                i += batch.len() as u64;
            }
            let n = commands.len();
            // Recompute step by step so every checkpoint on the way is checked too.
            let marks: BTreeMap<u64, Hash> = checkpoints.iter().filter(|(i, _)| *i > from).copied().collect();
            let mut recomputed = head;
            for (index, bytes) in commands {
                recomputed = chain_head(recomputed, [(index, bytes)]);
                if let Some(stored) = marks.get(&index)
                    && *stored != recomputed
                {
                    problems.push(format!(
                        "ledger head checkpoint at {index}: stored {stored}, recomputed {recomputed}"
                    ));
                }
            }
            if recomputed != m.head() {
                problems.push(format!(
                    "ledger head: stored {}, recomputed {recomputed} over {n} commands after index {from}",
                    m.head()
                ));
            }
            format!("ledger head recomputed over {n} commands from index {from} to {applied}")
        }
    };

    let commit = log.hard_state().commit;
    let replay_note = if commit > applied {
        format!(
            "; the state is applied to {applied}, the log holds committed entries to {commit}, which the next start replays"
        )
    } else {
        String::new()
    };
    out(&format!(
        "audited {checked_records} records in {seq} batches, {} trees, {statements} statements; {head_note}{replay_note}",
        leaves.len()
    ));
    if problems.is_empty() {
        out("no mismatch");
        Ok(0)
    } else {
        for p in &problems {
            out(&format!("MISMATCH {p}"));
        }
        Ok(1)
    }
}
