//! The `Ingest` service: files and record streams in, signed batches proposed, outcomes out.
//!
//! Uploads are spooled to the node's disk (bounded by [`UPLOAD_BYTES_MAX`]) and decoded on a
//! blocking thread that hands batches over a bounded channel, so a large file never sits in
//! memory whole: TAP files are validated in a first pass (their verdict is only known after
//! the audit totals) and cut into 1,000-record parts in a second; CSV streams row by row.
//! Batches are signed with the carrier's key and proposed with a bounded number in flight,
//! answered in order.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use carrier_adapters::tap::validate::{TapReport, ValidationContext};
use proto::api as pb;
use proto::api::ingest_server::Ingest;
use settlement::batch::{BatchId, BatchKey, SubmitBatch};
use settlement::command::{Command, Outcome};
use settlement::error::RecordRejection;
use settlement::limits::RECORDS_PER_FILE_PART;
use settlement::types::{Currency, Scale, Tadig, UsageRecord};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::convert::{batch_rejected, batch_result, record_from_pb};
use super::{Api, st};
use crate::error::{NodeError, to_status};
use crate::identity::Caller;
use crate::limits::{
    PROPOSALS_IN_FLIGHT_MAX, STREAM_BATCHES_IN_FLIGHT_MAX, STREAM_RECORDS_PER_BATCH_MAX, UPLOAD_BYTES_MAX,
};
use crate::metrics;

/// A batch ready to sign.
struct Pending {
    key: BatchKey,
    currency: Currency,
    scale: Scale,
    records: Vec<UsageRecord>,
}

/// What decoding an upload produced besides its batches.
#[derive(Default)]
struct Decoded {
    records: u64,
    diagnostics: Vec<String>,
    /// A file rejected before any batch (fatal TAP validation or undecodable input).
    fatal: Option<(Option<BatchKey>, String)>,
    /// The TAP report, for the RAP file.
    tap: Option<TapReport>,
}

static UPLOADS: AtomicU64 = AtomicU64::new(0);

/// Removes the spool file when the upload is done, whatever happened.
struct Spool(PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn decode_error(what: &str, e: impl std::fmt::Display) -> NodeError {
    NodeError::Input(format!("{what}: {e}"))
}

/// A TD.57 finding as one line.
fn describe(d: &carrier_adapters::diagnostic::Diagnostic) -> String {
    let at = d
        .record_index
        .map(|i| format!(" call event {i}"))
        .unwrap_or_default();
    format!("{:?} {} {}{at}: {}", d.severity, d.item, d.code, d.message)
}

/// TAP: header peek for currency and scale, validation pass, record pass in file parts.
fn decode_tap(path: &Path, me: Tadig, tx: &mpsc::Sender<Pending>) -> Result<Decoded, NodeError> {
    use carrier_adapters::tap::stream::{Opened, open};
    let file = || std::fs::File::open(path).map_err(|e| NodeError::io(path, e));
    let (currency, scale) = match open(std::io::BufReader::new(file()?)) {
        Ok(Opened::TransferBatch(s)) => {
            let ai = s.header().accounting_info.as_ref();
            let currency = ai
                .and_then(|a| a.tap_currency.as_ref())
                .map(|c| c.trimmed_text())
                .unwrap_or_else(|| Currency::SDR.to_string());
            let places = ai.and_then(|a| a.tap_decimal_places).unwrap_or(0);
            (
                currency.parse::<Currency>().ok(),
                u8::try_from(places).ok().and_then(|p| Scale::new(p).ok()),
            )
        }
        Ok(Opened::Notification(_)) => (None, None),
        Err(e) => {
            return Ok(Decoded {
                fatal: Some((None, format!("TAP file cannot be decoded: {e}"))),
                ..Decoded::default()
            });
        }
    };
    let ctx = ValidationContext {
        sender: Some(me),
        ..ValidationContext::default()
    };
    let mut records = 0u64;
    let mut closed = false;
    let report = carrier_adapters::tap::ingest::ingest_seekable(
        std::io::BufReader::new(file()?),
        &ctx,
        |key, recs| {
            records += recs.len() as u64;
            let (Some(currency), Some(scale)) = (currency, scale) else {
                return;
            };
            if !closed
                && tx
                    .blocking_send(Pending {
                        key: key.clone(),
                        currency,
                        scale,
                        records: recs.to_vec(),
                    })
                    .is_err()
            {
                closed = true;
            }
        },
    );
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            return Ok(Decoded {
                fatal: Some((None, format!("TAP file cannot be decoded: {e}"))),
                ..Decoded::default()
            });
        }
    };
    let diagnostics = report.diagnostics.iter().map(describe).collect();
    let fatal = (report.verdict == carrier_adapters::diagnostic::Verdict::Fatal).then(|| {
        let worst: Vec<String> = report
            .diagnostics
            .iter()
            .filter(|d| d.severity == carrier_adapters::diagnostic::Severity::Fatal)
            .map(describe)
            .collect();
        (
            None,
            format!("TAP file rejected (TD.57 fatal): {}", worst.join("; ")),
        )
    });
    if fatal.is_none() && (currency.is_none() || scale.is_none()) {
        return Ok(Decoded {
            records,
            diagnostics,
            fatal: Some((None, "TAP file has no usable tapCurrency/tapDecimalPlaces".into())),
            tap: Some(report),
        });
    }
    Ok(Decoded {
        records,
        diagnostics,
        fatal,
        tap: Some(report),
    })
}

/// Groups records by home network into parts of [`RECORDS_PER_FILE_PART`] with client ids
/// `<file id>.<HOME>.<part>`, sending each part when it fills.
struct Grouper<'a> {
    id: &'a str,
    me: Tadig,
    currency: Currency,
    scale: Scale,
    open: BTreeMap<Tadig, (u32, Vec<UsageRecord>)>,
    tx: &'a mpsc::Sender<Pending>,
}

impl Grouper<'_> {
    fn push(&mut self, r: UsageRecord) -> Result<(), NodeError> {
        let home = r.home;
        let entry = self.open.entry(home).or_insert((0, Vec::new()));
        entry.1.push(r);
        if entry.1.len() == RECORDS_PER_FILE_PART {
            let part = entry.0;
            entry.0 += 1;
            let records = std::mem::take(&mut entry.1);
            self.send(home, part, records)?;
        }
        Ok(())
    }

    fn send(&self, home: Tadig, part: u32, records: Vec<UsageRecord>) -> Result<(), NodeError> {
        let key = BatchKey {
            sender: self.me,
            recipient: home,
            id: BatchId::client(&format!("{}.{home}.{part}", self.id))
                .map_err(|e| decode_error("client_batch_id", e))?,
        };
        self.tx
            .blocking_send(Pending {
                key,
                currency: self.currency,
                scale: self.scale,
                records,
            })
            .map_err(|_| NodeError::Input("upload abandoned".into()))
    }

    fn finish(mut self) -> Result<(), NodeError> {
        for (home, (part, records)) in std::mem::take(&mut self.open) {
            if !records.is_empty() {
                self.send(home, part, records)?;
            }
        }
        Ok(())
    }
}

/// The scale CSV and JSON amounts are read at: the settlement scale (amounts may carry fewer
/// decimal places, never more).
fn input_scale() -> Scale {
    settlement::config::ConsortiumConfig::default().settlement_scale
}

fn decode_csv(path: &Path, id: &str, me: Tadig, tx: &mpsc::Sender<Pending>) -> Result<Decoded, NodeError> {
    let file = std::fs::File::open(path).map_err(|e| NodeError::io(path, e))?;
    let scale = input_scale();
    let reader = carrier_adapters::csv::CsvReader::new(std::io::BufReader::new(file), scale)
        .map_err(|e| decode_error("CSV", e))?;
    group(reader, id, me, scale, tx, "CSV", "row")
}

fn decode_json(path: &Path, id: &str, me: Tadig, tx: &mpsc::Sender<Pending>) -> Result<Decoded, NodeError> {
    let bytes = std::fs::read(path).map_err(|e| NodeError::io(path, e))?;
    let scale = input_scale();
    let opts = carrier_adapters::tmf635::JsonOptions {
        scale,
        currency: Some(Currency::SDR),
    };
    let items = match carrier_adapters::tmf635::read(&bytes, &opts) {
        Ok(i) => i,
        Err(e) => {
            return Ok(Decoded {
                fatal: Some((None, format!("TMF635 JSON cannot be read: {e}"))),
                ..Decoded::default()
            });
        }
    };
    group(items, id, me, scale, tx, "TMF635", "element")
}

/// Groups decoded SDR records into batches per home network and sends them on; a record that
/// cannot be read is reported (with where it is) and not submitted.
fn group<E: std::fmt::Display>(
    records: impl IntoIterator<Item = Result<UsageRecord, E>>,
    id: &str,
    me: Tadig,
    scale: Scale,
    tx: &mpsc::Sender<Pending>,
    format: &str,
    item: &str,
) -> Result<Decoded, NodeError> {
    let mut g = Grouper {
        id,
        me,
        currency: Currency::SDR,
        scale,
        open: BTreeMap::new(),
        tx,
    };
    let mut d = Decoded::default();
    for r in records {
        match r {
            Ok(rec) => {
                d.records += 1;
                g.push(rec)?;
            }
            Err(e) => d
                .diagnostics
                .push(format!("{format}: {e} ({item} skipped, not submitted)")),
        }
    }
    g.finish()?;
    Ok(d)
}

/// One proposed batch: the file's record indexes it carried, and its result.
type Proposed = (Vec<u32>, Result<pb::BatchResult, NodeError>);

impl Api {
    /// Signs and proposes one batch; answers its result.
    async fn propose_batch(&self, caller: &Caller, p: Pending) -> Result<pb::BatchResult, NodeError> {
        let me = self.ledger.tadig();
        caller.may_submit(me, p.key.sender)?;
        if let Some(r) = p.records.iter().find(|r| r.visited != caller.tadig) {
            return Err(NodeError::Forbidden(format!(
                "record {} is usage of {}, not of {}",
                r.source.record_index, r.visited, caller.tadig
            )));
        }
        let b = SubmitBatch::build(
            p.key.clone(),
            p.currency,
            p.scale,
            &p.records,
            self.ledger.signer(),
        )
        .map_err(|e| NodeError::Input(e.to_string()))?;
        let digest = b.digest;
        let started = Instant::now();
        let outcome = self.ledger.propose(Command::SubmitBatch(b)).await?;
        metrics::record_commit("submit_batch", started.elapsed());
        match outcome {
            Outcome::BatchApplied(o) => Ok(batch_result(&o)),
            Outcome::Rejected(r) => Ok(batch_rejected(&p.key, &digest, &r)),
            o => Err(NodeError::Input(format!("unexpected outcome {o:?}"))),
        }
    }

    /// Proposes batches as they arrive, at most [`PROPOSALS_IN_FLIGHT_MAX`] at a time, and
    /// returns the results in order with the settlement rejections (for the RAP file).
    async fn propose_all(
        &self,
        caller: &Caller,
        mut rx: mpsc::Receiver<Pending>,
    ) -> Result<(Vec<pb::BatchResult>, Vec<(Vec<u32>, Vec<RecordRejection>)>), NodeError> {
        let mut inflight: VecDeque<tokio::task::JoinHandle<Proposed>> = VecDeque::new();
        let mut results = Vec::new();
        let mut rejections = Vec::new();
        let mut done = |r: Proposed| -> Result<(), NodeError> {
            let (indexes, result) = r;
            let result = result?;
            let rej = result
                .rejected
                .iter()
                .filter_map(|x| {
                    settlement::error::ErrorCode::from_wire(x.wire as u16).map(|code| RecordRejection {
                        index: x.index,
                        code,
                        message: x.message.clone(),
                    })
                })
                .collect();
            rejections.push((indexes, rej));
            results.push(result);
            Ok(())
        };
        while let Some(p) = rx.recv().await {
            if inflight.len() >= PROPOSALS_IN_FLIGHT_MAX {
                let first = inflight.pop_front().expect("non-empty");
                done(first.await.map_err(|e| NodeError::Transport(e.to_string()))?)?;
            }
            let api = self.clone();
            let caller = caller.clone();
            let indexes: Vec<u32> = p.records.iter().map(|r| r.source.record_index).collect();
            inflight.push_back(tokio::spawn(async move {
                (indexes, api.propose_batch(&caller, p).await)
            }));
        }
        while let Some(t) = inflight.pop_front() {
            done(t.await.map_err(|e| NodeError::Transport(e.to_string()))?)?;
        }
        Ok((results, rejections))
    }

    async fn spool(
        &self,
        stream: &mut Streaming<pb::FileChunk>,
    ) -> Result<(pb::FileHeader, Spool), NodeError> {
        let header = match stream.message().await? {
            Some(pb::FileChunk {
                part: Some(pb::file_chunk::Part::Header(h)),
            }) => h,
            _ => {
                return Err(NodeError::Input(
                    "the first message of an upload must be its header".into(),
                ));
            }
        };
        let dir = self.ledger.config().data_dir.join("uploads");
        std::fs::create_dir_all(&dir).map_err(|e| NodeError::io(&dir, e))?;
        let path = dir.join(format!(
            "{}-{}.upload",
            std::process::id(),
            UPLOADS.fetch_add(1, Ordering::Relaxed)
        ));
        let spool = Spool(path.clone());
        let mut file = std::fs::File::create(&path).map_err(|e| NodeError::io(&path, e))?;
        let mut size = 0u64;
        while let Some(chunk) = stream.message().await? {
            match chunk.part {
                Some(pb::file_chunk::Part::Data(d)) => {
                    size += d.len() as u64;
                    if size > UPLOAD_BYTES_MAX {
                        return Err(NodeError::Input(format!(
                            "{}: larger than the {UPLOAD_BYTES_MAX}-byte upload limit",
                            header.file_name
                        )));
                    }
                    file.write_all(&d).map_err(|e| NodeError::io(&path, e))?;
                }
                _ => {
                    return Err(NodeError::Input(
                        "only data may follow the header of an upload".into(),
                    ));
                }
            }
        }
        file.flush().map_err(|e| NodeError::io(&path, e))?;
        Ok((header, spool))
    }
}

#[tonic::async_trait]
impl Ingest for Api {
    async fn submit_file(
        &self,
        req: Request<Streaming<pb::FileChunk>>,
    ) -> Result<Response<pb::SubmitFileResponse>, Status> {
        let caller = self.caller(&req)?;
        let me = self.ledger.tadig();
        st(caller.may_submit(me, caller.tadig))?;
        let mut stream = req.into_inner();
        let (header, spool) = st(self.spool(&mut stream).await)?;
        let format = pb::FileFormat::try_from(header.format).unwrap_or(pb::FileFormat::Unspecified);
        if format != pb::FileFormat::Tap3 && header.client_batch_id.is_empty() {
            return Err(to_status(NodeError::Input(
                "CSV and JSON uploads need a client_batch_id (their idempotency key)".into(),
            )));
        }
        if header.client_batch_id.len() > 48 {
            return Err(to_status(NodeError::Input(
                "client_batch_id is longer than 48 bytes".into(),
            )));
        }
        let (tx, rx) = mpsc::channel::<Pending>(PROPOSALS_IN_FLIGHT_MAX);
        let path = spool.0.clone();
        let id = header.client_batch_id.clone();
        let decoder = tokio::task::spawn_blocking(move || match format {
            pb::FileFormat::Tap3 => decode_tap(&path, me, &tx),
            pb::FileFormat::Csv => decode_csv(&path, &id, me, &tx),
            pb::FileFormat::Tmf635Json => decode_json(&path, &id, me, &tx),
            pb::FileFormat::Unspecified => Err(NodeError::Input("the upload header names no format".into())),
        });
        let proposed = self.propose_all(&caller, rx).await;
        let decoded = st(decoder
            .await
            .map_err(|e| NodeError::Transport(e.to_string()))
            .and_then(|r| r))?;
        let (mut batches, rejections) = st(proposed)?;
        if let Some((key, why)) = &decoded.fatal {
            batches.push(pb::BatchResult {
                key: key.as_ref().map(super::convert::batch_key),
                status: pb::batch_result::Status::Rejected as i32,
                fatal: Some(pb::ErrorDetail {
                    code: "ROAMLEDGER:FILE_REJECTED".into(),
                    message: why.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        let (rap_file, rap_file_name) = match &decoded.tap {
            Some(report) => {
                let rejected: BTreeSet<(u32, settlement::error::ErrorCode)> = rejections
                    .iter()
                    .flat_map(|(indexes, rej)| rej.iter().map(move |r| (indexes[r.index as usize], r.code)))
                    .collect();
                let path = spool.0.clone();
                let report = report.clone();
                let rap =
                    tokio::task::spawn_blocking(move || crate::rap::return_file(&path, &report, &rejected))
                        .await
                        .map_err(|e| Status::internal(e.to_string()))?;
                match st(rap)? {
                    Some((name, bytes)) => (bytes, name),
                    None => (Vec::new(), String::new()),
                }
            }
            None => (Vec::new(), String::new()),
        };
        drop(spool);
        Ok(Response::new(pb::SubmitFileResponse {
            batches,
            rap_file,
            rap_file_name,
            records: decoded.records,
            diagnostics: decoded.diagnostics,
        }))
    }

    type StreamBatchesStream = ReceiverStream<Result<pb::BatchResult, Status>>;

    async fn stream_batches(
        &self,
        req: Request<Streaming<pb::RecordBatch>>,
    ) -> Result<Response<Self::StreamBatchesStream>, Status> {
        let caller = self.caller(&req)?;
        let me = self.ledger.tadig();
        st(caller.may_submit(me, caller.tadig))?;
        let mut stream = req.into_inner();
        let (out_tx, out_rx) = mpsc::channel(STREAM_BATCHES_IN_FLIGHT_MAX);
        let api = self.clone();
        tokio::spawn(async move {
            let mut inflight: VecDeque<tokio::task::JoinHandle<Result<pb::BatchResult, NodeError>>> =
                VecDeque::new();
            let flush_one = |t: tokio::task::JoinHandle<Result<pb::BatchResult, NodeError>>,
                             out: mpsc::Sender<Result<pb::BatchResult, Status>>| async move {
                let r = match t.await {
                    Ok(Ok(r)) => Ok(r),
                    Ok(Err(e)) => Err(to_status(e)),
                    Err(e) => Err(Status::internal(e.to_string())),
                };
                out.send(r).await.is_ok()
            };
            loop {
                let msg = match stream.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(e) => {
                        let _ = out_tx.send(Err(e)).await;
                        return;
                    }
                };
                if inflight.len() >= STREAM_BATCHES_IN_FLIGHT_MAX
                    && !flush_one(inflight.pop_front().expect("non-empty"), out_tx.clone()).await
                {
                    return;
                }
                let api = api.clone();
                let caller = caller.clone();
                inflight.push_back(tokio::spawn(async move {
                    let p = pending_from_stream(&msg, caller.tadig)?;
                    api.propose_batch(&caller, p).await
                }));
            }
            while let Some(t) = inflight.pop_front() {
                if !flush_one(t, out_tx.clone()).await {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(out_rx)))
    }
}

/// A streamed batch as a pending batch of `sender`.
fn pending_from_stream(m: &pb::RecordBatch, sender: Tadig) -> Result<Pending, NodeError> {
    if m.records.len() > STREAM_RECORDS_PER_BATCH_MAX {
        return Err(NodeError::Input(format!(
            "{} records in one batch; at most {STREAM_RECORDS_PER_BATCH_MAX}",
            m.records.len()
        )));
    }
    let scale = u8::try_from(m.scale)
        .ok()
        .and_then(|s| Scale::new(s).ok())
        .ok_or_else(|| NodeError::Input(format!("scale {} is out of range", m.scale)))?;
    let currency: Currency = if m.currency.is_empty() {
        Currency::SDR
    } else {
        m.currency.parse().map_err(|e| decode_error("currency", e))?
    };
    let records = m
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| record_from_pb(r, scale, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Pending {
        key: BatchKey {
            sender,
            recipient: m.recipient.parse().map_err(|e| decode_error("recipient", e))?,
            id: BatchId::client(&m.client_batch_id).map_err(|e| decode_error("client_batch_id", e))?,
        },
        currency,
        scale,
        records,
    })
}
