//! Node configuration: a TOML file, environment overrides, defaults.
//!
//! ```toml
//! tadig = "KORKT"                 # this carrier
//! node_id = 1                     # its Raft node id (as registered)
//! data_dir = "data/KORKT"         # RocksDB lives here
//! api_listen = "127.0.0.1:7401"   # client API (gRPC, mutual TLS)
//! raft_listen = "127.0.0.1:7501"  # node-to-node Raft (gRPC, mutual TLS)
//! metrics_listen = "127.0.0.1:9401"  # Prometheus metrics (plain HTTP); "" disables
//! genesis = "genesis.bin"         # optional: the genesis command to propose when founding
//! join = false                    # true: join a running consortium (see `cluster add`)
//!
//! [tls]                           # this node's identity
//! ca = "certs/ca.pem"
//! cert = "certs/KORKT/node.pem"
//! key = "certs/KORKT/node.key.pem"
//!
//! [signing]                       # the carrier's signing key (batches, statements, ...)
//! cert = "certs/KORKT/signer.pem"
//! key = "certs/KORKT/signer.key.pem"
//!
//! [raft]
//! tick_ms = 100
//! election_ticks = 10
//! heartbeat_ticks = 2
//! sync = true                     # fsync the log (never turn off in production)
//! log_retain_mib = 128            # log kept behind the applied index (for lagging peers)
//! log_compact_every_mib = 16      # applied commands between two log compactions
//!
//! [[peers]]                       # every member, this node included
//! node_id = 2
//! tadig = "JPNDO"
//! raft_address = "127.0.0.1:7502"
//! api_address = "127.0.0.1:7402"
//! ```
//!
//! Relative paths are relative to the configuration file. Environment variables override
//! the file: `ROAMLEDGER_DATA_DIR`, `ROAMLEDGER_API_LISTEN`, `ROAMLEDGER_RAFT_LISTEN`,
//! `ROAMLEDGER_METRICS_LISTEN`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use settlement::types::Tadig;

use crate::error::NodeError;

/// TLS identity files.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TlsFiles {
    /// Consortium root certificate (PEM).
    pub ca: PathBuf,
    /// This node's certificate (PEM).
    pub cert: PathBuf,
    /// Its PKCS#8 key (PEM).
    pub key: PathBuf,
}

/// The carrier's signing certificate and key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SigningFiles {
    /// Signing certificate (PEM).
    pub cert: PathBuf,
    /// Its PKCS#8 Ed25519 key (PEM).
    pub key: PathBuf,
}

/// The largest `log_retain_mib` / `log_compact_every_mib` accepted (1 TiB), far beyond any
/// disk a node would give its log and well inside a byte count's range.
const RAFT_LOG_MIB_MAX: u64 = 1 << 20;

/// Raft timing and durability.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct RaftSettings {
    /// Milliseconds per Raft tick.
    pub tick_ms: u64,
    /// Ticks without a leader before a follower campaigns.
    pub election_ticks: usize,
    /// Ticks between leader heartbeats.
    pub heartbeat_ticks: usize,
    /// Sync the log to disk before acknowledging (fsync).
    pub sync: bool,
    /// MiB of commands the log keeps behind the applied index when it is compacted, so a
    /// peer that fell that far behind catches up from the log rather than by snapshot.
    pub log_retain_mib: u64,
    /// MiB of applied commands between two log compactions. The log's disk footprint is
    /// about `log_retain_mib` plus this (plus what the state's last flush still needs).
    pub log_compact_every_mib: u64,
}

impl Default for RaftSettings {
    fn default() -> Self {
        RaftSettings {
            tick_ms: 100,
            election_ticks: 10,
            heartbeat_ticks: 2,
            sync: true,
            log_retain_mib: consensus::limits::LOG_RETAIN_BYTES >> 20,
            log_compact_every_mib: consensus::limits::LOG_COMPACT_INTERVAL_BYTES >> 20,
        }
    }
}

/// One member of the consortium as this node knows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerConfig {
    /// Raft node id.
    pub node_id: u64,
    /// The carrier.
    pub tadig: Tadig,
    /// Raft transport address.
    pub raft_address: String,
    /// Client API address.
    pub api_address: String,
}

/// A node's configuration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeConfig {
    /// This carrier.
    pub tadig: Tadig,
    /// This node's Raft id.
    pub node_id: u64,
    /// Where RocksDB keeps the log and the state.
    pub data_dir: PathBuf,
    /// Client API listen address.
    #[serde(default = "default_api")]
    pub api_listen: String,
    /// Raft transport listen address.
    #[serde(default = "default_raft")]
    pub raft_listen: String,
    /// Metrics listen address; empty disables the endpoint.
    #[serde(default = "default_metrics")]
    pub metrics_listen: String,
    /// The genesis command to propose when the consortium is founded.
    #[serde(default)]
    pub genesis: Option<PathBuf>,
    /// This node joins a running consortium: it does not take `peers` as the founding
    /// membership, and waits until the leader adds it (`cluster add`).
    #[serde(default)]
    pub join: bool,
    /// TLS identity.
    pub tls: TlsFiles,
    /// Signing key.
    pub signing: SigningFiles,
    /// Raft settings.
    #[serde(default)]
    pub raft: RaftSettings,
    /// Every member, this node included.
    pub peers: Vec<PeerConfig>,
}

fn default_api() -> String {
    "127.0.0.1:7401".into()
}

fn default_raft() -> String {
    "127.0.0.1:7501".into()
}

fn default_metrics() -> String {
    "127.0.0.1:9401".into()
}

impl NodeConfig {
    /// Loads `path`, applies environment overrides, resolves relative paths and validates.
    pub fn load(path: &Path) -> Result<NodeConfig, NodeError> {
        let text = std::fs::read_to_string(path).map_err(|e| NodeError::io(path, e))?;
        let mut c: NodeConfig = toml::from_str(&text).map_err(|e| NodeError::Config {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        c.apply_env(|k| std::env::var(k).ok());
        let base = path.parent().unwrap_or(Path::new("."));
        c.resolve(base);
        c.validate().map_err(|reason| NodeError::Config {
            path: path.display().to_string(),
            reason,
        })?;
        Ok(c)
    }

    /// Applies `ROAMLEDGER_*` overrides read through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(v) = get("ROAMLEDGER_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("ROAMLEDGER_API_LISTEN") {
            self.api_listen = v;
        }
        if let Some(v) = get("ROAMLEDGER_RAFT_LISTEN") {
            self.raft_listen = v;
        }
        if let Some(v) = get("ROAMLEDGER_METRICS_LISTEN") {
            self.metrics_listen = v;
        }
    }

    /// Makes relative paths relative to `base`.
    pub fn resolve(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        fix(&mut self.tls.ca);
        fix(&mut self.tls.cert);
        fix(&mut self.tls.key);
        fix(&mut self.signing.cert);
        fix(&mut self.signing.key);
        if let Some(g) = &mut self.genesis {
            fix(g);
        }
    }

    /// Checks the configuration is coherent.
    pub fn validate(&self) -> Result<(), String> {
        for (what, a) in [
            ("api_listen", &self.api_listen),
            ("raft_listen", &self.raft_listen),
        ] {
            a.parse::<SocketAddr>()
                .map_err(|e| format!("{what} {a:?} is not an address such as 127.0.0.1:7401: {e}"))?;
        }
        if !self.metrics_listen.is_empty() {
            self.metrics_listen
                .parse::<SocketAddr>()
                .map_err(|e| format!("metrics_listen {:?}: {e}", self.metrics_listen))?;
        }
        if self.node_id == 0 {
            return Err("node_id must be at least 1".into());
        }
        if self.join && self.genesis.is_some() {
            return Err("a joining node (join = true) cannot found the consortium: remove genesis".into());
        }
        let me = self
            .peers
            .iter()
            .find(|p| p.node_id == self.node_id)
            .ok_or_else(|| format!("peers must list this node (node_id {})", self.node_id))?;
        if me.tadig != self.tadig {
            return Err(format!(
                "peers lists node {} as {}, but this node is {}",
                self.node_id, me.tadig, self.tadig
            ));
        }
        let mut ids: Vec<u64> = self.peers.iter().map(|p| p.node_id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != self.peers.len() {
            return Err("two peers share a node_id".into());
        }
        if self.raft.tick_ms == 0
            || self.raft.heartbeat_ticks == 0
            || self.raft.election_ticks <= self.raft.heartbeat_ticks
        {
            return Err("raft: tick_ms and heartbeat_ticks must be positive and election_ticks larger than heartbeat_ticks".into());
        }
        if self.raft.log_compact_every_mib == 0 {
            return Err("raft: log_compact_every_mib must be at least 1".into());
        }
        for (name, mib) in [
            ("log_retain_mib", self.raft.log_retain_mib),
            ("log_compact_every_mib", self.raft.log_compact_every_mib),
        ] {
            if mib > RAFT_LOG_MIB_MAX {
                return Err(format!(
                    "raft: {name} = {mib} is more than {RAFT_LOG_MIB_MAX} (1 TiB)"
                ));
            }
        }
        Ok(())
    }

    /// The Raft driver's settings this configuration asks for.
    pub fn peer_config(&self) -> consensus::PeerConfig {
        let mut peer = consensus::PeerConfig::new(self.node_id);
        peer.election_tick = self.raft.election_ticks;
        peer.heartbeat_tick = self.raft.heartbeat_ticks;
        peer.log_retain_bytes = self.raft.log_retain_mib << 20;
        peer.log_compact_interval_bytes = self.raft.log_compact_every_mib << 20;
        peer
    }

    /// The peer entry of `node_id`.
    pub fn peer(&self, node_id: u64) -> Option<&PeerConfig> {
        self.peers.iter().find(|p| p.node_id == node_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
tadig = "KORKT"
node_id = 1
data_dir = "data/KORKT"
[tls]
ca = "certs/ca.pem"
cert = "certs/KORKT/node.pem"
key = "certs/KORKT/node.key.pem"
[signing]
cert = "certs/KORKT/signer.pem"
key = "certs/KORKT/signer.key.pem"
[[peers]]
node_id = 1
tadig = "KORKT"
raft_address = "127.0.0.1:7501"
api_address = "127.0.0.1:7401"
[[peers]]
node_id = 2
tadig = "JPNDO"
raft_address = "127.0.0.1:7502"
api_address = "127.0.0.1:7402"
"#;

    #[test]
    fn loads_with_defaults_env_and_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, SAMPLE).unwrap();
        let c = NodeConfig::load(&path).unwrap();
        assert_eq!(c.raft, RaftSettings::default());
        assert_eq!(c.data_dir, dir.path().join("data/KORKT"));
        assert_eq!(c.peer(2).unwrap().tadig.as_str(), "JPNDO");
        let mut c2 = c.clone();
        c2.apply_env(|k| (k == "ROAMLEDGER_API_LISTEN").then(|| "127.0.0.1:9999".to_string()));
        assert_eq!(c2.api_listen, "127.0.0.1:9999");
    }

    #[test]
    fn clear_errors_for_incoherent_configs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let load_error = |text: &str| {
            std::fs::write(&path, text).unwrap();
            NodeConfig::load(&path).unwrap_err().to_string()
        };
        for (text, expected) in [
            (
                SAMPLE.replace("node_id = 1\ndata_dir", "node_id = 3\ndata_dir"),
                "peers must list this node",
            ),
            (
                SAMPLE.replace("tadig = \"KORKT\"\nnode_id", "tadig = \"korkt\"\nnode_id"),
                "TADIG",
            ),
            (format!("api_listen = \"nowhere\"\n{SAMPLE}"), "api_listen"),
            (
                format!("{SAMPLE}[raft]\nlog_compact_every_mib = 0\n"),
                "log_compact_every_mib must be at least 1",
            ),
            (
                format!("{SAMPLE}[raft]\nlog_retain_mib = 2000000\n"),
                "log_retain_mib = 2000000 is more than",
            ),
        ] {
            let e = load_error(&text);
            assert!(e.contains(expected), "{expected:?} not in: {e}");
        }
    }

    #[test]
    fn log_retention_is_set_in_mib_and_reaches_the_raft_driver() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            format!("{SAMPLE}[raft]\nlog_retain_mib = 16\nlog_compact_every_mib = 32\n"),
        )
        .unwrap();
        let c = NodeConfig::load(&path).unwrap();
        assert_eq!((c.raft.log_retain_mib, c.raft.log_compact_every_mib), (16, 32));
        assert_eq!(
            c.raft.tick_ms, 100,
            "the other [raft] settings keep their defaults"
        );
        let peer = c.peer_config();
        assert_eq!(peer.log_retain_bytes, 16 << 20);
        assert_eq!(peer.log_compact_interval_bytes, 32 << 20);
        assert_eq!(peer.election_tick, 10);
    }
}
