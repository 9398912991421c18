//! The rest of the API over real gRPC and mutual TLS: CSV and TMF635 JSON uploads, a stream
//! of record batches, disputes, watching statements become final, the metrics endpoint,
//! health and reflection, leadership transfer and member removal.

use std::path::Path;
use std::time::Duration;

use proto::api as pb;
use proto::api::cluster_client::ClusterClient;
use proto::api::disputes_client::DisputesClient;
use proto::api::ingest_client::IngestClient;
use proto::api::statements_client::StatementsClient;
use roamledger_node::cli::{Conn, Format};
use roamledger_node::demo::register_agreements;
use roamledger_tests::{TestCluster, wait_for};
use settlement::crypto::Role;
use settlement::types::UtcTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CARRIERS: [&str; 3] = ["KORKT", "JPNDO", "CHNCM"];

fn hours_ago(h: i64) -> UtcTime {
    UtcTime::from_unix_seconds(roamledger_node::ledger::now().unix_seconds() - h * 3600)
}

async fn upload(conn: &Conn, path: &Path, format: Format) -> pb::SubmitFileResponse {
    roamledger_node::submit::upload(conn, path, format, None)
        .await
        .unwrap_or_else(|e| panic!("uploading {}: {e}", path.display()))
}

fn accepted(r: &pb::SubmitFileResponse) -> u32 {
    r.batches.iter().map(|b| b.accepted).sum()
}

fn status(b: &pb::BatchResult) -> pb::batch_result::Status {
    pb::batch_result::Status::try_from(b.status).unwrap()
}

/// A count in a statement's canonical JSON (numbers may be written as strings).
fn count(v: &serde_json::Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a count: {v}"))
}

async fn cluster_status(conn: &Conn) -> pb::ClusterStatus {
    ClusterClient::new(conn.channel().await.unwrap())
        .status(pb::ClusterStatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

/// The index of the node that leads as `conn`'s node sees it, once `wanted` accepts it.
async fn leader_seen(conn: &Conn, what: &str, wanted: impl Fn(usize) -> bool) -> usize {
    wait_for(what, Duration::from_secs(30), || {
        let conn = conn.clone();
        let wanted = &wanted;
        async move {
            let ch = conn.channel().await.map_err(|e| e.to_string())?;
            let s = ClusterClient::new(ch)
                .status(pb::ClusterStatusRequest {})
                .await
                .map_err(|e| e.to_string())?
                .into_inner();
            let leader = (s.leader_id as usize).checked_sub(1);
            Ok(leader.filter(|l| wanted(*l)))
        }
    })
    .await
    .unwrap()
}

/// The index of the node that leads, as node 0 sees it.
async fn leader(c: &TestCluster) -> usize {
    leader_seen(&c.conn(0, Role::Admin), "a leader", |_| true).await
}

/// `GET path` over plain HTTP/1.1; the whole response.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
        .await
        .expect("the metrics endpoint answers within 10 s")
        .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn csv_json_streams_disputes_and_watch() {
    let mut c = TestCluster::start(&CARRIERS, Some(15)).await.unwrap();
    register_agreements(&c.certs, &c.demo_nodes(), roamledger_node::ledger::now())
        .await
        .unwrap();
    let files = tempfile::tempdir().unwrap();

    // Watch from JPNDO's node before anything is closed.
    let mut watch = StatementsClient::new(c.conn(1, Role::Reader).channel().await.unwrap())
        .watch_statements(pb::WatchStatementsRequest {
            include_existing: false,
        })
        .await
        .unwrap()
        .into_inner();

    // CSV through KORKT's node: three good rows; the bad one is reported with its line and
    // not submitted.
    let at = hours_ago(2);
    let csv = files.path().join("korkt-usage.csv");
    std::fs::write(
        &csv,
        format!(
            "visited,home,imsi,service,start,duration_s,charge,tax\n\
             KORKT,JPNDO,450081234500001,voice_mo,{at},60,0.150,0.015\n\
             KORKT,JPNDO,450081234500002,sms_mo,{at},0,0.120,0\n\
             KORKT,JPNDO,45,sms_mo,{at},0,0.120,0\n\
             KORKT,JPNDO,450081234500003,voice_mt,{at},120,0.120,0\n"
        ),
    )
    .unwrap();
    let r = upload(&c.conn(0, Role::Submitter), &csv, Format::Csv).await;
    assert_eq!(accepted(&r), 3, "{r:?}");
    assert_eq!(r.diagnostics.len(), 1, "{r:?}");
    assert!(
        r.diagnostics[0].contains("line 4") && r.diagnostics[0].contains("imsi"),
        "the bad row is named: {:?}",
        r.diagnostics
    );
    let csv_batch = r.batches[0].batch;
    // The same file again changes nothing.
    let again = upload(&c.conn(0, Role::Submitter), &csv, Format::Csv).await;
    assert!(
        again
            .batches
            .iter()
            .all(|b| status(b) == pb::batch_result::Status::Replayed)
    );

    // TMF635 JSON through JPNDO's node.
    let usage = |imsi: &str, kind: &str, charge: &str| {
        serde_json::json!({
            "usageDate": at.to_string(),
            "usageType": kind,
            "relatedParty": [
                {"id": "JPNDO", "role": "visitedNetwork"},
                {"id": "KORKT", "role": "homeNetwork"}
            ],
            "usageCharacteristic": [
                {"name": "imsi", "value": imsi},
                {"name": "durationSeconds", "value": 60}
            ],
            "ratedProductUsage": [{
                "taxExcludedRatingAmount": {"unit": "SDR", "value": charge},
                "taxIncludedRatingAmount": {"unit": "SDR", "value": charge}
            }]
        })
    };
    let json = files.path().join("jpndo-usage.json");
    std::fs::write(
        &json,
        serde_json::to_vec(&serde_json::json!([
            usage("450051234500001", "voice_mo", "0.150"),
            usage("450051234500002", "voice_mt", "0.060"),
        ]))
        .unwrap(),
    )
    .unwrap();
    let r = upload(&c.conn(1, Role::Submitter), &json, Format::Json).await;
    assert_eq!(accepted(&r), 2, "{r:?}");

    // A stream of two record batches through CHNCM's node, answered in order.
    let batch = |id: &str, imsi: &str| pb::RecordBatch {
        client_batch_id: id.into(),
        recipient: "KORKT".into(),
        currency: "SDR".into(),
        scale: 3,
        records: vec![pb::UsageRecord {
            visited: "CHNCM".into(),
            home: "KORKT".into(),
            imsi: imsi.into(),
            service: "sms_mo".into(),
            start: at.to_string(),
            charged_units: 1,
            charge: "0.120".into(),
            tax: "0".into(),
            ..Default::default()
        }],
    };
    let mut answers = IngestClient::new(c.conn(2, Role::Submitter).channel().await.unwrap())
        .stream_batches(tokio_stream::iter(vec![
            batch("s-1", "450081234500010"),
            batch("s-2", "450081234500011"),
        ]))
        .await
        .unwrap()
        .into_inner();
    for want in ["s-1", "s-2"] {
        let a = answers.message().await.unwrap().expect("one answer per batch");
        assert_eq!(status(&a), pb::batch_result::Status::Accepted, "{a:?}");
        assert_eq!(a.accepted, 1);
        let id = a.key.as_ref().and_then(|k| k.id.clone());
        assert_eq!(id, Some(pb::batch_key::Id::ClientBatchId(want.into())));
    }
    assert!(
        answers.message().await.unwrap().is_none(),
        "the stream ends with the input"
    );

    // JPNDO (home) disputes the first CSV record before the close; KORKT sees the dispute.
    let disputed = format!("{csv_batch}:0");
    let d = DisputesClient::new(c.conn(1, Role::Admin).channel().await.unwrap())
        .reject_records(pb::RejectRecordsRequest {
            items: vec![pb::DisputeItem {
                record_id: disputed.clone(),
                reason: "rating_discrepancy".into(),
                text: "tariff is 0.140".into(),
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((d.in_period, d.adjustments), (1, 0));
    // KORKT may not dispute its own usage: only the home network disputes.
    let e = DisputesClient::new(c.conn(0, Role::Admin).channel().await.unwrap())
        .reject_records(pb::RejectRecordsRequest {
            items: vec![pb::DisputeItem {
                record_id: format!("{csv_batch}:1"),
                reason: "other".into(),
                text: String::new(),
            }],
        })
        .await
        .unwrap_err();
    assert!(e.message().contains("is billed to JPNDO, not to KORKT"), "{e}");

    let statements = c.close_and_cosign().await.unwrap();
    let kj = statements
        .iter()
        .find(|s| s.visited == "KORKT" && s.home == "JPNDO")
        .expect("a KORKT->JPNDO statement");
    let list = DisputesClient::new(c.conn(0, Role::Reader).channel().await.unwrap())
        .list_disputes(pb::ListDisputesRequest {
            period_start: kj.period_start.clone(),
            visited: "KORKT".into(),
            home: "JPNDO".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .disputes;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        (list[0].record_id.as_str(), list[0].reason.as_str()),
        (disputed.as_str(), "rating_discrepancy")
    );
    let full = StatementsClient::new(c.conn(0, Role::Reader).channel().await.unwrap())
        .get_statement(pb::GetStatementRequest {
            period_start: kj.period_start.clone(),
            visited: "KORKT".into(),
            home: "JPNDO".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let v: serde_json::Value = serde_json::from_slice(&full.canonical_json).unwrap();
    assert_eq!(
        count(&v["accepted"]["count"]),
        2,
        "the disputed record left the totals: {v}"
    );
    assert_eq!(count(&v["disputed"]["count"]), 1, "{v}");

    // The watcher on JPNDO's node saw KORKT->JPNDO become final (and nothing of CHNCM->KORKT,
    // a pair JPNDO is not party to).
    let mut seen = Vec::new();
    let finalized = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(ev) = watch.message().await.unwrap() {
            let s = ev.statement.clone().unwrap();
            seen.push((ev.kind, s.visited.clone(), s.home.clone()));
            if ev.kind == pb::statement_event::Kind::Final as i32 && s.visited == "KORKT" && s.home == "JPNDO"
            {
                return;
            }
        }
    })
    .await;
    assert!(finalized.is_ok(), "no FINAL event for KORKT->JPNDO; saw {seen:?}");
    assert!(
        seen.iter().all(|(_, v, h)| v == "JPNDO" || h == "JPNDO"),
        "a watcher sees only its carrier's pairs: {seen:?}"
    );
    // A watcher that asks for existing statements gets them first, in their current state.
    let mut late = StatementsClient::new(c.conn(0, Role::Reader).channel().await.unwrap())
        .watch_statements(pb::WatchStatementsRequest {
            include_existing: true,
        })
        .await
        .unwrap()
        .into_inner();
    let mut existing = Vec::new();
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(ev) = late.message().await.unwrap() {
            let s = ev.statement.unwrap();
            existing.push((s.visited.clone(), s.home.clone()));
            if ev.kind == pb::statement_event::Kind::Final as i32 && s.visited == "KORKT" && s.home == "JPNDO"
            {
                return;
            }
        }
    })
    .await;
    assert!(got.is_ok(), "existing statements not sent; got {existing:?}");
    drop(late);

    // A gracefully stopped node's storage holds everything it applied (the stop flushes the
    // state) and audits clean: records, trees, statements, netting and the ledger head agree.
    c.stop(2).await;
    let data_dir = &c.configs[2].data_dir;
    {
        let engine = consensus::RocksEngine::open(data_dir.join("rocksdb"), false).unwrap();
        let m = settlement::machine::SettlementMachine::open(engine.state_store().unwrap()).unwrap();
        assert!(
            m.stored_batch(0).unwrap().is_some() && !m.periods().is_empty(),
            "the stopped node's stored state lacks what it applied (applied index {})",
            m.applied_index()
        );
    }
    let code = roamledger_node::audit::audit(data_dir).unwrap();
    assert_eq!(code, 0, "the audit of a stopped node reports a mismatch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_health_reflection_leadership_and_removal() {
    let c = TestCluster::start(&CARRIERS, None).await.unwrap();
    // Agreements while all three are members, so the write after the removal is accepted.
    register_agreements(&c.certs, &c.demo_nodes(), roamledger_node::ledger::now())
        .await
        .unwrap();

    // Health and reflection, over the same mutual TLS as the API.
    let ch = c.conn(0, Role::Reader).channel().await.unwrap();
    let h = tonic_health::pb::health_client::HealthClient::new(ch.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: "roamledger.v1.Statements".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        h.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::{ServerReflectionRequest, ServiceResponse};
    let mut r = ServerReflectionClient::new(ch)
        .server_reflection_info(tokio_stream::iter(vec![ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]))
        .await
        .unwrap()
        .into_inner();
    let listed = match r.message().await.unwrap().unwrap().message_response {
        Some(MessageResponse::ListServicesResponse(l)) => l.service,
        other => panic!("not a service list: {other:?}"),
    };
    let names: Vec<&str> = listed.iter().map(|s: &ServiceResponse| s.name.as_str()).collect();
    for want in [
        "roamledger.v1.Ingest",
        "roamledger.v1.Statements",
        "roamledger.v1.Cluster",
        "grpc.health.v1.Health",
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }

    // Metrics over plain HTTP.
    let addr = c.node(0).metrics_addr.expect("metrics enabled");
    let body = http_get(addr, "/metrics").await;
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    for name in [
        "roamledger_raft_term",
        "roamledger_raft_applied_index",
        "roamledger_raft_unapplied_entries",
        "roamledger_peer_reachable",
    ] {
        assert!(body.contains(name), "{name} missing from /metrics");
    }
    assert!(http_get(addr, "/nothing").await.starts_with("HTTP/1.1 404"));

    // Leadership moves where the admin asks.
    let from = leader(&c).await;
    let to = (from + 1) % 3;
    ClusterClient::new(c.conn(from, Role::Admin).channel().await.unwrap())
        .transfer_leadership(pb::TransferLeadershipRequest {
            node_id: to as u64 + 1,
        })
        .await
        .unwrap();
    leader_seen(&c.conn(to, Role::Admin), "leadership to move", |l| l == to).await;

    // Removing a follower: the two remaining members still commit.
    let gone = (to + 1) % 3;
    let s = ClusterClient::new(c.conn(to, Role::Admin).channel().await.unwrap())
        .remove_node(pb::RemoveNodeRequest {
            node_id: gone as u64 + 1,
        })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert!(
        s.members
            .iter()
            .all(|m| m.node_id != gone as u64 + 1 || m.role != "voter"),
        "{s:?}"
    );
    let before = cluster_status(&c.conn(to, Role::Admin)).await.commit_index;
    let kept = 3 - to - gone;
    let files = tempfile::tempdir().unwrap();
    let csv = files.path().join("after-removal.csv");
    let (v, h) = (CARRIERS[kept], CARRIERS[to]);
    std::fs::write(
        &csv,
        format!(
            "visited,home,imsi,service,start,charge\n{v},{h},450081234500099,sms_mo,{},0.120\n",
            hours_ago(1)
        ),
    )
    .unwrap();
    let r = upload(&c.conn(kept, Role::Submitter), &csv, Format::Csv).await;
    assert_eq!(r.batches.len(), 1, "{r:?}");
    assert_eq!(status(&r.batches[0]), pb::batch_result::Status::Accepted, "{r:?}");
    // The leader's status is refreshed by its driver loop; wait for it to show the commit.
    let conn = c.conn(to, Role::Admin);
    wait_for(
        "the two remaining members to commit",
        Duration::from_secs(30),
        || {
            let conn = conn.clone();
            async move {
                let ch = conn.channel().await.map_err(|e| e.to_string())?;
                let s = ClusterClient::new(ch)
                    .status(pb::ClusterStatusRequest {})
                    .await
                    .map_err(|e| e.to_string())?
                    .into_inner();
                Ok((s.commit_index > before).then_some(()))
            }
        },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_carrier_joins_with_its_registration() {
    let mut c = TestCluster::start(&CARRIERS, None).await.unwrap();
    let (new, registration) = c.start_joining("USATT").await.unwrap();
    let lead = leader(&c).await;
    let add = |registration: Vec<u8>| pb::AddNodeRequest {
        node_id: new as u64 + 1,
        raft_address: c.configs[new].raft_listen.clone(),
        api_address: c.configs[new].api_listen.clone(),
        registration,
    };

    // A registration that does not match the node id is refused before anything changes.
    let mut wrong = add(registration.clone());
    wrong.node_id += 1;
    let e = ClusterClient::new(c.conn(lead, Role::Admin).channel().await.unwrap())
        .add_node(wrong)
        .await
        .unwrap_err();
    assert!(e.message().contains("names node"), "{e}");

    let s = ClusterClient::new(c.conn(lead, Role::Admin).channel().await.unwrap())
        .add_node(add(registration))
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert!(
        s.members
            .iter()
            .any(|m| m.node_id == new as u64 + 1 && m.role == "voter"),
        "the new node is a voter: {s:?}"
    );
    // It holds the same ledger, and knows itself registered.
    let digests = c.digests().await.unwrap();
    assert_eq!(digests.len(), 4);
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
    let usatt = "USATT".parse().unwrap();
    let registered = c
        .node(new)
        .ledger
        .read(move |m| m.settlement().carriers().contains_key(&usatt))
        .await
        .unwrap();
    assert!(registered);
}
