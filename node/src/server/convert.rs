//! Conversions between settlement types and the API's protobuf messages.

use proto::api as pb;
use settlement::batch::{BatchId, BatchKey};
use settlement::command::{BatchOutcome, RecordId};
use settlement::config::PeriodId;
use settlement::error::Rejection;
use settlement::machine::{RecordProof, StatementEntry};
use settlement::types::{
    Amount, FileSequenceNumber, Scale, ServiceKind, SourceRef, Tadig, UsageRecord, UtcTime,
};

use crate::error::NodeError;

fn bad(field: &str, e: impl std::fmt::Display) -> NodeError {
    NodeError::Input(format!("{field}: {e}"))
}

/// A TADIG from a request field.
pub fn tadig(field: &str, s: &str) -> Result<Tadig, NodeError> {
    s.parse().map_err(|e| bad(field, e))
}

/// A period id from its RFC 3339 start.
pub fn period(field: &str, s: &str) -> Result<PeriodId, NodeError> {
    s.parse::<UtcTime>().map(PeriodId).map_err(|e| bad(field, e))
}

/// The `(period_start, visited, home)` fields naming one ordered pair's statement.
pub fn pair_in_period(
    period_start: &str,
    visited: &str,
    home: &str,
) -> Result<(PeriodId, Tadig, Tadig), NodeError> {
    Ok((
        period("period_start", period_start)?,
        tadig("visited", visited)?,
        tadig("home", home)?,
    ))
}

/// A record id `batch:index`.
pub fn record_id(field: &str, s: &str) -> Result<RecordId, NodeError> {
    s.parse().map_err(|e| bad(field, e))
}

/// A batch key to the wire.
pub fn batch_key(k: &BatchKey) -> pb::BatchKey {
    let id = match &k.id {
        BatchId::FileSequence(f) => Some(pb::batch_key::Id::FileSequenceNumber(f.get())),
        BatchId::Client(c) => Some(pb::batch_key::Id::ClientBatchId(c.clone())),
        BatchId::FilePart { file, part, parts } => Some(pb::batch_key::Id::FilePart(pb::FilePart {
            file_sequence_number: file.get(),
            part: *part,
            parts: *parts,
        })),
    };
    pb::BatchKey {
        sender: k.sender.to_string(),
        recipient: k.recipient.to_string(),
        id,
    }
}

/// A rejection as an error detail.
pub fn rejection(r: &Rejection) -> pb::ErrorDetail {
    pb::ErrorDetail {
        code: format!("SETTLEMENT:{}", r.code.name()),
        wire: u32::from(r.code.wire()),
        message: r.message.clone(),
        leader_id: 0,
        leader_address: String::new(),
    }
}

/// An applied batch's outcome.
pub fn batch_result(o: &BatchOutcome) -> pb::BatchResult {
    pb::BatchResult {
        key: Some(batch_key(&o.key)),
        digest: o.digest.to_hex(),
        status: if o.replayed {
            pb::batch_result::Status::Replayed
        } else {
            pb::batch_result::Status::Accepted
        } as i32,
        batch: o.batch,
        period_start: o.period.to_string(),
        accepted: o.accepted,
        rejected: o
            .rejected
            .iter()
            .map(|r| pb::RecordRejection {
                index: r.index,
                wire: u32::from(r.code.wire()),
                code: r.code.name().to_string(),
                message: r.message.clone(),
            })
            .collect(),
        flagged: o
            .flagged
            .iter()
            .map(|f| pb::FlaggedRecord {
                index: f.index,
                declared: f.declared.to_string(),
                expected: f.expected.to_string(),
            })
            .collect(),
        fatal: None,
    }
}

/// A batch rejected whole.
pub fn batch_rejected(key: &BatchKey, digest: &settlement::crypto::Hash, r: &Rejection) -> pb::BatchResult {
    pb::BatchResult {
        key: Some(batch_key(key)),
        digest: digest.to_hex(),
        status: pb::batch_result::Status::Rejected as i32,
        fatal: Some(rejection(r)),
        ..Default::default()
    }
}

/// A record to the wire.
pub fn record_to_pb(r: &UsageRecord) -> pb::UsageRecord {
    pb::UsageRecord {
        visited: r.visited.to_string(),
        home: r.home.to_string(),
        imsi: r.imsi.to_string(),
        msisdn: r.msisdn.map(|m| m.to_string()).unwrap_or_default(),
        service: r.service.name().to_string(),
        start: r.start.to_string(),
        duration_s: r.duration_s,
        volume_up_bytes: r.volume_up_bytes,
        volume_down_bytes: r.volume_down_bytes,
        charged_units: r.charged_units,
        charge: r.charge.to_string(),
        tax: r.tax.to_string(),
        other_party: r.other_party.map(|p| p.to_string()).unwrap_or_default(),
        charging_id: r.charging_id.unwrap_or(0),
        record_index: r.source.record_index,
    }
}

/// A record from the wire; amounts must have exactly `scale` decimal places at most.
pub fn record_from_pb(p: &pb::UsageRecord, scale: Scale, index: usize) -> Result<UsageRecord, NodeError> {
    let at = |field: &str| format!("record {index} field {field}");
    fn opt(s: &str) -> Option<&str> {
        if s.is_empty() { None } else { Some(s) }
    }
    Ok(UsageRecord {
        visited: tadig(&at("visited"), &p.visited)?,
        home: tadig(&at("home"), &p.home)?,
        imsi: p.imsi.parse().map_err(|e| bad(&at("imsi"), e))?,
        msisdn: opt(&p.msisdn)
            .map(str::parse)
            .transpose()
            .map_err(|e| bad(&at("msisdn"), e))?,
        service: p
            .service
            .parse::<ServiceKind>()
            .map_err(|e| bad(&at("service"), e))?,
        start: p.start.parse().map_err(|e| bad(&at("start"), e))?,
        duration_s: p.duration_s,
        volume_up_bytes: p.volume_up_bytes,
        volume_down_bytes: p.volume_down_bytes,
        charged_units: p.charged_units,
        charge: Amount::parse_at(&p.charge, scale).map_err(|e| bad(&at("charge"), e))?,
        tax: Amount::parse_at(if p.tax.is_empty() { "0" } else { &p.tax }, scale)
            .map_err(|e| bad(&at("tax"), e))?,
        other_party: opt(&p.other_party)
            .map(str::parse)
            .transpose()
            .map_err(|e| bad(&at("other_party"), e))?,
        charging_id: (p.charging_id != 0).then_some(p.charging_id),
        source: SourceRef {
            file_sequence_number: None::<FileSequenceNumber>,
            record_index: p.record_index,
        },
    })
}

/// A stored statement to the wire (`with_bytes` false leaves the canonical JSON out).
pub fn statement(period: PeriodId, e: &StatementEntry, with_bytes: bool) -> pb::Statement {
    let s = e.statement();
    pb::Statement {
        period_start: period.to_string(),
        visited: s.visited.to_string(),
        home: s.home.to_string(),
        canonical_json: if with_bytes { e.bytes.clone() } else { Vec::new() },
        hash: e.hash.to_hex(),
        signatures: e
            .signatures
            .iter()
            .map(|(party, sig)| pb::PartySignature {
                party: party.to_string(),
                signature: sig.clone(),
            })
            .collect(),
        r#final: e.is_final(),
        amount_due: s.amount_due.to_string(),
    }
}

/// A record proof to the wire.
pub fn proof(p: &RecordProof) -> pb::RecordProof {
    pb::RecordProof {
        record_id: p.id.to_string(),
        record: Some(record_to_pb(&p.record)),
        leaf_data: p.leaf_data.clone(),
        leaf_index: p.proof.leaf_index,
        tree_size: p.proof.tree_size,
        path: p.proof.path.iter().map(|h| h.0.to_vec()).collect(),
        root: p.root.0.to_vec(),
        statement_hash: p.statement.map(|h| h.to_hex()).unwrap_or_default(),
        period_start: p.period.to_string(),
    }
}

/// The CSV export of a statement: one line per service, then the totals.
pub fn statement_csv(e: &StatementEntry) -> String {
    let s = e.statement();
    let mut out = String::from(
        "period_start,period_end,visited,home,currency,line,count,charged_units,charge,tax,expected_charge,flagged_count,flagged_charge\n",
    );
    let head = format!(
        "{},{},{},{},{}",
        s.period_start, s.period_end, s.visited, s.home, s.currency
    );
    for l in &s.services {
        out.push_str(&format!(
            "{head},{},{},{},{},{},{},{},{}\n",
            l.service,
            l.totals.count,
            l.charged_units,
            l.totals.charge,
            l.totals.tax,
            l.expected_charge,
            l.flagged_count,
            l.flagged_charge
        ));
    }
    for (name, t) in [
        ("accepted", &s.accepted),
        ("rejected", &s.rejected),
        ("disputed", &s.disputed),
        ("adjustments", &s.adjustments),
    ] {
        out.push_str(&format!("{head},{name},{},,{},{},,,\n", t.count, t.charge, t.tax));
    }
    out.push_str(&format!("{head},amount_due,,,{},,,,\n", s.amount_due));
    out
}

/// The JSON export: the canonical statement, its hash and the signatures (hex).
pub fn statement_json(e: &StatementEntry) -> Vec<u8> {
    let statement: serde_json::Value =
        serde_json::from_slice(&e.bytes).expect("stored statements are canonical JSON");
    let doc = serde_json::json!({
        "statement": statement,
        "hash": e.hash.to_hex(),
        "signatures": e.signatures.iter().map(|(party, sig)| serde_json::json!({
            "party": party.to_string(),
            "signature": hex::encode(sig),
        })).collect::<Vec<_>>(),
        "final": e.is_final(),
    });
    serde_json::to_vec_pretty(&doc).expect("JSON values serialize")
}
