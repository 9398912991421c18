//! Snapshots: the whole state as a deterministic, chunked byte stream, and its installation.
//!
//! The stream is every `(key, value)` of a point-in-time store view in key order, cut into
//! chunks of about [`SNAPSHOT_CHUNK_BYTES`], so a multi-gigabyte state never sits in one
//! buffer or one message. Two nodes with the same state produce byte-identical streams.
//!
//! Chunk format (draft §6.3), all integers big-endian:
//!
//! ```text
//! chunk   = version (u8 = 1) || kind (u8) || body
//! kind 1  = entries: count (u32) || { key_len (u32) || key || value_len (u32) || value }*
//! kind 2  = trailer: total entries (u64) || SHA-256 over every entry as encoded above
//! ```
//!
//! The trailer is the last chunk; an installer refuses a stream whose trailer is missing or
//! does not match what it received, and keys that are not strictly increasing.

use sha2::{Digest, Sha256};

use crate::codec::Decoder;
use crate::crypto::Hash;
use crate::error::{ApplyError, StoreError};
use crate::limits::{KEY_BYTES_MAX, SNAPSHOT_CHUNK_BYTES};
use crate::store::{ReadStore, WriteBatch};

/// Snapshot format version.
pub const SNAPSHOT_FORMAT_VERSION: u8 = 1;
const KIND_ENTRIES: u8 = 1;
const KIND_TRAILER: u8 = 2;

/// Largest value a snapshot entry may carry (a stored batch of the largest size fits).
pub const SNAPSHOT_VALUE_BYTES_MAX: usize = 64 * 1024 * 1024;

fn snapshot_error(reason: impl Into<String>) -> ApplyError {
    ApplyError::Snapshot {
        reason: reason.into(),
    }
}

/// Produces the chunks of a store view, in order. The view must not change while the
/// reader runs (pass a clone of a `MemStore`, or a RocksDB snapshot).
pub struct SnapshotReader<'a, R: ReadStore + ?Sized> {
    view: &'a R,
    /// Resume point: the next scan starts here. `None` once every entry was emitted.
    next_key: Option<Vec<u8>>,
    digest: Sha256,
    entries: u64,
    trailer_sent: bool,
    chunk_bytes: usize,
}

impl<'a, R: ReadStore + ?Sized> SnapshotReader<'a, R> {
    /// A reader over `view` with the default chunk size.
    pub fn new(view: &'a R) -> Self {
        Self::with_chunk_bytes(view, SNAPSHOT_CHUNK_BYTES)
    }

    /// A reader with a chosen target chunk size (tests use small chunks).
    pub fn with_chunk_bytes(view: &'a R, chunk_bytes: usize) -> Self {
        SnapshotReader {
            view,
            next_key: Some(Vec::new()),
            digest: Sha256::new(),
            entries: 0,
            trailer_sent: false,
            chunk_bytes: chunk_bytes.max(1),
        }
    }

    fn entries_chunk(&mut self, start: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let mut body = Vec::with_capacity(self.chunk_bytes.min(1 << 20) + 64);
        body.push(SNAPSHOT_FORMAT_VERSION);
        body.push(KIND_ENTRIES);
        body.extend_from_slice(&[0; 4]); // count, patched below
        let mut count: u32 = 0;
        let mut last: Option<Vec<u8>> = None;
        let mut more = false;
        let limit = self.chunk_bytes;
        let digest = &mut self.digest;
        self.view.scan(&start, None, &mut |k, v| {
            if count > 0 && body.len() + k.len() + v.len() + 8 > limit {
                more = true;
                return false;
            }
            let at = body.len();
            body.extend_from_slice(&(k.len() as u32).to_be_bytes());
            body.extend_from_slice(k);
            body.extend_from_slice(&(v.len() as u32).to_be_bytes());
            body.extend_from_slice(v);
            digest.update(&body[at..]);
            count += 1;
            last = Some(k.to_vec());
            true
        })?;
        body[2..6].copy_from_slice(&count.to_be_bytes());
        self.entries += u64::from(count);
        self.next_key = match (more, last) {
            (true, Some(mut k)) => {
                // The smallest key after `k`.
                k.push(0);
                Some(k)
            }
            _ => None,
        };
        Ok(body)
    }
}

impl<R: ReadStore + ?Sized> Iterator for SnapshotReader<'_, R> {
    type Item = Result<Vec<u8>, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(start) = self.next_key.take() {
            return Some(self.entries_chunk(start));
        }
        if self.trailer_sent {
            return None;
        }
        self.trailer_sent = true;
        let digest = std::mem::take(&mut self.digest);
        let mut t = vec![SNAPSHOT_FORMAT_VERSION, KIND_TRAILER];
        t.extend_from_slice(&self.entries.to_be_bytes());
        t.extend_from_slice(&digest.finalize());
        Some(Ok(t))
    }
}

/// Checks snapshot chunks in order and turns each into writes for the target store.
///
/// The caller decides how installation is made atomic (for example by clearing the target
/// first with [`SnapshotInstaller::clear_all`] inside a marked "installing" state, and
/// clearing the mark only after [`SnapshotInstaller::finish`] succeeded).
#[derive(Default)]
pub struct SnapshotInstaller {
    digest: Sha256,
    entries: u64,
    last_key: Option<Vec<u8>>,
    finished: Option<(u64, Hash)>,
}

impl SnapshotInstaller {
    /// A fresh installer.
    pub fn new() -> Self {
        SnapshotInstaller::default()
    }

    /// A batch deleting every key: the first write of an installation.
    pub fn clear_all() -> WriteBatch {
        let mut b = WriteBatch::new();
        b.delete_range(Vec::new(), vec![0xff; KEY_BYTES_MAX + 1]);
        b
    }

    /// Validates one chunk and returns its writes (empty for the trailer).
    pub fn chunk(&mut self, chunk: &[u8]) -> Result<WriteBatch, ApplyError> {
        if self.finished.is_some() {
            return Err(snapshot_error("chunk after the trailer"));
        }
        let mut d = Decoder::new(chunk);
        let codec = |e: crate::error::CodecError| snapshot_error(e.to_string());
        let version = d.u8("snapshot version").map_err(codec)?;
        if version != SNAPSHOT_FORMAT_VERSION {
            return Err(snapshot_error(format!(
                "unsupported snapshot format version {version}"
            )));
        }
        let mut batch = WriteBatch::new();
        match d.u8("snapshot chunk kind").map_err(codec)? {
            KIND_ENTRIES => {
                let count = d.count("snapshot entries", usize::MAX, 8).map_err(codec)?;
                for _ in 0..count {
                    let at = d.offset();
                    let key = d.bytes("snapshot key", KEY_BYTES_MAX).map_err(codec)?;
                    let value = d
                        .bytes("snapshot value", SNAPSHOT_VALUE_BYTES_MAX)
                        .map_err(codec)?;
                    if self.last_key.as_deref().is_some_and(|l| l >= key) {
                        return Err(snapshot_error(format!(
                            "keys are not strictly increasing at chunk offset {at}"
                        )));
                    }
                    self.digest.update(&chunk[at..d.offset()]);
                    self.entries += 1;
                    self.last_key = Some(key.to_vec());
                    batch.put(key.to_vec(), value.to_vec());
                }
                d.finish("snapshot entries chunk").map_err(codec)?;
            }
            KIND_TRAILER => {
                let n = d.u64("snapshot entry count").map_err(codec)?;
                let h: [u8; 32] = d.array("snapshot digest").map_err(codec)?;
                d.finish("snapshot trailer").map_err(codec)?;
                let ours = Hash(std::mem::take(&mut self.digest).finalize().into());
                if n != self.entries || Hash(h) != ours {
                    return Err(snapshot_error(format!(
                        "trailer says {n} entries with digest {}, received {} entries with digest {ours}",
                        Hash(h),
                        self.entries
                    )));
                }
                self.finished = Some((n, ours));
            }
            k => return Err(snapshot_error(format!("unknown snapshot chunk kind {k}"))),
        }
        Ok(batch)
    }

    /// Succeeds once the trailer was received and matched; returns (entries, digest).
    pub fn finish(&self) -> Result<(u64, Hash), ApplyError> {
        self.finished
            .ok_or_else(|| snapshot_error("the snapshot stream ended before its trailer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemStore, Store};

    fn store(n: u32) -> MemStore {
        let mut s = MemStore::new();
        let mut b = WriteBatch::new();
        for i in 0..n {
            b.put(format!("k{i:06}").into_bytes(), vec![i as u8; (i % 50) as usize]);
        }
        s.write(b).unwrap();
        s
    }

    fn install(chunks: &[Vec<u8>]) -> Result<MemStore, ApplyError> {
        let mut target = store(3); // something to clear
        target.write(SnapshotInstaller::clear_all()).unwrap();
        let mut inst = SnapshotInstaller::new();
        for c in chunks {
            let b = inst.chunk(c)?;
            target.write(b).unwrap();
        }
        inst.finish()?;
        Ok(target)
    }

    #[test]
    fn round_trip_in_many_chunks() {
        let s = store(1000);
        let chunks: Vec<Vec<u8>> = SnapshotReader::with_chunk_bytes(&s, 2048)
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(chunks.len() > 10, "small chunks: {}", chunks.len());
        assert_eq!(install(&chunks).unwrap(), s);
        // Deterministic: the same state gives the same bytes.
        let again: Vec<Vec<u8>> = SnapshotReader::with_chunk_bytes(&s.clone(), 2048)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(chunks, again);
    }

    #[test]
    fn empty_state_is_one_empty_chunk_and_a_trailer() {
        let s = MemStore::new();
        let chunks: Vec<Vec<u8>> = SnapshotReader::new(&s).collect::<Result<_, _>>().unwrap();
        assert_eq!(chunks.len(), 2);
        assert!(install(&chunks).unwrap().is_empty());
    }

    #[test]
    fn missing_reordered_or_tampered_chunks_fail() {
        let s = store(200);
        let chunks: Vec<Vec<u8>> = SnapshotReader::with_chunk_bytes(&s, 512)
            .collect::<Result<_, _>>()
            .unwrap();
        let mut dropped = chunks.clone();
        dropped.remove(1);
        assert!(install(&dropped).is_err(), "a missing chunk");
        let mut swapped = chunks.clone();
        swapped.swap(0, 1);
        assert!(install(&swapped).is_err(), "chunks out of order");
        let mut tampered = chunks.clone();
        let last = tampered[0].len() - 1;
        tampered[0][last] ^= 1;
        assert!(install(&tampered).is_err(), "a changed value");
        let no_trailer = &chunks[..chunks.len() - 1];
        assert!(install(no_trailer).is_err(), "no trailer");
        let mut bad_version = chunks;
        bad_version[0][0] = 9;
        assert!(install(&bad_version).is_err());
    }
}
