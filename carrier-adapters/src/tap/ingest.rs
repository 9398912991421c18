//! From TAP bytes to settlement batches: decode, validate (TD.57) and map in one pass.
//!
//! A file's verdict is only known after its audit totals, at the very end. So the node either
//! holds the records of one file until [`ingest`] returns (fine for files that fit in
//! memory), or uses [`ingest_seekable`], which validates in a first pass and emits records in
//! bounded batches in a second pass only when the file is not fatal.

use std::io::{Read, Seek, SeekFrom};

use settlement::batch::{BatchId, BatchKey};
use settlement::limits::RECORDS_PER_FILE_PART;
use settlement::types::{Currency, Scale, UsageRecord};

use super::stream::{Opened, open};
use super::validate::{BatchValidator, TapReport, ValidationContext, validate_notification};
use crate::diagnostic::Verdict;
use crate::error::Error;

/// A validated TAP file and its acceptable records.
#[derive(Clone, Debug)]
pub struct TapIngest {
    /// Findings, totals and verdict.
    pub report: TapReport,
    /// The batch's idempotency key (sender, recipient, file sequence number), when the
    /// header is valid.
    pub key: Option<BatchKey>,
    /// TAP currency.
    pub currency: Option<Currency>,
    /// `tapDecimalPlaces`.
    pub scale: Option<Scale>,
    /// Records of the call events without severe errors; empty when the verdict is fatal.
    pub records: Vec<UsageRecord>,
}

impl TapIngest {
    /// The records cut into settlement batches with their idempotency keys: the whole file
    /// under its file sequence number when it fits one part, otherwise parts of
    /// `RECORDS_PER_FILE_PART` records in file order keyed `FilePart` (draft rule, so every
    /// node derives the same keys). Empty when the header gives no key.
    pub fn batches(&self) -> Vec<(BatchKey, &[UsageRecord])> {
        let Some(key) = &self.key else {
            return Vec::new();
        };
        let keys = part_keys(key, self.records.len());
        keys.into_iter()
            .zip(self.records.chunks(RECORDS_PER_FILE_PART.max(1)))
            .collect()
    }
}

/// The batch keys of a TAP file's `records` accepted records (see [`TapIngest::batches`]).
pub fn part_keys(file_key: &BatchKey, records: usize) -> Vec<BatchKey> {
    let per = RECORDS_PER_FILE_PART.max(1);
    let parts = records.div_ceil(per);
    let BatchId::FileSequence(file) = file_key.id else {
        return vec![file_key.clone()];
    };
    if parts <= 1 {
        return vec![file_key.clone()];
    }
    (0..parts)
        .map(|p| BatchKey {
            sender: file_key.sender,
            recipient: file_key.recipient,
            id: BatchId::file_part(file, p as u32, parts as u32).expect("part < parts and parts >= 2"),
        })
        .collect()
}

/// What one pass over a file establishes besides its records.
pub type RunOutcome = (TapReport, Option<BatchKey>, Option<Currency>, Option<Scale>);

/// Decodes and validates a whole file, handing each acceptable record to `on_record` as it is
/// read (before the verdict is known). The primitive both entry points build on.
pub fn run<R: Read>(
    reader: R,
    ctx: &ValidationContext,
    mut on_record: impl FnMut(UsageRecord),
) -> Result<RunOutcome, Error> {
    match open(reader)? {
        Opened::Notification(n) => Ok((validate_notification(&n, ctx), None, None, None)),
        Opened::TransferBatch(mut stream) => {
            let mut v = BatchValidator::new(stream.header(), ctx);
            let (key, scale) = match v.normalizer() {
                Some(n) => (
                    n.file_sequence_number.map(|f| BatchKey {
                        sender: n.visited,
                        recipient: n.home,
                        id: BatchId::FileSequence(f),
                    }),
                    Some(n.scale),
                ),
                None => (None, None),
            };
            let currency = stream
                .header()
                .accounting_info
                .as_ref()
                .map(|a| {
                    a.tap_currency
                        .as_ref()
                        .map_or(Ok(Currency::SDR), |c| c.trimmed_text().parse::<Currency>())
                })
                .and_then(Result::ok);
            for item in stream.by_ref() {
                match item {
                    Ok(item) => {
                        if let Some(r) = v.event(&item) {
                            on_record(r);
                        }
                    }
                    Err(e) if e.is_record_level() => v.undecodable(&e),
                    Err(e) => return Err(e),
                }
            }
            let trailer = stream.finish()?;
            Ok((v.finish(&trailer), key, currency, scale))
        }
    }
}

/// Decodes, validates and maps a TAP file held in memory.
pub fn ingest(bytes: &[u8], ctx: &ValidationContext) -> Result<TapIngest, Error> {
    let mut records = Vec::new();
    let (report, key, currency, scale) = run(bytes, ctx, |r| records.push(r))?;
    if report.verdict == Verdict::Fatal {
        records.clear();
    }
    Ok(TapIngest {
        report,
        key,
        currency,
        scale,
        records,
    })
}

/// Two passes over a seekable input (a file): the first validates and counts, the second —
/// only when the verdict is not fatal and the header gives a batch key — hands the accepted
/// records to `on_batch` part by part (keys as in [`TapIngest::batches`]). Memory stays
/// bounded by one part.
pub fn ingest_seekable<R: Read + Seek>(
    mut reader: R,
    ctx: &ValidationContext,
    mut on_batch: impl FnMut(&BatchKey, &[UsageRecord]),
) -> Result<TapReport, Error> {
    let seek_err = |e: std::io::Error| Error::Io {
        offset: 0,
        message: e.to_string(),
    };
    let start = reader.stream_position().map_err(seek_err)?;
    let mut count = 0usize;
    let (report, key, ..) = run(&mut reader, ctx, |_| count += 1)?;
    let Some(key) = key.filter(|_| report.verdict != Verdict::Fatal) else {
        return Ok(report);
    };
    let keys = part_keys(&key, count);
    reader.seek(SeekFrom::Start(start)).map_err(seek_err)?;
    let per = RECORDS_PER_FILE_PART.max(1);
    let mut batch = Vec::with_capacity(per.min(count));
    let mut part = 0usize;
    let mut changed = false;
    run(&mut reader, ctx, |r| {
        batch.push(r);
        if batch.len() == per {
            match keys.get(part) {
                Some(k) => on_batch(k, &batch),
                None => changed = true,
            }
            part += 1;
            batch.clear();
        }
    })?;
    if !batch.is_empty() {
        match keys.get(part) {
            Some(k) => on_batch(k, &batch),
            None => changed = true,
        }
        part += 1;
    }
    if changed || part != keys.len() {
        return Err(Error::Io {
            offset: start,
            message: "the input changed between the validation pass and the record pass".to_owned(),
        });
    }
    Ok(report)
}
