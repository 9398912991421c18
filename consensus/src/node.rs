//! The threaded runtime: one OS thread per node drives its [`Peer`] (ticks on a timer,
//! drains the mailbox, runs the ready loop), and a cloneable [`NodeHandle`] gives async
//! callers proposals, linearizable reads, membership changes and status.
//!
//! The driver thread is a plain thread, not a tokio task: the ready loop blocks on fsync
//! and on the state machine, which must not stall an async runtime's workers.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::{ConsensusError, Result};
use crate::limits::{APPLY_RETRY_MS, MAILBOX_DRAIN_PER_LOOP_MAX, MAILBOX_MESSAGES_MAX};
use crate::machine::StateMachine;
use crate::peer::{MemberChange, Peer, PeerConfig, ReadCallback, Status};
use crate::storage::{Membership, RocksEngine};
use crate::transport::{InboundSink, PeerLink, Transport, WireMessage};

enum Mail<M> {
    Inbound(WireMessage),
    Propose(Vec<u8>, oneshot::Sender<Result<Vec<u8>>>),
    Read(ReadCallback<M>),
    Membership(Vec<MemberChange>, oneshot::Sender<Result<Vec<u8>>>),
    TransferLeader(u64, oneshot::Sender<Result<()>>),
    Campaign,
    Stop,
}

/// A node's mailbox, made before its transport so the transport can deliver into it.
pub struct Mailbox<M> {
    tx: SyncSender<Mail<M>>,
    rx: Receiver<Mail<M>>,
}

impl<M: StateMachine> Mailbox<M> {
    /// A bounded mailbox ([`MAILBOX_MESSAGES_MAX`]).
    pub fn new() -> Self {
        let (tx, rx) = sync_channel(MAILBOX_MESSAGES_MAX);
        Mailbox { tx, rx }
    }

    /// The sink a transport delivers inbound messages to.
    pub fn inbound_sink(&self) -> InboundSink {
        let tx = self.tx.clone();
        Arc::new(move |m| tx.try_send(Mail::Inbound(m)).is_ok())
    }
}

impl<M: StateMachine> Default for Mailbox<M> {
    fn default() -> Self {
        Self::new()
    }
}

/// Runtime settings.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Driver settings.
    pub peer: PeerConfig,
    /// Length of one tick.
    pub tick_interval: Duration,
}

impl NodeConfig {
    /// Defaults for node `id`: 100 ms ticks, elections after 1 to 2 s, heartbeats every 200 ms.
    pub fn new(id: u64) -> Self {
        NodeConfig {
            peer: PeerConfig::new(id),
            tick_interval: Duration::from_millis(100),
        }
    }
}

/// A running node.
pub struct Node<M: StateMachine> {
    handle: NodeHandle<M>,
    thread: Option<JoinHandle<Option<ConsensusError>>>,
}

/// Talks to a running node from any thread or task.
pub struct NodeHandle<M> {
    id: u64,
    tx: SyncSender<Mail<M>>,
    status: Arc<Mutex<Status>>,
    transport: Arc<dyn Transport>,
}

impl<M> Clone for NodeHandle<M> {
    fn clone(&self) -> Self {
        NodeHandle {
            id: self.id,
            tx: self.tx.clone(),
            status: self.status.clone(),
            transport: self.transport.clone(),
        }
    }
}

impl<M: StateMachine> Node<M> {
    /// Opens the peer and starts its driver thread.
    pub fn start(
        cfg: NodeConfig,
        engine: RocksEngine,
        transport: Arc<dyn Transport>,
        mailbox: Mailbox<M>,
        bootstrap: Option<Membership>,
    ) -> Result<Node<M>> {
        let peer: Peer<M> = Peer::open(cfg.peer.clone(), engine, transport.clone(), bootstrap)?;
        let status = Arc::new(Mutex::new(peer.status()));
        let handle = NodeHandle {
            id: cfg.peer.id,
            tx: mailbox.tx.clone(),
            status: status.clone(),
            transport,
        };
        let rx = mailbox.rx;
        let thread = std::thread::Builder::new()
            .name(format!("raft-{}", cfg.peer.id))
            .spawn(move || drive(peer, rx, status, &cfg))
            .map_err(|e| ConsensusError::Config {
                reason: format!("cannot start the driver thread: {e}"),
            })?;
        Ok(Node {
            handle,
            thread: Some(thread),
        })
    }

    /// A handle for clients.
    pub fn handle(&self) -> NodeHandle<M> {
        self.handle.clone()
    }

    /// Stops the driver and waits for it; returns the error that stopped it, if any.
    ///
    /// A snapshot stream still being sent by a background sender thread finishes on its
    /// own and keeps the RocksDB instance open until then; reopening the same directory in
    /// this process right away can therefore fail with RocksDB's lock error (retry).
    pub fn stop(mut self) -> Option<ConsensusError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Option<ConsensusError> {
        let _ = self.handle.tx.send(Mail::Stop);
        self.thread.take().and_then(|t| t.join().unwrap_or(None))
    }
}

impl<M: StateMachine> Drop for Node<M> {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn drive<M: StateMachine>(
    mut peer: Peer<M>,
    rx: Receiver<Mail<M>>,
    status: Arc<Mutex<Status>>,
    cfg: &NodeConfig,
) -> Option<ConsensusError> {
    let tick = cfg.tick_interval;
    // A loop longer than this delays a leader's heartbeats; one longer than an election
    // timeout makes its followers campaign.
    let slow = tick.saturating_mul(u32::try_from(cfg.peer.heartbeat_tick).unwrap_or(u32::MAX));
    let mut next_tick = Instant::now() + tick;
    let fatal = 'outer: loop {
        let mut wait = next_tick.saturating_duration_since(Instant::now());
        if peer.has_unapplied() {
            wait = wait.min(Duration::from_millis(APPLY_RETRY_MS));
        }
        let mut handled = 0;
        let received = rx.recv_timeout(wait);
        let woke = Instant::now();
        match received {
            Ok(Mail::Stop) | Err(RecvTimeoutError::Disconnected) => break None,
            Ok(m) => {
                if let Err(e) = handle(&mut peer, m) {
                    break Some(e);
                }
                handled += 1;
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        // Drain what else is waiting, so one ready (one fsync) covers many proposals.
        while handled < MAILBOX_DRAIN_PER_LOOP_MAX {
            match rx.try_recv() {
                Ok(Mail::Stop) => break 'outer None,
                Ok(m) => {
                    if let Err(e) = handle(&mut peer, m) {
                        break 'outer Some(e);
                    }
                    handled += 1;
                }
                Err(_) => break,
            }
        }
        let mailbox = woke.elapsed();
        if Instant::now() >= next_tick {
            peer.tick();
            next_tick += tick;
            if next_tick < Instant::now() {
                next_tick = Instant::now() + tick; // we fell behind; do not burst ticks
            }
        }
        let began = Instant::now();
        if let Err(e) = peer.poll_background() {
            break Some(e);
        }
        let background = began.elapsed();
        if let Err(e) = peer.on_ready() {
            break Some(e);
        }
        *status.lock().expect("status lock") = peer.status();
        let took = woke.elapsed();
        if took > slow {
            let t = peer.ready_timings();
            tracing::warn!(
                id = peer.id(),
                loop_ms = took.as_millis() as u64,
                mailbox_ms = mailbox.as_millis() as u64,
                messages = handled,
                background_ms = background.as_millis() as u64,
                apply_ms = t.apply.as_millis() as u64,
                applied_entries = t.applied_entries,
                applied_bytes = t.applied_bytes,
                log_append_ms = t.log_append.as_millis() as u64,
                appended_entries = t.appended_entries,
                snapshot_install_ms = t.snapshot_install.as_millis() as u64,
                compaction_ms = t.compaction.as_millis() as u64,
                "driver loop slower than a heartbeat interval: ticks and heartbeats waited"
            );
        }
    };
    if let Some(e) = &fatal {
        tracing::error!(id = peer.id(), error = %e, "node stopped");
    } else if let Err(e) = peer.flush_state() {
        // A graceful stop leaves the state flushed, so the next start has nothing to replay
        // and an offline audit sees everything applied; failing that, the start replays.
        tracing::error!(id = peer.id(), error = %e, "flushing the state at stop failed");
    }
    peer.fail_all(|| ConsensusError::Stopped);
    // Answer whatever is still queued.
    while let Ok(m) = rx.try_recv() {
        match m {
            Mail::Propose(_, tx) | Mail::Membership(_, tx) => {
                let _ = tx.send(Err(ConsensusError::Stopped));
            }
            Mail::Read(cb) => cb(Err(ConsensusError::Stopped)),
            Mail::TransferLeader(_, tx) => {
                let _ = tx.send(Err(ConsensusError::Stopped));
            }
            _ => {}
        }
    }
    fatal
}

fn handle<M: StateMachine>(peer: &mut Peer<M>, m: Mail<M>) -> Result<()> {
    match m {
        Mail::Inbound(w) => peer.receive(w)?,
        Mail::Propose(data, tx) => peer.propose(data, tx),
        Mail::Read(cb) => peer.read(cb),
        Mail::Membership(changes, tx) => peer.change_membership(changes, tx),
        Mail::TransferLeader(to, tx) => {
            let _ = tx.send(peer.transfer_leader(to));
        }
        Mail::Campaign => {
            // Refused for learners and removed nodes; not a reason to stop.
            if let Err(e) = peer.campaign() {
                tracing::warn!(id = peer.id(), error = %e, "campaign refused");
            }
        }
        Mail::Stop => {}
    }
    Ok(())
}

impl<M: StateMachine> NodeHandle<M> {
    /// This node's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    fn post(&self, m: Mail<M>) -> Result<()> {
        self.tx.try_send(m).map_err(|e| match e {
            TrySendError::Full(_) => ConsensusError::Busy {
                queue: "node mailbox",
                limit: MAILBOX_MESSAGES_MAX,
            },
            TrySendError::Disconnected(_) => ConsensusError::Stopped,
        })
    }

    /// Proposes `command` and waits until it is committed and applied here; returns the
    /// state machine's response. Errors say whether to go to the leader or retry.
    pub async fn propose(&self, command: Vec<u8>) -> Result<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        self.post(Mail::Propose(command, tx))?;
        rx.await.map_err(|_| ConsensusError::Stopped)?
    }

    /// A linearizable read: waits for the read index, then runs `f` against the state
    /// machine on the driver thread (keep `f` short: applying waits for it).
    pub async fn read<R: Send + 'static>(&self, f: impl FnOnce(&M) -> R + Send + 'static) -> Result<R> {
        let (tx, rx) = oneshot::channel();
        self.post(Mail::Read(Box::new(move |sm: Result<&M>| {
            let _ = tx.send(sm.map(f));
        })))?;
        rx.await.map_err(|_| ConsensusError::Stopped)?
    }

    /// Proposes a membership change (see [`Peer::change_membership`]) and waits until it
    /// applied here.
    pub async fn change_membership(&self, changes: Vec<MemberChange>) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.post(Mail::Membership(changes, tx))?;
        rx.await.map_err(|_| ConsensusError::Stopped)?.map(|_| ())
    }

    /// Asks this node (the leader) to transfer leadership to `to`.
    pub async fn transfer_leader(&self, to: u64) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.post(Mail::TransferLeader(to, tx))?;
        rx.await.map_err(|_| ConsensusError::Stopped)?
    }

    /// Starts an election on this node.
    pub fn campaign(&self) -> Result<()> {
        self.post(Mail::Campaign)
    }

    /// Status as of the driver's last loop.
    pub fn status(&self) -> Status {
        self.status.lock().expect("status lock").clone()
    }

    /// Transport link state per peer (reachability, queue depth, drops).
    pub fn links(&self) -> std::collections::BTreeMap<u64, PeerLink> {
        self.transport.links()
    }
}
