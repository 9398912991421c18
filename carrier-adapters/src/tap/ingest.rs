//! From TAP bytes to settlement batches: decode, validate (TD.57) and map in one pass.
//!
//! A file's verdict is only known after its audit totals, at the very end. So the node either
//! holds the records of one file until [`ingest`] returns (fine for files that fit in
//! memory), or uses [`ingest_seekable`], which validates in a first pass and emits records in
//! bounded batches in a second pass only when the file is not fatal.

use std::io::{Read, Seek, SeekFrom};

use settlement::batch::{BatchId, BatchKey};
use settlement::limits::RECORDS_PER_BATCH_MAX;
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
    /// The records cut into settlement-sized batches (at most `RECORDS_PER_BATCH_MAX` each).
    pub fn batches(&self) -> impl Iterator<Item = &[UsageRecord]> {
        self.records.chunks(RECORDS_PER_BATCH_MAX)
    }
}

/// Decodes and validates a whole file, handing each acceptable record to `on_record` as it is
/// read (before the verdict is known). The primitive both entry points build on.
pub fn run<R: Read>(
    reader: R,
    ctx: &ValidationContext,
    mut on_record: impl FnMut(UsageRecord),
) -> Result<(TapReport, Option<BatchKey>, Option<Currency>, Option<Scale>), Error> {
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

/// Two passes over a seekable input (a file): the first validates, the second — only when
/// the verdict is not fatal — hands acceptable records to `on_batch` in batches of at most
/// `batch_max` (capped at `RECORDS_PER_BATCH_MAX`). Memory stays bounded by one batch.
pub fn ingest_seekable<R: Read + Seek>(
    mut reader: R,
    ctx: &ValidationContext,
    batch_max: usize,
    mut on_batch: impl FnMut(&[UsageRecord]),
) -> Result<TapReport, Error> {
    let seek_err = |e: std::io::Error| Error::Io {
        offset: 0,
        message: e.to_string(),
    };
    let start = reader.stream_position().map_err(seek_err)?;
    let (report, ..) = run(&mut reader, ctx, |_| {})?;
    if report.verdict == Verdict::Fatal {
        return Ok(report);
    }
    reader.seek(SeekFrom::Start(start)).map_err(seek_err)?;
    let cap = batch_max.clamp(1, RECORDS_PER_BATCH_MAX);
    let mut batch = Vec::with_capacity(cap.min(4096));
    run(&mut reader, ctx, |r| {
        batch.push(r);
        if batch.len() == cap {
            on_batch(&batch);
            batch.clear();
        }
    })?;
    if !batch.is_empty() {
        on_batch(&batch);
    }
    Ok(report)
}
