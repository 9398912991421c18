//! Operations: disputes, agreements, periods and the cluster.

use std::time::Instant;

use proto::api as pb;
use proto::api::agreements_server::Agreements;
use proto::api::cluster_server::Cluster;
use proto::api::disputes_server::Disputes;
use proto::api::periods_server::Periods;
use settlement::agreement::Agreement;
use settlement::command::{
    AcceptAgreement, ClosePeriod, Command, DisputeItem, DisputePayload, DisputeReason, DisputeRecords,
    Outcome, ProposeAgreement, SignedRegistration,
};
use settlement::crypto::{Domain, Hash, Role};
use settlement::machine::PeriodStatus;
use tonic::{Request, Response, Status};

use super::convert::{pair_in_period, period, record_id, statement};
use super::{Api, st};
use crate::error::{NodeError, to_status};
use crate::metrics;

/// The outcome, or the rejection as an error.
fn accepted(o: Outcome) -> Result<Outcome, NodeError> {
    match o {
        Outcome::Rejected(r) => Err(NodeError::Rejected(r)),
        o => Ok(o),
    }
}

fn reason(s: &str) -> Result<DisputeReason, NodeError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
        NodeError::Input(format!(
            "dispute reason {s:?}: expected subscriber_unknown, rating_discrepancy, duplicate_event, invalid_timestamp, service_not_provided or other"
        ))
    })
}

fn reason_name(r: DisputeReason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl Api {
    /// Proposes `command` and times it for the metrics.
    async fn run(&self, name: &'static str, command: Command) -> Result<Outcome, NodeError> {
        let started = Instant::now();
        let o = self.ledger.propose(command).await;
        metrics::record_commit(name, started.elapsed());
        accepted(o?)
    }

    fn agreement_pb(&self, e: &settlement::machine::AgreementEntry) -> pb::Agreement {
        pb::Agreement {
            id: e.agreement.id().to_hex(),
            agreement_json: e.agreement.canonical_bytes(),
            proposer: e.proposer.to_string(),
            accepted: e.accepted_at_index.is_some(),
        }
    }
}

#[tonic::async_trait]
impl Disputes for Api {
    async fn reject_records(
        &self,
        req: Request<pb::RejectRecordsRequest>,
    ) -> Result<Response<pb::RejectRecordsResponse>, Status> {
        let caller = self.caller(&req)?;
        let me = self.ledger.tadig();
        st(caller.may_operate(me, "disputing records"))?;
        let items = st(req
            .get_ref()
            .items
            .iter()
            .map(|i| {
                Ok(DisputeItem {
                    record: record_id("record_id", &i.record_id)?,
                    reason: reason(&i.reason)?,
                    text: i.text.clone(),
                })
            })
            .collect::<Result<Vec<_>, NodeError>>())?;
        let payload = DisputePayload { home: me, items };
        let signature = self
            .ledger
            .signer()
            .sign(Domain::Dispute, &payload.canonical_bytes());
        let o = st(self
            .run(
                "dispute",
                Command::DisputeRecords(DisputeRecords { payload, signature }),
            )
            .await)?;
        let Outcome::RecordsDisputed {
            in_period,
            adjustments,
        } = o
        else {
            return Err(Status::internal(format!("unexpected outcome {o:?}")));
        };
        Ok(Response::new(pb::RejectRecordsResponse {
            in_period,
            adjustments,
        }))
    }

    async fn list_disputes(
        &self,
        req: Request<pb::ListDisputesRequest>,
    ) -> Result<Response<pb::ListDisputesResponse>, Status> {
        let caller = self.caller(&req)?;
        let r = req.get_ref();
        let (p, v, h) = st(pair_in_period(&r.period_start, &r.visited, &r.home))?;
        st(caller.may_read_pair(v, h))?;
        let list = st(self.ledger.read(move |m| m.settlement().disputes(p, v, h)).await)?;
        let list = st(list.map_err(NodeError::from))?;
        Ok(Response::new(pb::ListDisputesResponse {
            disputes: list
                .into_iter()
                .map(|d| pb::Dispute {
                    record_id: d.record.to_string(),
                    reason: reason_name(d.reason),
                    text: d.text,
                    raised_at: d.raised_at.to_string(),
                    counted_in: d.counted_in.to_string(),
                    adjustment: d.adjustment,
                })
                .collect(),
        }))
    }
}

#[tonic::async_trait]
impl Agreements for Api {
    async fn propose_agreement(
        &self,
        req: Request<pb::ProposeAgreementRequest>,
    ) -> Result<Response<pb::AgreementRef>, Status> {
        let caller = self.caller(&req)?;
        let me = self.ledger.tadig();
        st(caller.may_operate(me, "proposing an agreement"))?;
        let agreement: Agreement = st(serde_json::from_slice(&req.get_ref().agreement_json)
            .map_err(|e| NodeError::Input(format!("agreement JSON: {e}"))))?;
        let signature = self
            .ledger
            .signer()
            .sign(Domain::Agreement, &agreement.canonical_bytes());
        let o = st(self
            .run(
                "agreement",
                Command::ProposeAgreement(ProposeAgreement {
                    agreement,
                    proposer: me,
                    signature,
                }),
            )
            .await)?;
        let Outcome::AgreementProposed { id } = o else {
            return Err(Status::internal(format!("unexpected outcome {o:?}")));
        };
        Ok(Response::new(pb::AgreementRef { id: id.to_hex() }))
    }

    async fn accept_agreement(
        &self,
        req: Request<pb::AgreementRef>,
    ) -> Result<Response<pb::Agreement>, Status> {
        let caller = self.caller(&req)?;
        let me = self.ledger.tadig();
        st(caller.may_operate(me, "accepting an agreement"))?;
        let id = Hash::from_hex(&req.get_ref().id)
            .ok_or_else(|| Status::invalid_argument("agreement id: expected 64 hex digits"))?;
        let entry = st(self.ledger.read(move |m| m.settlement().agreement(&id)).await)?;
        let entry = st(entry.map_err(NodeError::from))?
            .ok_or_else(|| crate::error::to_status(NodeError::NotFound(format!("no agreement {id}"))))?;
        let signature = self
            .ledger
            .signer()
            .sign(Domain::Agreement, &entry.agreement.canonical_bytes());
        st(self
            .run(
                "agreement",
                Command::AcceptAgreement(AcceptAgreement {
                    id,
                    acceptor: me,
                    signature,
                }),
            )
            .await)?;
        let entry = st(self.ledger.read(move |m| m.settlement().agreement(&id)).await)?;
        let entry = st(entry.map_err(NodeError::from))?
            .ok_or_else(|| Status::internal("accepted agreement vanished"))?;
        Ok(Response::new(self.agreement_pb(&entry)))
    }

    async fn get_agreement(
        &self,
        req: Request<pb::GetAgreementRequest>,
    ) -> Result<Response<pb::Agreement>, Status> {
        let caller = self.caller(&req)?;
        let id = Hash::from_hex(&req.get_ref().id)
            .ok_or_else(|| Status::invalid_argument("agreement id: expected 64 hex digits"))?;
        let entry = st(self.ledger.read(move |m| m.settlement().agreement(&id)).await)?;
        let entry = st(entry.map_err(NodeError::from))?
            .ok_or_else(|| crate::error::to_status(NodeError::NotFound(format!("no agreement {id}"))))?;
        st(caller.may_read_pair(entry.agreement.visited, entry.agreement.home))?;
        Ok(Response::new(self.agreement_pb(&entry)))
    }

    async fn list_agreements(
        &self,
        req: Request<pb::ListAgreementsRequest>,
    ) -> Result<Response<pb::ListAgreementsResponse>, Status> {
        let caller = self.caller(&req)?;
        let all = st(self.ledger.read(|m| m.settlement().agreements()).await)?;
        let all = st(all.map_err(NodeError::from))?;
        Ok(Response::new(pb::ListAgreementsResponse {
            agreements: all
                .iter()
                .filter(|e| caller.can_read_pair(e.agreement.visited, e.agreement.home))
                .map(|e| self.agreement_pb(e))
                .collect(),
        }))
    }
}

#[tonic::async_trait]
impl Periods for Api {
    async fn close_period(
        &self,
        req: Request<pb::ClosePeriodRequest>,
    ) -> Result<Response<pb::ClosePeriodResponse>, Status> {
        let caller = self.caller(&req)?;
        st(caller.may_operate(self.ledger.tadig(), "closing a period"))?;
        let p = st(period("period_start", &req.get_ref().period_start))?;
        let o = st(self
            .run("close_period", Command::ClosePeriod(ClosePeriod { period: p }))
            .await)?;
        let Outcome::PeriodClosed {
            statements, netting, ..
        } = o
        else {
            return Err(Status::internal(format!("unexpected outcome {o:?}")));
        };
        let mut out = Vec::new();
        for s in statements {
            if !caller.can_read_pair(s.visited, s.home) {
                continue;
            }
            let (v, h) = (s.visited, s.home);
            let e = st(self.ledger.read(move |m| m.settlement().statement(p, v, h)).await)?;
            if let Some(e) = st(e.map_err(NodeError::from))? {
                out.push(statement(p, &e, false));
            }
        }
        Ok(Response::new(pb::ClosePeriodResponse {
            statements: out,
            netting_hash: netting.to_hex(),
        }))
    }

    async fn status(
        &self,
        req: Request<pb::PeriodStatusRequest>,
    ) -> Result<Response<pb::PeriodStatusResponse>, Status> {
        let caller = self.caller(&req)?;
        st(caller.require(&[Role::Reader, Role::Submitter, Role::Admin], "reading periods"))?;
        let r = st(self
            .ledger
            .read(|m| {
                let s = m.settlement();
                let periods = s
                    .periods()
                    .values()
                    .map(|p| {
                        let statements = s.statements(p.id).unwrap_or_default();
                        pb::Period {
                            start: p.id.to_string(),
                            end: p.end.to_string(),
                            status: match p.status {
                                PeriodStatus::Open => "open",
                                PeriodStatus::Closed => "closed",
                            }
                            .into(),
                            statements: statements.len() as u32,
                            final_statements: statements.iter().filter(|e| e.is_final()).count() as u32,
                        }
                    })
                    .collect();
                (periods, s.ledger_time().to_string())
            })
            .await)?;
        Ok(Response::new(pb::PeriodStatusResponse {
            periods: r.0,
            ledger_time: r.1,
        }))
    }
}

impl Api {
    /// Waits (up to 2 s) until this node's status shows a membership change it applied.
    async fn settled(&self, done: impl Fn(&consensus::Status) -> bool) {
        for _ in 0..100 {
            if done(&self.ledger.status()) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    async fn cluster_status(&self) -> Result<pb::ClusterStatus, NodeError> {
        let status = self.ledger.status();
        let (head, registered) = self
            .ledger
            .read(|m| {
                let s = m.settlement();
                let by_id: std::collections::BTreeMap<u64, settlement::types::Tadig> = s
                    .carriers()
                    .values()
                    .map(|c| (c.registration.node_id, c.registration.tadig))
                    .collect();
                (s.head(), by_id)
            })
            .await?;
        let links = self.ledger.handle().links();
        let cfg = self.ledger.config();
        let mut members = Vec::new();
        for id in status
            .voters
            .iter()
            .chain(status.voters_outgoing.iter())
            .chain(status.learners.iter())
            .copied()
            .collect::<std::collections::BTreeSet<u64>>()
        {
            let peer = cfg.peer(id);
            members.push(pb::Member {
                node_id: id,
                tadig: registered
                    .get(&id)
                    .or(peer.map(|p| &p.tadig))
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                raft_address: status.peers.get(&id).cloned().unwrap_or_default(),
                api_address: peer.map(|p| p.api_address.clone()).unwrap_or_default(),
                role: if status.learners.contains(&id) {
                    "learner"
                } else {
                    "voter"
                }
                .into(),
                reachable: id == status.id || links.get(&id).is_some_and(|l| l.reachable),
                matched_index: match id == status.id {
                    true => status.commit_index,
                    false => status.progress.get(&id).map_or(0, |p| p.matched),
                },
            });
        }
        Ok(pb::ClusterStatus {
            node_id: status.id,
            tadig: cfg.tadig.to_string(),
            term: status.term,
            leader_id: status.leader_id.unwrap_or(0),
            commit_index: status.commit_index,
            applied_index: status.applied_index,
            ledger_head: head.to_hex(),
            members,
        })
    }
}

#[tonic::async_trait]
impl Cluster for Api {
    async fn status(
        &self,
        req: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        let caller = self.caller(&req)?;
        st(caller.require(
            &[Role::Admin, Role::Reader, Role::Submitter],
            "reading the cluster status",
        ))?;
        Ok(Response::new(st(self.cluster_status().await)?))
    }

    async fn add_node(
        &self,
        req: Request<pb::AddNodeRequest>,
    ) -> Result<Response<pb::ClusterChangeResponse>, Status> {
        let caller = self.caller(&req)?;
        st(caller.may_operate(self.ledger.tadig(), "adding a node"))?;
        let r = req.into_inner();
        if !r.registration.is_empty() {
            let sr: SignedRegistration = st(serde_json::from_slice(&r.registration)
                .map_err(|e| NodeError::Input(format!("registration: not a signed registration: {e}"))))?;
            if sr.registration.node_id != r.node_id {
                return Err(to_status(NodeError::Input(format!(
                    "registration: it names node {}, the request node {}",
                    sr.registration.node_id, r.node_id
                ))));
            }
            // The registry first: the members' Raft transports accept the node once its
            // carrier is registered with this node id.
            st(self.run("register_carrier", Command::RegisterCarrier(sr)).await)?;
        }
        st(crate::run::add_node(&self.ledger, r.node_id, r.raft_address).await)?;
        self.settled(|s| s.voters.contains(&r.node_id)).await;
        Ok(Response::new(pb::ClusterChangeResponse {
            status: Some(st(self.cluster_status().await)?),
        }))
    }

    async fn remove_node(
        &self,
        req: Request<pb::RemoveNodeRequest>,
    ) -> Result<Response<pb::ClusterChangeResponse>, Status> {
        let caller = self.caller(&req)?;
        st(caller.may_operate(self.ledger.tadig(), "removing a node"))?;
        let id = req.get_ref().node_id;
        st(self
            .ledger
            .handle()
            .change_membership(vec![consensus::MemberChange::Remove { id }])
            .await
            .map_err(NodeError::from))?;
        self.settled(|s| {
            !s.voters.contains(&id) && !s.voters_outgoing.contains(&id) && !s.learners.contains(&id)
        })
        .await;
        Ok(Response::new(pb::ClusterChangeResponse {
            status: Some(st(self.cluster_status().await)?),
        }))
    }

    async fn transfer_leadership(
        &self,
        req: Request<pb::TransferLeadershipRequest>,
    ) -> Result<Response<pb::ClusterChangeResponse>, Status> {
        let caller = self.caller(&req)?;
        st(caller.may_operate(self.ledger.tadig(), "transferring leadership"))?;
        let to = req.get_ref().node_id;
        st(self
            .ledger
            .handle()
            .transfer_leader(to)
            .await
            .map_err(NodeError::from))?;
        Ok(Response::new(pb::ClusterChangeResponse {
            status: Some(st(self.cluster_status().await)?),
        }))
    }

    async fn forward(
        &self,
        req: Request<pb::ForwardRequest>,
    ) -> Result<Response<pb::ForwardResponse>, Status> {
        let caller = self.caller(&req)?;
        st(caller.require(&[Role::Node], "forwarding a command"))?;
        let member = st(self
            .ledger
            .read(move |m| {
                m.settlement()
                    .carriers()
                    .get(&caller.tadig)
                    .is_some_and(|c| c.is_active())
            })
            .await)?;
        let configured = self.ledger.config().peers.iter().any(|p| p.tadig == caller.tadig);
        if !member && !configured {
            return Err(crate::error::to_status(NodeError::Forbidden(format!(
                "{} is not a member node of this consortium",
                caller.tadig
            ))));
        }
        // Propose here only: a leader that lost leadership answers NOT_LEADER and the
        // forwarding follower retries, so forwards never loop.
        let envelope = req.into_inner().envelope;
        let outcome = self
            .ledger
            .handle()
            .propose(envelope)
            .await
            .map_err(|e| match e {
                consensus::ConsensusError::NotLeader { leader_id, .. } => {
                    let leader_id = leader_id.unwrap_or(0);
                    crate::error::to_status(NodeError::NotLeader {
                        leader_id,
                        leader_address: self
                            .ledger
                            .config()
                            .peer(leader_id)
                            .map(|p| p.api_address.clone())
                            .unwrap_or_default(),
                    })
                }
                e => crate::error::to_status(NodeError::Consensus(e)),
            })?;
        Ok(Response::new(pb::ForwardResponse { outcome }))
    }
}
