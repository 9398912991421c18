//! The `Statements` service: statements, proofs, exports, netting, and the watch stream.

use std::time::Duration;

use proto::api as pb;
use proto::api::statements_server::Statements;
use settlement::config::PeriodId;
use settlement::crypto::Role;
use settlement::types::Tadig;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::convert::{pair_in_period, period, proof, record_id, statement, statement_csv, statement_json};
use super::{Api, st};
use crate::error::NodeError;
use crate::identity::Caller;
use crate::ledger::LedgerEvent;
use crate::limits::WATCH_POLL_MS;

impl Api {
    /// Statement of (period, visited, home) if the caller may read it.
    async fn statement_for(
        &self,
        caller: &Caller,
        p: PeriodId,
        visited: Tadig,
        home: Tadig,
    ) -> Result<settlement::machine::StatementEntry, NodeError> {
        caller.may_read_pair(visited, home)?;
        self.ledger
            .read(move |m| m.settlement().statement(p, visited, home))
            .await??
            .ok_or_else(|| NodeError::NotFound(format!("no statement {visited}->{home} for period {p}")))
    }
}

type WatchSender = tokio::sync::mpsc::Sender<Result<pb::StatementEvent, Status>>;

/// Sends every statement `caller` may read, in its current state (CREATED or FINAL). Retries
/// the read while the ledger cannot answer (no leader); false when the watcher went away.
async fn send_current(api: &Api, caller: &Caller, tx: &WatchSender) -> bool {
    let existing = loop {
        if tx.is_closed() {
            return false;
        }
        let read = api
            .ledger
            .read(|m| {
                let s = m.settlement();
                let mut out = Vec::new();
                for p in s.periods().keys() {
                    out.extend(s.statements(*p)?.into_iter().map(|e| (*p, e)));
                }
                Ok::<_, settlement::error::ApplyError>(out)
            })
            .await;
        match read {
            Ok(Ok(list)) => break list,
            Ok(Err(e)) => {
                let _ = tx
                    .send(Err(Status::internal(format!("reading statements: {e}"))))
                    .await;
                return false;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(WATCH_POLL_MS)).await,
        }
    };
    for (p, e) in existing {
        let s = e.statement();
        if !caller.can_read_pair(s.visited, s.home) {
            continue;
        }
        let kind = match e.is_final() {
            true => pb::statement_event::Kind::Final,
            false => pb::statement_event::Kind::Created,
        };
        let ev = pb::StatementEvent {
            kind: kind as i32,
            statement: Some(statement(p, &e, true)),
        };
        if tx.send(Ok(ev)).await.is_err() {
            return false;
        }
    }
    true
}

#[tonic::async_trait]
impl Statements for Api {
    async fn list_statements(
        &self,
        req: Request<pb::ListStatementsRequest>,
    ) -> Result<Response<pb::ListStatementsResponse>, Status> {
        let caller = self.caller(&req)?;
        st(caller.require(
            &[Role::Reader, Role::Submitter, Role::Admin],
            "listing statements",
        ))?;
        let filter = match req.get_ref().period_start.as_str() {
            "" => None,
            s => Some(st(period("period_start", s))?),
        };
        let all = st(self
            .ledger
            .read(move |m| {
                let s = m.settlement();
                let mut out = Vec::new();
                for p in s.periods().keys().filter(|p| filter.is_none_or(|f| f == **p)) {
                    for e in s.statements(*p)? {
                        out.push((*p, e));
                    }
                }
                Ok::<_, settlement::error::ApplyError>(out)
            })
            .await)?;
        let all = st(all.map_err(NodeError::from))?;
        let statements = all
            .iter()
            .filter(|(_, e)| {
                let s = e.statement();
                caller.can_read_pair(s.visited, s.home)
            })
            .map(|(p, e)| statement(*p, e, false))
            .collect();
        Ok(Response::new(pb::ListStatementsResponse { statements }))
    }

    async fn get_statement(
        &self,
        req: Request<pb::GetStatementRequest>,
    ) -> Result<Response<pb::Statement>, Status> {
        let caller = self.caller(&req)?;
        let r = req.get_ref();
        let (p, v, h) = st(pair_in_period(&r.period_start, &r.visited, &r.home))?;
        let e = st(self.statement_for(&caller, p, v, h).await)?;
        Ok(Response::new(statement(p, &e, true)))
    }

    type WatchStatementsStream = ReceiverStream<Result<pb::StatementEvent, Status>>;

    async fn watch_statements(
        &self,
        req: Request<pb::WatchStatementsRequest>,
    ) -> Result<Response<Self::WatchStatementsStream>, Status> {
        let caller = self.caller(&req)?;
        st(caller.require(
            &[Role::Reader, Role::Submitter, Role::Admin],
            "watching statements",
        ))?;
        let permit = self
            .watchers
            .clone()
            .try_acquire_owned()
            .map_err(|_| Status::resource_exhausted("too many statement watchers on this node"))?;
        let include_existing = req.get_ref().include_existing;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let api = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let send = |ev: pb::StatementEvent| {
                let tx = tx.clone();
                async move { tx.send(Ok(ev)).await.is_ok() }
            };
            // Where the event log is now; existing statements are read from the state.
            let mut cursor = match api.ledger.read(|m| m.events_from(u64::MAX).1).await {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(Err(crate::error::to_status(e))).await;
                    return;
                }
            };
            if include_existing && !send_current(&api, &caller, &tx).await {
                return;
            }
            loop {
                if tx.is_closed() {
                    return;
                }
                let from = cursor;
                let polled = api.ledger.read(move |m| m.events_from(from)).await;
                let (events, next, lagged) = match polled {
                    Ok(x) => x,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(WATCH_POLL_MS)).await;
                        continue;
                    }
                };
                if lagged {
                    // Events this watcher had not read left the ring: send every statement's
                    // current state instead, so none is missed (some may come twice).
                    tracing::info!("statement watcher fell behind the event log; resending current states");
                    if !send_current(&api, &caller, &tx).await {
                        return;
                    }
                }
                cursor = next;
                for (_, ev) in events {
                    let (p, v, h, kind) = match ev {
                        LedgerEvent::StatementCreated {
                            period,
                            visited,
                            home,
                        } => (period, visited, home, pb::statement_event::Kind::Created),
                        LedgerEvent::StatementSigned {
                            period,
                            visited,
                            home,
                            is_final,
                            ..
                        } => (
                            period,
                            visited,
                            home,
                            if is_final {
                                pb::statement_event::Kind::Final
                            } else {
                                pb::statement_event::Kind::Signed
                            },
                        ),
                    };
                    if !caller.can_read_pair(v, h) {
                        continue;
                    }
                    let Ok(Ok(Some(e))) = api.ledger.read(move |m| m.settlement().statement(p, v, h)).await
                    else {
                        continue;
                    };
                    if !send(pb::StatementEvent {
                        kind: kind as i32,
                        statement: Some(statement(p, &e, true)),
                    })
                    .await
                    {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(WATCH_POLL_MS)).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_record_proof(
        &self,
        req: Request<pb::GetRecordProofRequest>,
    ) -> Result<Response<pb::RecordProof>, Status> {
        let caller = self.caller(&req)?;
        st(caller.require(&[Role::Reader, Role::Submitter, Role::Admin], "reading proofs"))?;
        let id = st(record_id("record_id", &req.get_ref().record_id))?;
        let p = st(self.ledger.read(move |m| m.settlement().record_proof(id)).await)?;
        let p = p.map_err(|e| match e {
            settlement::machine::QueryError::NotFound(m) => crate::error::to_status(NodeError::NotFound(m)),
            settlement::machine::QueryError::Apply(e) => crate::error::to_status(NodeError::Apply(e)),
        })?;
        // Only parties may see the record (it carries the subscriber's identity).
        st(caller.may_read_pair(p.record.visited, p.record.home))?;
        Ok(Response::new(proof(&p)))
    }

    async fn export_statement(
        &self,
        req: Request<pb::ExportStatementRequest>,
    ) -> Result<Response<pb::ExportStatementResponse>, Status> {
        let caller = self.caller(&req)?;
        let r = req.get_ref();
        let (p, v, h) = st(pair_in_period(&r.period_start, &r.visited, &r.home))?;
        let e = st(self.statement_for(&caller, p, v, h).await)?;
        let (content, content_type) = match pb::export_statement_request::Format::try_from(r.format) {
            Ok(pb::export_statement_request::Format::Csv) => (statement_csv(&e).into_bytes(), "text/csv"),
            _ => (statement_json(&e), "application/json"),
        };
        Ok(Response::new(pb::ExportStatementResponse {
            content,
            content_type: content_type.into(),
        }))
    }

    async fn get_netting(
        &self,
        req: Request<pb::GetNettingRequest>,
    ) -> Result<Response<pb::Netting>, Status> {
        let caller = self.caller(&req)?;
        st(caller.require(
            &[Role::Reader, Role::Submitter, Role::Admin],
            "reading the netting",
        ))?;
        let p = st(period("period_start", &req.get_ref().period_start))?;
        let bytes = st(self.ledger.read(move |m| m.settlement().netting(p)).await)?;
        let bytes = st(bytes.map_err(NodeError::from))?.ok_or_else(|| {
            crate::error::to_status(NodeError::NotFound(format!("period {p} is not closed")))
        })?;
        Ok(Response::new(pb::Netting {
            period_start: p.to_string(),
            hash: settlement::crypto::sha256(&[&bytes]).to_hex(),
            canonical_json: bytes,
        }))
    }
}
