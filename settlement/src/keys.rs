//! The storage key layout (draft §6). One tag byte, then fixed-width big-endian fields, so a
//! prefix scan visits one entity kind in a meaningful order.
//!
//! | tag | key                                   | value                          |
//! |-----|---------------------------------------|--------------------------------|
//! | `M` | `M` + name                            | machine metadata, genesis, config |
//! | `Mh`| `Mh` log index                        | ledger head checkpoint         |
//! | `C` | `C` tadig                             | carrier entry                  |
//! | `A` | `A` agreement id                      | agreement entry                |
//! | `B` | `B` batch seq                         | stored batch (records + outcome) |
//! | `K` | `K` batch key                         | batch seq + digest (idempotency) |
//! | `X` | `X` batch seq, index                  | dispute                        |
//! | `P` | `P` period                            | period entry                   |
//! | `L` | `L` period, visited, home             | pair ledger (aggregates, tree frontier) |
//! | `H` | `H` period, visited, home, chunk      | 256 leaf hashes                |
//! | `R` | `R` period, visited, home, chunk      | chunk root                     |
//! | `I` | `I` period, visited, home, batch seq  | batch key (statement's batch list) |
//! | `Y` | `Y` period, visited, home, seq, index | (dispute counted in that statement) |
//! | `S` | `S` period, visited, home             | statement entry                |
//! | `T` | `T` visited, home                     | hash of the pair's last statement |
//! | `N` | `N` period                            | netting report                 |

use crate::codec::Encode;
use crate::command::RecordId;
use crate::config::PeriodId;
use crate::crypto::Hash;
use crate::types::Tadig;

/// Metadata: applied index, ledger head, ledger time, counters.
pub const META: &[u8] = b"Mmeta";
/// The genesis facts.
pub const GENESIS: &[u8] = b"Mgenesis";
/// The configuration and its version.
pub const CONFIG: &[u8] = b"Mconfig";

/// `Mh` + log index: the ledger head after that command (a checkpoint every
/// [`crate::limits::HEAD_CHECKPOINT_COMMANDS`] commands, so an audit can recompute the chain
/// over the log entries a node still holds).
pub fn head_checkpoint(index: u64) -> Vec<u8> {
    [&b"Mh"[..], &index.to_be_bytes()].concat()
}

fn period_bytes(p: PeriodId) -> [u8; 8] {
    // Ledger time never goes below zero, so the unsigned order is the time order.
    (p.0.unix_seconds() as u64).to_be_bytes()
}

/// `C` + tadig.
pub fn carrier(t: Tadig) -> Vec<u8> {
    [&b"C"[..], t.as_bytes()].concat()
}

/// `A` + id.
pub fn agreement(id: &Hash) -> Vec<u8> {
    [&b"A"[..], &id.0].concat()
}

/// `B` + seq.
pub fn batch(seq: u64) -> Vec<u8> {
    [&b"B"[..], &seq.to_be_bytes()].concat()
}

/// `K` + encoded batch key.
pub fn batch_key(k: &crate::batch::BatchKey) -> Vec<u8> {
    let mut v = b"K".to_vec();
    v.extend_from_slice(&k.to_bytes());
    v
}

/// `X` + record id.
pub fn dispute(r: RecordId) -> Vec<u8> {
    [&b"X"[..], &r.batch.to_be_bytes(), &r.index.to_be_bytes()].concat()
}

/// `P` + period.
pub fn period(p: PeriodId) -> Vec<u8> {
    [&b"P"[..], &period_bytes(p)].concat()
}

/// The 18-byte `period, visited, home` suffix.
fn pair(p: PeriodId, visited: Tadig, home: Tadig) -> [u8; 18] {
    let mut b = [0u8; 18];
    b[..8].copy_from_slice(&period_bytes(p));
    b[8..13].copy_from_slice(visited.as_bytes());
    b[13..].copy_from_slice(home.as_bytes());
    b
}

/// `L` + pair.
pub fn ledger(p: PeriodId, v: Tadig, h: Tadig) -> Vec<u8> {
    [&b"L"[..], &pair(p, v, h)].concat()
}

/// `L` + period: prefix of every pair ledger of a period.
pub fn ledger_prefix(p: PeriodId) -> Vec<u8> {
    [&b"L"[..], &period_bytes(p)].concat()
}

/// `H` + pair + chunk.
pub fn leaf_chunk(p: PeriodId, v: Tadig, h: Tadig, chunk: u64) -> Vec<u8> {
    [&b"H"[..], &pair(p, v, h), &chunk.to_be_bytes()].concat()
}

/// `R` + pair + chunk.
pub fn chunk_root(p: PeriodId, v: Tadig, h: Tadig, chunk: u64) -> Vec<u8> {
    [&b"R"[..], &pair(p, v, h), &chunk.to_be_bytes()].concat()
}

/// `I` + pair + seq.
pub fn pair_batch(p: PeriodId, v: Tadig, h: Tadig, seq: u64) -> Vec<u8> {
    [&b"I"[..], &pair(p, v, h), &seq.to_be_bytes()].concat()
}

/// `I` + pair: prefix of a pair's batches in a period.
pub fn pair_batch_prefix(p: PeriodId, v: Tadig, h: Tadig) -> Vec<u8> {
    [&b"I"[..], &pair(p, v, h)].concat()
}

/// `Y` + pair + record id.
pub fn pair_dispute(p: PeriodId, v: Tadig, h: Tadig, r: RecordId) -> Vec<u8> {
    [
        &b"Y"[..],
        &pair(p, v, h),
        &r.batch.to_be_bytes(),
        &r.index.to_be_bytes(),
    ]
    .concat()
}

/// `Y` + pair: prefix of a pair's disputes counted in a period.
pub fn pair_dispute_prefix(p: PeriodId, v: Tadig, h: Tadig) -> Vec<u8> {
    [&b"Y"[..], &pair(p, v, h)].concat()
}

/// `S` + pair.
pub fn statement(p: PeriodId, v: Tadig, h: Tadig) -> Vec<u8> {
    [&b"S"[..], &pair(p, v, h)].concat()
}

/// `S` + period: prefix of a period's statements.
pub fn statement_prefix(p: PeriodId) -> Vec<u8> {
    [&b"S"[..], &period_bytes(p)].concat()
}

/// `T` + visited + home.
pub fn pair_head(v: Tadig, h: Tadig) -> Vec<u8> {
    [&b"T"[..], v.as_bytes(), h.as_bytes()].concat()
}

/// `N` + period.
pub fn netting(p: PeriodId) -> Vec<u8> {
    [&b"N"[..], &period_bytes(p)].concat()
}

/// The smallest key greater than every key starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff: no upper bound exists; callers only use short ASCII-tag prefixes.
    vec![0xff; prefix.len() + 1]
}

/// Decodes the (visited, home) of an `L`/`S` key.
pub fn pair_of(key: &[u8]) -> (Tadig, Tadig) {
    let v = Tadig::from_bytes(&key[9..14]).expect("stored key holds a valid TADIG");
    let h = Tadig::from_bytes(&key[14..19]).expect("stored key holds a valid TADIG");
    (v, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::UtcTime;

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(b"L"), b"M".to_vec());
        assert_eq!(prefix_end(&[b'A', 0xff]), b"B".to_vec());
    }

    #[test]
    fn pair_keys_decode() {
        let p = PeriodId(UtcTime::from_unix_seconds(1_000));
        let v: Tadig = "KORKT".parse().unwrap();
        let h: Tadig = "JPNDO".parse().unwrap();
        assert_eq!(pair_of(&ledger(p, v, h)), (v, h));
        assert_eq!(pair_of(&statement(p, v, h)), (v, h));
        assert!(ledger(p, v, h).starts_with(&ledger_prefix(p)));
    }
}
