//! `roamledger submit`: uploads usage files to a carrier's own node, with progress bars and
//! idempotent retries (a file keeps its batch keys, so a retried upload answers the original
//! outcome instead of billing twice).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use proto::api as pb;
use proto::api::ingest_client::IngestClient;
use tokio::io::AsyncReadExt;

use crate::cli::{Conn, Format, explain, out};
use crate::error::NodeError;
use crate::limits::GRPC_MESSAGE_BYTES_MAX;

/// Upload chunk size.
const CHUNK_BYTES: usize = 1 << 20;
/// Attempts per file on transport errors.
const ATTEMPTS: u32 = 5;

/// The format of `path`: the flag, else the file name (TAP names start with `CD`/`TD`).
pub fn detect(path: &Path, flag: Option<Format>) -> Result<Format, NodeError> {
    if let Some(f) = flag {
        return Ok(f);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let lower = name.to_lowercase();
    if lower.ends_with(".csv") {
        Ok(Format::Csv)
    } else if lower.ends_with(".json") {
        Ok(Format::Json)
    } else if name.starts_with("CD")
        || name.starts_with("TD")
        || lower.contains(".tap")
        || lower.ends_with(".ber")
    {
        Ok(Format::Tap)
    } else {
        Err(NodeError::Input(format!(
            "{}: cannot tell the format from the name; pass --format tap|csv|json",
            path.display()
        )))
    }
}

/// Files named directly and the files inside named directories, sorted.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, NodeError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| NodeError::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            inside.sort();
            files.extend(inside);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            return Err(NodeError::Input(format!(
                "{}: no such file or directory",
                p.display()
            )));
        }
    }
    Ok(files)
}

/// A deterministic client batch id for a CSV/JSON file: its name and content hash, so a
/// retry uses the same key and a changed file a new one.
pub fn client_batch_id(path: &Path, bytes: &[u8]) -> String {
    let stem: String = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(40)
        .collect();
    let h = settlement::crypto::sha256(&[bytes]).to_hex();
    format!("{stem}-{}", &h[..16])
}

/// Uploads one file; returns the node's answer.
pub async fn upload(
    conn: &Conn,
    path: &Path,
    format: Format,
    bar: Option<&ProgressBar>,
) -> Result<pb::SubmitFileResponse, NodeError> {
    let size = std::fs::metadata(path).map_err(|e| NodeError::io(path, e))?.len();
    let client_batch_id = if format == Format::Tap {
        String::new()
    } else {
        let bytes = std::fs::read(path).map_err(|e| NodeError::io(path, e))?;
        client_batch_id(path, &bytes)
    };
    let header = pb::FileHeader {
        format: match format {
            Format::Tap => pb::FileFormat::Tap3,
            Format::Csv => pb::FileFormat::Csv,
            Format::Json => pb::FileFormat::Tmf635Json,
        } as i32,
        file_name: path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        client_batch_id,
        size_bytes: size,
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (tx, rx) = tokio::sync::mpsc::channel::<pb::FileChunk>(4);
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| NodeError::io(path, e))?;
        let header = header.clone();
        let bar = bar.cloned();
        let feeder = tokio::spawn(async move {
            if tx
                .send(pb::FileChunk {
                    part: Some(pb::file_chunk::Part::Header(header)),
                })
                .await
                .is_err()
            {
                return Ok(());
            }
            if let Some(b) = &bar {
                b.set_position(0);
            }
            let mut buf = vec![0u8; CHUNK_BYTES];
            loop {
                let n = file.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<(), std::io::Error>(());
                }
                if tx
                    .send(pb::FileChunk {
                        part: Some(pb::file_chunk::Part::Data(buf[..n].to_vec())),
                    })
                    .await
                    .is_err()
                {
                    return Ok(());
                }
                if let Some(b) = &bar {
                    b.inc(n as u64);
                }
            }
        });
        let result = async {
            let mut c = IngestClient::new(conn.channel().await?)
                .max_decoding_message_size(GRPC_MESSAGE_BYTES_MAX)
                .max_encoding_message_size(GRPC_MESSAGE_BYTES_MAX);
            Ok::<_, NodeError>(
                c.submit_file(tokio_stream::wrappers::ReceiverStream::new(rx))
                    .await?
                    .into_inner(),
            )
        }
        .await;
        let _ = feeder.await;
        match result {
            Ok(r) => return Ok(r),
            Err(NodeError::Remote(s))
                if attempt < ATTEMPTS
                    && matches!(s.code(), tonic::Code::Unavailable | tonic::Code::Unknown) =>
            {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            Err(NodeError::Transport(_)) if attempt < ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A one-line summary of a file's outcome.
pub fn summary(path: &Path, r: &pb::SubmitFileResponse) -> String {
    let (mut accepted, mut rejected, mut flagged, mut replayed, mut fatal) =
        (0u64, 0usize, 0usize, 0usize, 0usize);
    for b in &r.batches {
        match pb::batch_result::Status::try_from(b.status) {
            Ok(pb::batch_result::Status::Rejected) => fatal += 1,
            Ok(pb::batch_result::Status::Replayed) => replayed += 1,
            _ => {}
        }
        accepted += u64::from(b.accepted);
        rejected += b.rejected.len();
        flagged += b.flagged.len();
    }
    // Which rules rejected records (after the count) and the first rejection in full (at
    // the end), so the sender sees what went wrong without fetching the RAP file
    // (`--rap-dir`) or the disputes.
    let mut by_code: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for x in r.batches.iter().flat_map(|b| &b.rejected) {
        *by_code.entry(x.code.as_str()).or_default() += 1;
    }
    let codes = if by_code.is_empty() {
        String::new()
    } else {
        let codes: Vec<String> = by_code.iter().map(|(c, n)| format!("{c}: {n}")).collect();
        format!(" ({})", codes.join(", "))
    };
    let mut s = format!(
        "{}: {} records, {} batches, {accepted} accepted, {rejected} rejected{codes}, {flagged} flagged",
        path.display(),
        r.records,
        r.batches.len()
    );
    if replayed > 0 {
        s.push_str(&format!(", {replayed} batches already applied (nothing changed)"));
    }
    if fatal > 0 {
        let why: Vec<String> = r
            .batches
            .iter()
            .filter_map(|b| b.fatal.as_ref().map(|f| format!("{}: {}", f.code, f.message)))
            .collect();
        s.push_str(&format!(", {fatal} batches rejected whole ({})", why.join("; ")));
    }
    if let Some((b, first)) = r
        .batches
        .iter()
        .enumerate()
        .find_map(|(i, b)| b.rejected.first().map(|x| (i, x)))
    {
        // The machine's messages may name the record themselves.
        let prefix = format!("record {}: ", first.index);
        let message = first.message.strip_prefix(&prefix).unwrap_or(&first.message);
        s.push_str(&format!(
            "; first rejection: batch {b}, record {} ({}): {message}",
            first.index, first.code
        ));
    }
    s
}

/// `roamledger submit`.
pub async fn submit(
    conn: &Conn,
    paths: &[PathBuf],
    format: Option<Format>,
    rap_dir: Option<&Path>,
    quiet: bool,
) -> Result<i32, NodeError> {
    let files = expand(paths)?;
    // Progress bars draw on a terminal only; without one, the summaries go to stdout.
    let quiet = quiet || !std::io::stderr().is_terminal();
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let multi = MultiProgress::new();
    let overall = (!quiet).then(|| {
        let b = multi.add(ProgressBar::new(total));
        b.set_style(
            ProgressStyle::with_template(
                "{msg:>12} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b.set_message("uploading");
        b
    });
    let mut failures = 0;
    for f in &files {
        let fmt = detect(f, format)?;
        let bar = overall.as_ref().map(|o| {
            let b = multi.insert_before(
                o,
                ProgressBar::new(std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)),
            );
            b.set_style(
                ProgressStyle::with_template("{msg:>12} [{bar:40}] {bytes}/{total_bytes}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            b.set_message(
                f.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
            );
            b
        });
        match upload(conn, f, fmt, bar.as_ref()).await {
            Ok(r) => {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                if let Some(o) = &overall {
                    o.inc(std::fs::metadata(f).map(|m| m.len()).unwrap_or(0));
                }
                let line = summary(f, &r);
                match &overall {
                    Some(o) => o.println(&line),
                    None => out(&line),
                }
                if let (Some(dir), false) = (rap_dir, r.rap_file.is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| NodeError::io(dir, e))?;
                    let p = dir.join(&r.rap_file_name);
                    std::fs::write(&p, &r.rap_file).map_err(|e| NodeError::io(&p, e))?;
                }
                if r.batches
                    .iter()
                    .any(|b| b.status == pb::batch_result::Status::Rejected as i32)
                {
                    failures += 1;
                }
            }
            Err(e) => {
                failures += 1;
                let msg = match &e {
                    NodeError::Remote(s) => explain(s),
                    e => e.to_string(),
                };
                let line = format!("{}: FAILED: {msg}", f.display());
                match &overall {
                    Some(o) => o.println(&line),
                    None => out(&line),
                }
            }
        }
    }
    if let Some(o) = &overall {
        o.finish_and_clear();
    }
    Ok(if failures == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(accepted: u32, rejected: &[(u32, &str, &str)]) -> pb::BatchResult {
        pb::BatchResult {
            status: pb::batch_result::Status::Accepted as i32,
            accepted,
            rejected: rejected
                .iter()
                .map(|&(index, code, message)| pb::RecordRejection {
                    index,
                    wire: 0,
                    code: code.to_owned(),
                    message: message.to_owned(),
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_summary_counts_rejections_by_code_and_shows_the_first() {
        let r = pb::SubmitFileResponse {
            records: 6,
            batches: vec![
                batch(3, &[]),
                batch(
                    0,
                    &[
                        (
                            1,
                            "EVENT_TOO_OLD",
                            "record 1: event 2026-01-01 is older than 30 days",
                        ),
                        (2, "EVENT_TOO_OLD", "x"),
                    ],
                ),
                batch(0, &[(0, "NO_AGREEMENT", "y")]),
            ],
            ..Default::default()
        };
        assert_eq!(
            summary(Path::new("f.tap"), &r),
            "f.tap: 6 records, 3 batches, 3 accepted, 3 rejected (EVENT_TOO_OLD: 2, \
             NO_AGREEMENT: 1), 0 flagged; first rejection: batch 1, record 1 (EVENT_TOO_OLD): \
             event 2026-01-01 is older than 30 days"
        );
        let clean = pb::SubmitFileResponse {
            records: 3,
            batches: vec![batch(3, &[])],
            ..Default::default()
        };
        assert_eq!(
            summary(Path::new("f.tap"), &clean),
            "f.tap: 3 records, 1 batches, 3 accepted, 0 rejected, 0 flagged"
        );
    }
}
