//! Three nodes over real gRPC with mutual TLS and RocksDB in temporary directories: ingest
//! through each carrier's own node, close, co-sign, verify offline; idempotent resubmission;
//! writes through followers; a restarted node catching up; access control refusals; and the
//! demo end to end.

use std::path::{Path, PathBuf};
use std::time::Duration;

use carrier_adapters::tap::generate::{GeneratorConfig, generate_bytes};
use proto::api as pb;
use proto::api::ingest_client::IngestClient;
use proto::api::statements_client::StatementsClient;
use roamledger_node::cli::{Conn, Format};
use roamledger_node::client::{ClientIdentity, connect};
use roamledger_node::demo::{DemoArgs, register_agreements};
use roamledger_tests::TestCluster;
use settlement::crypto::Role;
use settlement::types::{Tadig, UtcTime};

const CARRIERS: [&str; 3] = ["KORKT", "JPNDO", "CHNCM"];

fn t(s: &str) -> Tadig {
    s.parse().unwrap()
}

/// Writes a generated TAP file `from` -> `to` with `events` events into `dir`.
fn tap_file(dir: &Path, from: &str, to: &str, fsn: u32, events: u32, seed: u64) -> PathBuf {
    let mut cfg = GeneratorConfig::new(t(from), t(to), events, seed);
    cfg.file_sequence_number = fsn;
    let now = roamledger_node::ledger::now();
    cfg.start = UtcTime::from_unix_seconds(now.unix_seconds() - 5 * 86_400).to_civil();
    let bytes = generate_bytes(&cfg).unwrap();
    let path = dir.join(format!("CD{from}{to}{fsn:05}"));
    std::fs::write(&path, bytes).unwrap();
    path
}

async fn upload(conn: &Conn, path: &Path) -> pb::SubmitFileResponse {
    roamledger_node::submit::upload(conn, path, Format::Tap, None)
        .await
        .unwrap_or_else(|e| panic!("uploading {}: {e}", path.display()))
}

fn accepted(r: &pb::SubmitFileResponse) -> u64 {
    r.batches.iter().map(|b| u64::from(b.accepted)).sum()
}

fn status(b: &pb::BatchResult) -> pb::batch_result::Status {
    pb::batch_result::Status::try_from(b.status).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_ingest_close_cosign_and_verify_offline() {
    let c = TestCluster::start(&CARRIERS, Some(15)).await.unwrap();
    register_agreements(&c.certs, &c.demo_nodes(), roamledger_node::ledger::now())
        .await
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    // KORKT's file has 1,500 events: two 1,000-record parts.
    let plan = [
        ("KORKT", "JPNDO", 0usize, 1_500u32),
        ("JPNDO", "KORKT", 1, 300),
        ("CHNCM", "KORKT", 2, 200),
    ];
    let leader = c.node(0).ledger.status().leader_id;
    let mut through_follower = false;
    let mut first = None;
    for (i, (from, to, node, events)) in plan.iter().enumerate() {
        let path = tap_file(files.path(), from, to, 1, *events, 10 + i as u64);
        let conn = c.conn(*node, Role::Submitter);
        through_follower |= leader != Some(c.configs[*node].node_id);
        let r = upload(&conn, &path).await;
        assert!(
            r.batches
                .iter()
                .all(|b| status(b) == pb::batch_result::Status::Accepted),
            "{from}->{to}: {:?}",
            r.batches
        );
        assert!(accepted(&r) > 0, "{from}->{to} accepted nothing: {r:?}");
        if i == 0 {
            assert_eq!(r.batches.len(), 2, "1,500 events become two file parts");
            first = Some((path, conn, r));
        }
    }
    assert!(
        through_follower,
        "at least one carrier's node follows, so writes were forwarded"
    );

    // Resubmitting a file answers the original outcome and changes nothing.
    let (path, conn, original) = first.unwrap();
    let before = c.digests().await.unwrap();
    let again = upload(&conn, &path).await;
    assert_eq!(again.batches.len(), original.batches.len());
    for (a, o) in again.batches.iter().zip(&original.batches) {
        assert_eq!(status(a), pb::batch_result::Status::Replayed);
        assert_eq!((a.batch, a.accepted, &a.digest), (o.batch, o.accepted, &o.digest));
    }
    let records_before: u64 = c
        .node(0)
        .ledger
        .read(|m| {
            let s = m.settlement();
            s.periods()
                .keys()
                .flat_map(|p| {
                    CARRIERS
                        .iter()
                        .flat_map(move |v| CARRIERS.iter().map(move |h| (*p, *v, *h)))
                })
                .filter_map(|(p, v, h)| {
                    s.pair_ledger(p, v.parse().unwrap(), h.parse().unwrap())
                        .ok()
                        .flatten()
                })
                .map(|l| l.tree.size())
                .sum()
        })
        .await
        .unwrap();
    assert_eq!(
        records_before,
        1_500 + 300 + 200,
        "every generated event is in a tree"
    );
    let after = c.digests().await.unwrap();
    assert_eq!(before.len(), after.len());

    // Close, co-sign, and compare everything across nodes.
    let statements = c.close_and_cosign().await.unwrap();
    assert!(statements.len() >= 3, "{statements:?}");
    let digests = c.digests().await.unwrap();
    assert!(
        digests.windows(2).all(|w| w[0] == w[1]),
        "nodes disagree on the state: {digests:?}"
    );
    let on_each = statements_per_node(&c).await;
    assert!(
        on_each.windows(2).all(|w| w[0] == w[1]),
        "statements differ between nodes"
    );

    // Offline verification of exported statements and the netting.
    let export_dir = tempfile::tempdir().unwrap();
    let mut exported = Vec::new();
    for s in &statements {
        let i = CARRIERS.iter().position(|x| *x == s.visited).unwrap();
        let r = StatementsClient::new(c.conn(i, Role::Reader).channel().await.unwrap())
            .export_statement(pb::ExportStatementRequest {
                period_start: s.period_start.clone(),
                visited: s.visited.clone(),
                home: s.home.clone(),
                format: pb::export_statement_request::Format::Json as i32,
            })
            .await
            .unwrap()
            .into_inner();
        let p = export_dir.path().join(format!(
            "{}-{}-{}.json",
            s.period_start.replace(':', ""),
            s.visited,
            s.home
        ));
        std::fs::write(&p, r.content).unwrap();
        exported.push(p);
    }
    let period = statements[0].period_start.clone();
    let netting = StatementsClient::new(c.conn(0, Role::Reader).channel().await.unwrap())
        .get_netting(pb::GetNettingRequest {
            period_start: period.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let netting_path = export_dir.path().join("netting.json");
    std::fs::write(&netting_path, netting.canonical_json).unwrap();
    let of_period: Vec<PathBuf> = exported
        .iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&period.replace(':', ""))
        })
        .cloned()
        .collect();
    assert_eq!(
        roamledger_node::commands::verify(&of_period, &c.certs, Some(&netting_path), true).unwrap(),
        0,
        "offline verification"
    );
    // A tampered export fails verification.
    let text = std::fs::read_to_string(&of_period[0]).unwrap();
    let tampered = text.replacen("\"amount_due\": \"", "\"amount_due\": \"1", 1);
    assert_ne!(text, tampered);
    std::fs::write(&of_period[0], tampered).unwrap();
    assert_eq!(
        roamledger_node::commands::verify(&of_period[..1], &c.certs, None, true).unwrap(),
        1
    );
}

/// A statement's canonical bytes and its signatures.
type SignedBytes = (Vec<u8>, Vec<(Tadig, Vec<u8>)>);

/// Every node's statements (bytes and signatures), read directly from its replica.
async fn statements_per_node(c: &TestCluster) -> Vec<Vec<SignedBytes>> {
    let mut out = Vec::new();
    for n in c.nodes.iter().flatten() {
        let list = n
            .ledger
            .read(|m| {
                let s = m.settlement();
                s.periods()
                    .keys()
                    .flat_map(|p| s.statements(*p).unwrap())
                    .map(|e| {
                        (
                            e.bytes.clone(),
                            e.signatures.clone().into_iter().collect::<Vec<_>>(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap();
        out.push(list);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_restarted_mid_ingest_catches_up() {
    let mut c = TestCluster::start(&CARRIERS, None).await.unwrap();
    register_agreements(&c.certs, &c.demo_nodes(), roamledger_node::ledger::now())
        .await
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = (1..=4u32)
        .map(|fsn| tap_file(files.path(), "KORKT", "JPNDO", fsn, 800, 100 + u64::from(fsn)))
        .collect();
    let conn = c.conn(0, Role::Submitter);
    // Upload in the background while CHNCM's node goes down and comes back.
    let uploads = {
        let conn = conn.clone();
        let paths = paths.clone();
        tokio::spawn(async move {
            let mut total = 0;
            for p in &paths {
                total += accepted(&upload(&conn, p).await);
            }
            total
        })
    };
    c.stop(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.restart(2).await.unwrap();
    let total = uploads.await.unwrap();
    assert_eq!(total, 4 * 800, "every record accepted once");
    let digests = c.digests().await.unwrap();
    assert_eq!(digests.len(), 3);
    assert!(
        digests.windows(2).all(|w| w[0] == w[1]),
        "restarted node diverged: {digests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn access_control_refusals() {
    let c = TestCluster::start(&CARRIERS, None).await.unwrap();
    register_agreements(&c.certs, &c.demo_nodes(), roamledger_node::ledger::now())
        .await
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let kj = tap_file(files.path(), "KORKT", "JPNDO", 1, 50, 7);
    let r = upload(&c.conn(0, Role::Submitter), &kj).await;
    let record = format!("{}:0", r.batches[0].batch);
    let root = std::fs::read(roamledger_node::certs::root_path(&c.certs)).unwrap();
    let root_der =
        roamledger_node::certs::read_cert_der(&roamledger_node::certs::root_path(&c.certs)).unwrap();
    assert!(!root.is_empty());
    let api0 = c.conn(0, Role::Reader).node;

    let list = |ch| async move {
        StatementsClient::new(ch)
            .list_statements(pb::ListStatementsRequest::default())
            .await
    };
    // No client certificate.
    let anonymous = ClientIdentity {
        root_der: root_der.clone(),
        cert_der: None,
        key_der: None,
    };
    let e = list(connect(&api0, &anonymous).await.unwrap()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e}");
    assert!(e.message().contains("client certificate is required"), "{e}");

    // A certificate from another trust root.
    let other = tempfile::tempdir().unwrap();
    roamledger_node::certs::init(other.path(), "other", &[t("KORKT")], &[], 30).unwrap();
    let (oc, ok) = roamledger_node::certs::cert_paths(other.path(), t("KORKT"), Role::Reader);
    let foreign = ClientIdentity {
        root_der: root_der.clone(),
        cert_der: Some(roamledger_node::certs::read_cert_der(&oc).unwrap()),
        key_der: Some(roamledger_node::certs::read_key_der(&ok).unwrap()),
    };
    let e = list(connect(&api0, &foreign).await.unwrap()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e}");
    assert!(
        e.message().contains("not issued by this consortium's root"),
        "{e}"
    );

    // An expired certificate of this consortium's root (valid until the start of today).
    let same_root = tempfile::tempdir().unwrap();
    for f in ["ca.pem", "ca.key.pem"] {
        std::fs::copy(c.certs.join(f), same_root.path().join(f)).unwrap();
    }
    let (cert_der, key_der) =
        roamledger_node::certs::issue(same_root.path(), t("KORKT"), Role::Reader, &[], 0).unwrap();
    let expired = ClientIdentity {
        root_der: root_der.clone(),
        cert_der: Some(cert_der),
        key_der: Some(key_der),
    };
    let e = list(connect(&api0, &expired).await.unwrap()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e}");
    assert!(e.message().contains("not valid at"), "{e}");

    // A submitter submitting through another carrier's node.
    let e = roamledger_node::submit::upload(&c.conn_as(1, "KORKT", Role::Submitter), &kj, Format::Tap, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("only through its own node"), "{e}");

    // A submitter claiming another carrier's usage (records whose visited network is JPNDO).
    let jk = tap_file(files.path(), "JPNDO", "KORKT", 1, 20, 8);
    let r = upload(&c.conn(0, Role::Submitter), &jk).await;
    assert!(
        r.batches
            .iter()
            .all(|b| status(b) == pb::batch_result::Status::Rejected),
        "a JPNDO file through KORKT's node: {r:?}"
    );
    let batch = pb::RecordBatch {
        client_batch_id: "claim".into(),
        recipient: "KORKT".into(),
        currency: "SDR".into(),
        scale: 3,
        records: vec![pb::UsageRecord {
            visited: "JPNDO".into(),
            home: "KORKT".into(),
            imsi: "450081234567890".into(),
            service: "sms_mo".into(),
            start: roamledger_node::ledger::now().to_string(),
            charged_units: 1,
            charge: "0.120".into(),
            tax: "0".into(),
            ..Default::default()
        }],
    };
    let mut s = IngestClient::new(c.conn(0, Role::Submitter).channel().await.unwrap())
        .stream_batches(tokio_stream::iter(vec![batch.clone()]))
        .await
        .unwrap()
        .into_inner();
    let e = s.message().await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e}");

    // A reader submitting.
    let e = roamledger_node::submit::upload(&c.conn(0, Role::Reader), &kj, Format::Tap, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("needs the role submitter"), "{e}");

    // A carrier reading a pair it is not party to (and a record of it).
    let chncm = c.conn(2, Role::Reader);
    let e = StatementsClient::new(chncm.channel().await.unwrap())
        .get_record_proof(pb::GetRecordProofRequest {
            record_id: record.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e}");
    assert!(e.message().contains("not party to KORKT->JPNDO"), "{e}");
    let p = StatementsClient::new(c.conn(1, Role::Reader).channel().await.unwrap())
        .get_record_proof(pb::GetRecordProofRequest { record_id: record })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.record.unwrap().visited, "KORKT", "a party may read it");

    // A non-member node joining Raft: a node certificate of the consortium's root for a
    // carrier that is no member. The TLS handshake succeeds; the stream is refused.
    let raft0 = c.configs[0].peer(1).unwrap().raft_address.clone();
    let refused = roamledger_tests::raft_stream_refused(&c.certs, "USATT", &raft0).await;
    assert!(
        refused,
        "a non-member node certificate was allowed to stream Raft messages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let args = DemoArgs {
        data_dir: dir.path().join("demo"),
        events: 3_000,
        events_per_file: 1_000,
        period_seconds: 10,
        exit: true,
        quiet: true,
    };
    let code = roamledger_node::demo::run(args).await.unwrap();
    assert_eq!(code, 0);
    let statements: Vec<_> = std::fs::read_dir(dir.path().join("demo/statements"))
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert!(
        statements.len() >= 7,
        "six statements and a netting report at least"
    );
}
