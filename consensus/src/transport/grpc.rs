//! The tonic gRPC transport: one long-lived client stream per peer, over mutual TLS 1.3.
//!
//! Sending: [`Transport::send`] puts the message on the peer's bounded queue (a full queue
//! refuses it). A task per peer connects (TCP, then TLS with the peer's identity checked,
//! then HTTP/2), greets the peer (`Greet`: the peer accepts this node and is the node meant),
//! opens the `Stream` RPC and forwards the queue into it; when any of that fails it marks
//! the peer unreachable and reconnects with exponential backoff. A link is reachable only
//! after the greeting was answered: with TLS 1.3 the client's handshake completes before
//! the server has checked the client's certificate, so a refused node would otherwise look
//! connected until its first stream broke.
//!
//! Receiving: the server accepts TLS connections itself (rustls via tokio-rustls), runs
//! the [`Authorizer`](super::tls::Authorizer) on the client's certificate, and tags the
//! connection with the Raft id it may speak for; every frame's `from` must match it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use proto::raft_transport::raft_frame::Body;
use proto::raft_transport::raft_transport_client::RaftTransportClient;
use proto::raft_transport::raft_transport_server::{RaftTransport, RaftTransportServer};
use proto::raft_transport::{Hello, HelloReply, RaftFrame, SnapshotChunk as PbChunk, StreamSummary};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status as GrpcStatus, Streaming};

use crate::error::{ConsensusError, Result};
use crate::limits::*;
use crate::transport::tls::TlsConfig;
use crate::transport::{
    InboundSink, PeerLink, SnapshotChunk, Transport, WireMessage, decode_raft, encode_raft,
};

/// Settings of a gRPC transport.
#[derive(Clone)]
pub struct GrpcConfig {
    /// This node's Raft id.
    pub id: u64,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// TLS material and authorization.
    pub tls: TlsConfig,
}

/// Converts a wire message to a gRPC frame.
pub fn to_frame(m: WireMessage) -> RaftFrame {
    match m {
        WireMessage::Raft(r) => RaftFrame {
            from: r.from,
            to: r.to,
            body: Some(Body::RaftMessage(encode_raft(&r))),
        },
        WireMessage::Snapshot(c) => RaftFrame {
            from: c.from,
            to: c.to,
            body: Some(Body::SnapshotChunk(PbChunk {
                snapshot_index: c.index,
                snapshot_term: c.term,
                seq: c.seq,
                data: c.data,
                final_message: c.final_message.map(|m| encode_raft(&m)).unwrap_or_default(),
            })),
        },
    }
}

/// Converts a gRPC frame back; checks that the Raft message agrees with the frame header.
pub fn from_frame(f: RaftFrame) -> Result<WireMessage> {
    let bad = |reason: String| ConsensusError::Corrupt {
        what: "raft frame",
        reason,
    };
    match f.body {
        Some(Body::RaftMessage(b)) => {
            let m = decode_raft(&b, false)?;
            if (m.from, m.to) != (f.from, f.to) {
                return Err(bad(format!(
                    "header {}->{} but message {}->{}",
                    f.from, f.to, m.from, m.to
                )));
            }
            Ok(WireMessage::Raft(Box::new(m)))
        }
        Some(Body::SnapshotChunk(c)) => {
            let final_message = if c.final_message.is_empty() {
                None
            } else {
                let m = decode_raft(&c.final_message, true)?;
                if (m.from, m.to) != (f.from, f.to) {
                    return Err(bad("snapshot message header mismatch".into()));
                }
                Some(Box::new(m))
            };
            Ok(WireMessage::Snapshot(SnapshotChunk {
                from: f.from,
                to: f.to,
                index: c.snapshot_index,
                term: c.snapshot_term,
                seq: c.seq,
                data: c.data,
                final_message,
            }))
        }
        None => Err(bad("empty frame".into())),
    }
}

struct PeerState {
    link: PeerLink,
    tx: mpsc::Sender<WireMessage>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    /// This node's Raft id.
    id: u64,
    tls: TlsConfig,
    peers: Mutex<BTreeMap<u64, PeerState>>,
    unreachable: Mutex<std::collections::BTreeSet<u64>>,
    runtime: tokio::runtime::Handle,
}

/// The gRPC transport. Dropping it stops the server and every peer task.
pub struct GrpcTransport {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
    /// Owns the listener: aborting it frees the port.
    accept: tokio::task::JoinHandle<()>,
    closed: tokio::sync::watch::Sender<bool>,
}

impl GrpcTransport {
    /// Binds the server and starts serving; inbound messages go to `sink`. Must be called
    /// inside a tokio runtime, which then runs every task of the transport.
    pub async fn start(cfg: GrpcConfig, sink: InboundSink) -> Result<GrpcTransport> {
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| ConsensusError::Transport {
                peer: 0,
                reason: format!("bind {}: {e}", cfg.listen),
            })?;
        Self::start_on(listener, cfg, sink).await
    }

    /// As [`GrpcTransport::start`] on a listener the caller bound (so the OS can choose the
    /// port before peers are told the address; `cfg.listen` is then only informative).
    pub async fn start_on(
        listener: TcpListener,
        cfg: GrpcConfig,
        sink: InboundSink,
    ) -> Result<GrpcTransport> {
        let local_addr = listener.local_addr().map_err(|e| ConsensusError::Transport {
            peer: 0,
            reason: e.to_string(),
        })?;
        let acceptor = TlsAcceptor::from(cfg.tls.server_config()?);
        let shared = Arc::new(Shared {
            id: cfg.id,
            tls: cfg.tls.clone(),
            peers: Mutex::new(BTreeMap::new()),
            unreachable: Mutex::default(),
            runtime: tokio::runtime::Handle::current(),
        });
        let (conn_tx, conn_rx) = mpsc::channel::<std::io::Result<AuthedStream>>(16);
        let tls = cfg.tls.clone();
        // Accept loop: TLS handshakes and authorization happen here, outside tonic, so the
        // service sees only connections from authorized members.
        let accept = tokio::spawn(async move {
            loop {
                let Ok((tcp, addr)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let tls = tls.clone();
                let conn_tx = conn_tx.clone();
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    let stream = match acceptor.accept(tcp).await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(%addr, error = %e, "raft TLS handshake failed");
                            return;
                        }
                    };
                    let der = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| c.to_vec());
                    let Some(der) = der else { return };
                    match tls.authorize_der(&der) {
                        Ok(node) => {
                            let _ = conn_tx.send(Ok(AuthedStream { inner: stream, node })).await;
                        }
                        Err(e) => tracing::warn!(%addr, error = %e, "raft peer refused"),
                    }
                });
            }
        });
        let (closed_tx, closed) = tokio::sync::watch::channel(false);
        let svc = Service {
            id: cfg.id,
            sink,
            frames: AtomicU64::new(0),
            closed,
        };
        let server = tokio::spawn(async move {
            let r = tonic::transport::Server::builder()
                .add_service(
                    RaftTransportServer::new(svc)
                        .max_decoding_message_size(GRPC_FRAME_BYTES_MAX)
                        .max_encoding_message_size(GRPC_FRAME_BYTES_MAX),
                )
                .serve_with_incoming(ReceiverStream::new(conn_rx))
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "raft transport server stopped");
            }
        });
        Ok(GrpcTransport {
            shared,
            local_addr,
            server,
            accept,
            closed: closed_tx,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for GrpcTransport {
    fn drop(&mut self) {
        let _ = self.closed.send(true);
        self.accept.abort();
        self.server.abort();
        for (_, p) in std::mem::take(&mut *self.shared.peers.lock().expect("peers lock")) {
            p.task.abort();
        }
    }
}

impl Transport for GrpcTransport {
    fn send(&self, msg: WireMessage) -> Result<()> {
        let to = msg.to();
        let mut peers = self.shared.peers.lock().expect("peers lock");
        let Some(p) = peers.get_mut(&to) else {
            return Err(ConsensusError::Transport {
                peer: to,
                reason: "unknown peer".into(),
            });
        };
        match p.tx.try_send(msg) {
            Ok(()) => Ok(()),
            Err(_) => {
                p.link.dropped += 1;
                self.shared.unreachable.lock().expect("lock").insert(to);
                Err(ConsensusError::Busy {
                    queue: "peer send queue",
                    limit: PEER_QUEUE_MESSAGES_MAX,
                })
            }
        }
    }

    fn set_peer(&self, id: u64, address: &str) {
        let mut peers = self.shared.peers.lock().expect("peers lock");
        if peers.get(&id).is_some_and(|p| p.link.address == address) {
            return;
        }
        if let Some(old) = peers.remove(&id) {
            old.task.abort();
        }
        let (tx, rx) = mpsc::channel(PEER_QUEUE_MESSAGES_MAX);
        let task = self
            .shared
            .runtime
            .spawn(peer_task(self.shared.clone(), id, address.to_owned(), rx));
        peers.insert(
            id,
            PeerState {
                link: PeerLink {
                    address: address.to_owned(),
                    ..PeerLink::default()
                },
                tx,
                task,
            },
        );
    }

    fn remove_peer(&self, id: u64) {
        if let Some(p) = self.shared.peers.lock().expect("peers lock").remove(&id) {
            p.task.abort();
        }
    }

    fn take_unreachable(&self) -> Vec<u64> {
        std::mem::take(&mut *self.shared.unreachable.lock().expect("lock"))
            .into_iter()
            .collect()
    }

    fn links(&self) -> BTreeMap<u64, PeerLink> {
        self.shared
            .peers
            .lock()
            .expect("peers lock")
            .iter()
            .map(|(&id, p)| {
                let mut l = p.link.clone();
                l.queued = PEER_QUEUE_MESSAGES_MAX - p.tx.capacity();
                (id, l)
            })
            .collect()
    }
}

/// What a node's server tells its peers' open streams when the node stops in order.
const TRANSPORT_STOPPED: &str = "the node's transport stopped";

fn set_reachable(shared: &Shared, id: u64, outcome: std::result::Result<(), &str>) {
    if let Some(p) = shared.peers.lock().expect("peers lock").get_mut(&id) {
        if let Err(e) = outcome {
            let stopped = |r: &str| r.contains(TRANSPORT_STOPPED);
            let was_stopped = p.link.last_error.as_deref().is_some_and(stopped);
            let address = &p.link.address;
            // Logged when the link goes down, and when the reason changes while it is down,
            // so a peer that stays away while this node retries does not flood the log. A
            // peer that said it was stopping is news, not trouble, and so are the refused
            // reconnects until it is back.
            if p.link.reachable && stopped(e) {
                tracing::info!(peer = id, %address, error = e, "raft peer link down");
            } else if p.link.reachable || (!was_stopped && p.link.last_error.as_deref() != Some(e)) {
                tracing::warn!(peer = id, %address, error = e, "raft peer link down");
            }
            if p.link.reachable || !was_stopped {
                p.link.last_error = Some(e.to_owned());
            }
        }
        p.link.reachable = outcome.is_ok();
    }
    if outcome.is_err() {
        shared.unreachable.lock().expect("lock").insert(id);
    }
}

async fn connect(
    shared: &Shared,
    id: u64,
    address: &str,
) -> Result<RaftTransportClient<tonic::transport::Channel>> {
    let connector = TlsConnector::from(shared.tls.client_config(id)?);
    let addr = address.to_owned();
    let err = |reason: String| ConsensusError::Transport { peer: id, reason };
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| err(e.to_string()))?
        .connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
        .tcp_nodelay(true);
    let channel = endpoint
        .connect_with_connector(tower::service_fn(move |_uri: tonic::transport::Uri| {
            let connector = connector.clone();
            let addr = addr.clone();
            async move {
                let tcp = TcpStream::connect(&addr).await?;
                tcp.set_nodelay(true)?;
                // The name is not checked (identity comes from the certificate), but TLS
                // needs one.
                let name = rustls::pki_types::ServerName::try_from("roamledger-node").expect("valid name");
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await
        .map_err(|e| err(format!("connect {address}: {e}")))?;
    let mut client = RaftTransportClient::new(channel)
        .max_encoding_message_size(GRPC_FRAME_BYTES_MAX)
        .max_decoding_message_size(GRPC_FRAME_BYTES_MAX);
    let hello = Hello {
        from: shared.id,
        to: id,
    };
    let reply = tokio::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), client.greet(hello))
        .await
        .map_err(|_| {
            err(format!(
                "greeting {address}: no answer in {CONNECT_TIMEOUT_MS} ms"
            ))
        })?
        .map_err(|e| err(format!("greeting {address}: {}: {}", e.code(), e.message())))?
        .into_inner();
    if reply.node != id {
        return Err(err(format!("{address} answers as node {}", reply.node)));
    }
    Ok(client)
}

async fn peer_task(shared: Arc<Shared>, id: u64, address: String, mut queue: mpsc::Receiver<WireMessage>) {
    let mut backoff = RECONNECT_BACKOFF_MIN_MS;
    loop {
        let mut client = match connect(&shared, id, &address).await {
            Ok(c) => c,
            Err(e) => {
                set_reachable(&shared, id, Err(&e.to_string()));
                // Drop what queued up meanwhile: Raft retransmits, and stale traffic only
                // delays the fresh heartbeats behind it.
                while queue.try_recv().is_ok() {}
                tokio::time::sleep(Duration::from_millis(backoff)).await;
                backoff = (backoff * 2).min(RECONNECT_BACKOFF_MAX_MS);
                continue;
            }
        };
        set_reachable(&shared, id, Ok(()));
        backoff = RECONNECT_BACKOFF_MIN_MS;
        let (ftx, frx) = mpsc::channel::<RaftFrame>(64);
        let mut call = Box::pin(client.stream(ReceiverStream::new(frx)));
        let ended = loop {
            tokio::select! {
                m = queue.recv() => match m {
                    Some(m) => {
                        if ftx.send(to_frame(m)).await.is_err() {
                            break "stream closed".to_owned();
                        }
                    }
                    None => return, // transport dropped
                },
                r = &mut call => break match r {
                    Err(e) => format!("stream ended: {}: {}", e.code(), e.message()),
                    Ok(_) => "stream ended by the peer".to_owned(),
                },
            }
        };
        set_reachable(&shared, id, Err(&ended));
        tokio::time::sleep(Duration::from_millis(backoff)).await;
    }
}

/// A server-side TLS connection tagged with the Raft id its certificate may speak for.
struct AuthedStream {
    inner: tokio_rustls::server::TlsStream<TcpStream>,
    node: u64,
}

/// The authorized Raft id of a connection, in each request's extensions.
#[derive(Clone, Copy, Debug)]
struct AuthorizedNode(u64);

impl Connected for AuthedStream {
    type ConnectInfo = AuthorizedNode;

    fn connect_info(&self) -> AuthorizedNode {
        AuthorizedNode(self.node)
    }
}

impl AsyncRead for AuthedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for AuthedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

struct Service {
    id: u64,
    sink: InboundSink,
    frames: AtomicU64,
    /// Set when the transport is dropped: open streams end, so peers reconnect to whatever
    /// serves this address next (tonic keeps serving accepted connections on its own tasks).
    closed: tokio::sync::watch::Receiver<bool>,
}

/// The Raft id the request's connection was authorized for.
fn authorized<T>(request: &Request<T>) -> std::result::Result<u64, GrpcStatus> {
    match request.extensions().get::<AuthorizedNode>() {
        Some(&AuthorizedNode(peer)) => Ok(peer),
        None => Err(GrpcStatus::unauthenticated("no authorized node identity")),
    }
}

impl Service {
    /// A greeting or frame must come from the node the connection's certificate speaks for
    /// (`peer`) and be meant for this node.
    fn check_route(&self, what: &str, peer: u64, from: u64, to: u64) -> std::result::Result<(), GrpcStatus> {
        if from != peer {
            return Err(GrpcStatus::permission_denied(format!(
                "certificate speaks for node {peer}, {what} claims {from}"
            )));
        }
        if to != self.id {
            return Err(GrpcStatus::invalid_argument(format!(
                "{what} for node {to} reached node {}",
                self.id
            )));
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl RaftTransport for Service {
    async fn greet(&self, request: Request<Hello>) -> std::result::Result<Response<HelloReply>, GrpcStatus> {
        let peer = authorized(&request)?;
        let hello = request.into_inner();
        self.check_route("greeting", peer, hello.from, hello.to)?;
        Ok(Response::new(HelloReply { node: self.id }))
    }

    async fn stream(
        &self,
        request: Request<Streaming<RaftFrame>>,
    ) -> std::result::Result<Response<StreamSummary>, GrpcStatus> {
        let peer = authorized(&request)?;
        let mut stream = request.into_inner();
        let mut n = 0u64;
        let mut closed = self.closed.clone();
        loop {
            let frame = tokio::select! {
                f = stream.message() => match f? {
                    Some(f) => f,
                    None => break,
                },
                _ = closed.changed() => {
                    return Err(GrpcStatus::unavailable(TRANSPORT_STOPPED));
                }
            };
            self.check_route("frame", peer, frame.from, frame.to)?;
            let m = from_frame(frame).map_err(|e| GrpcStatus::invalid_argument(e.to_string()))?;
            n += 1;
            self.frames.fetch_add(1, Ordering::Relaxed);
            if !(self.sink)(m) {
                tracing::debug!(peer, "mailbox full; raft message dropped");
            }
        }
        Ok(Response::new(StreamSummary { frames: n }))
    }
}
