//! The client API server: TLS 1.3 with client certificates, the roamledger services, the
//! standard `grpc.health.v1` health service and server reflection (so `grpcurl` works).

mod convert;
mod ingest;
mod ops;
mod query;
pub mod tls;

pub use convert::{batch_result, record_from_pb, record_to_pb, statement_csv, statement_json};

use std::net::SocketAddr;
use std::sync::Arc;

use proto::api::agreements_server::AgreementsServer;
use proto::api::cluster_server::ClusterServer;
use proto::api::disputes_server::DisputesServer;
use proto::api::ingest_server::IngestServer;
use proto::api::periods_server::PeriodsServer;
use proto::api::statements_server::StatementsServer;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Status};

use crate::error::{NodeError, to_status};
use crate::identity::{Caller, PresentedCertificate, authenticate};
use crate::ledger::{Ledger, now};
use crate::limits::{GRPC_MESSAGE_BYTES_MAX, WATCHERS_MAX};

/// What every service needs.
#[derive(Clone)]
pub struct Api {
    ledger: Ledger,
    roots: Arc<Vec<Vec<u8>>>,
    watchers: Arc<Semaphore>,
}

impl Api {
    /// Services over `ledger`, trusting `roots` for client certificates.
    pub fn new(ledger: Ledger, roots: Vec<Vec<u8>>) -> Self {
        Api {
            ledger,
            roots: Arc::new(roots),
            watchers: Arc::new(Semaphore::new(WATCHERS_MAX)),
        }
    }

    /// The authenticated caller of a request.
    fn caller<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
        let der = req
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(|i| i.peer_certs())
            .and_then(|c| c.first().map(|c| c.to_vec()));
        authenticate(&PresentedCertificate { der }, &self.roots, now()).map_err(to_status)
    }
}

/// Runs `f`'s result through the one error mapping.
fn st<T>(r: Result<T, NodeError>) -> Result<T, Status> {
    r.map_err(to_status)
}

/// A running API server.
pub struct ApiServer {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ApiServer {
    /// Serves the API on `listener` with the node certificate `cert_der`/`key_der`.
    pub async fn start(
        api: Api,
        listener: TcpListener,
        cert_der: &[u8],
        key_der: &[u8],
    ) -> Result<ApiServer, NodeError> {
        let local_addr = listener
            .local_addr()
            .map_err(|e| NodeError::Transport(e.to_string()))?;
        let acceptor = TlsAcceptor::from(tls::server_config(cert_der, key_der)?);
        let (conn_tx, conn_rx) = tokio::sync::mpsc::channel(64);
        let accept_task = tokio::spawn(async move {
            loop {
                let Ok((tcp, addr)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let conn_tx = conn_tx.clone();
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    match acceptor.accept(tcp).await {
                        Ok(tls) => {
                            let _ = conn_tx.send(Ok::<_, std::io::Error>(tls)).await;
                        }
                        Err(e) => tracing::info!(%addr, error = %e, "API TLS handshake failed"),
                    }
                });
            }
        });
        let (health_reporter, health) = tonic_health::server::health_reporter();
        health_reporter.set_serving::<IngestServer<Api>>().await;
        health_reporter.set_serving::<StatementsServer<Api>>().await;
        health_reporter.set_serving::<DisputesServer<Api>>().await;
        health_reporter.set_serving::<AgreementsServer<Api>>().await;
        health_reporter.set_serving::<PeriodsServer<Api>>().await;
        health_reporter.set_serving::<ClusterServer<Api>>().await;
        // Reflection advertises what this port serves (the descriptor set also describes the
        // Raft transport, which listens elsewhere).
        let mut reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::api::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.reflection.v1.ServerReflection")
            .with_service_name("grpc.health.v1.Health");
        for service in [
            "Ingest",
            "Statements",
            "Disputes",
            "Agreements",
            "Periods",
            "Cluster",
        ] {
            reflection = reflection.with_service_name(format!("roamledger.v1.{service}"));
        }
        let reflection = reflection
            .build_v1()
            .map_err(|e| NodeError::Transport(format!("reflection: {e}")))?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        macro_rules! svc {
            ($s:ident) => {
                $s::new(api.clone())
                    .max_decoding_message_size(GRPC_MESSAGE_BYTES_MAX)
                    .max_encoding_message_size(GRPC_MESSAGE_BYTES_MAX)
            };
        }
        let router = tonic::transport::Server::builder()
            .add_service(health)
            .add_service(reflection)
            .add_service(svc!(IngestServer))
            .add_service(svc!(StatementsServer))
            .add_service(svc!(DisputesServer))
            .add_service(svc!(AgreementsServer))
            .add_service(svc!(PeriodsServer))
            .add_service(svc!(ClusterServer));
        let task = tokio::spawn(async move {
            let r = router
                .serve_with_incoming_shutdown(ReceiverStream::new(conn_rx), async {
                    let _ = stop_rx.await;
                })
                .await;
            accept_task.abort();
            if let Err(e) = r {
                tracing::error!(error = %e, "API server stopped");
            }
        });
        Ok(ApiServer {
            local_addr,
            task,
            shutdown: Some(stop_tx),
        })
    }

    /// Stops accepting, lets in-flight calls finish, and waits.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}
