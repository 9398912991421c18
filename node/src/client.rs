//! Outgoing gRPC connections with mutual TLS 1.3: the command line's connection to a node,
//! and a node's connections to its peers' client API (to forward writes to the leader).
//!
//! The server's certificate must chain to the consortium root and name the host dialled
//! (node certificates carry their host names and addresses); the client presents its own
//! certificate and key.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use proto::api::cluster_client::ClusterClient;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint};

use crate::certs::{read_cert_der, read_key_der};
use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::limits::{CONNECT_TIMEOUT_MS, GRPC_MESSAGE_BYTES_MAX};

/// A client identity: the consortium root to trust, and our certificate and key.
#[derive(Clone)]
pub struct ClientIdentity {
    /// Consortium root, DER.
    pub root_der: Vec<u8>,
    /// Our certificate, DER (None connects without a client certificate, which every
    /// roamledger API call then refuses: only useful to test that refusal).
    pub cert_der: Option<Vec<u8>>,
    /// Our key, PKCS#8 DER.
    pub key_der: Option<Vec<u8>>,
}

impl ClientIdentity {
    /// Reads PEM files.
    pub fn from_files(ca: &Path, cert: &Path, key: &Path) -> Result<Self, NodeError> {
        Ok(ClientIdentity {
            root_der: read_cert_der(ca)?,
            cert_der: Some(read_cert_der(cert)?),
            key_der: Some(read_key_der(key)?),
        })
    }

    fn tls_config(&self) -> Result<Arc<ClientConfig>, NodeError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.root_der.clone()))
            .map_err(|e| NodeError::Transport(format!("consortium root: {e}")))?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| NodeError::Transport(e.to_string()))?
            .with_root_certificates(roots);
        let mut cfg = match (&self.cert_der, &self.key_der) {
            (Some(c), Some(k)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from(c.clone())],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(k.clone())),
                )
                .map_err(|e| NodeError::Transport(format!("client certificate: {e}")))?,
            _ => builder.with_no_client_auth(),
        };
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(cfg))
    }
}

/// Connects to `address` (`host:port`) with `identity`.
pub async fn connect(address: &str, identity: &ClientIdentity) -> Result<Channel, NodeError> {
    let connector = TlsConnector::from(identity.tls_config()?);
    let host = address
        .rsplit_once(':')
        .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
        .unwrap_or(address)
        .to_owned();
    let name = ServerName::try_from(host.clone())
        .map_err(|e| NodeError::Transport(format!("{host:?} is not a host name or address: {e}")))?;
    let addr = address.to_owned();
    let channel = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| NodeError::Transport(e.to_string()))?
        .connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
        .tcp_nodelay(true)
        .connect_with_connector(tower::service_fn(move |_uri| {
            let connector = connector.clone();
            let addr = addr.clone();
            let name = name.clone();
            async move {
                let tcp = TcpStream::connect(&addr).await?;
                tcp.set_nodelay(true)?;
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await
        .map_err(|e| NodeError::Transport(format!("cannot connect to {address}: {}", source_chain(&e))))?;
    Ok(channel)
}

/// The error and its causes on one line (TLS alerts hide in the sources).
pub fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A node's connections to its peers' client API, with the node's own certificate.
#[derive(Clone)]
pub struct NodeClients {
    identity: ClientIdentity,
    addresses: BTreeMap<u64, String>,
    channels: Arc<Mutex<BTreeMap<u64, Channel>>>,
}

impl NodeClients {
    /// Clients for the peers of `config`, authenticating with its node certificate.
    pub fn new(config: &NodeConfig) -> Result<Self, NodeError> {
        Ok(NodeClients {
            identity: ClientIdentity::from_files(&config.tls.ca, &config.tls.cert, &config.tls.key)?,
            addresses: config
                .peers
                .iter()
                .map(|p| (p.node_id, p.api_address.clone()))
                .collect(),
            channels: Arc::default(),
        })
    }

    async fn channel(&self, node: u64) -> Result<Channel, NodeError> {
        if let Some(c) = self.channels.lock().expect("channels lock").get(&node) {
            return Ok(c.clone());
        }
        let addr = self
            .addresses
            .get(&node)
            .ok_or_else(|| NodeError::Transport(format!("no API address configured for node {node}")))?;
        let ch = connect(addr, &self.identity).await?;
        self.channels
            .lock()
            .expect("channels lock")
            .insert(node, ch.clone());
        Ok(ch)
    }

    /// Forwards an encoded envelope to node `leader`; returns the encoded outcome.
    pub async fn forward(&self, leader: u64, envelope: Vec<u8>) -> Result<Vec<u8>, NodeError> {
        let ch = self.channel(leader).await?;
        let mut client = ClusterClient::new(ch)
            .max_decoding_message_size(GRPC_MESSAGE_BYTES_MAX)
            .max_encoding_message_size(GRPC_MESSAGE_BYTES_MAX);
        match client.forward(proto::api::ForwardRequest { envelope }).await {
            Ok(r) => Ok(r.into_inner().outcome),
            Err(s) => {
                if s.code() == tonic::Code::Unavailable {
                    // Drop the channel: the peer may have restarted at the same address.
                    self.channels.lock().expect("channels lock").remove(&leader);
                }
                Err(NodeError::Remote(s))
            }
        }
    }
}
