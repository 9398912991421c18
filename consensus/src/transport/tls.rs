//! Mutual TLS 1.3 for node-to-node traffic (rustls, ring provider).
//!
//! Every node presents a certificate issued under the consortium's roots whose SAN URI
//! names it (`urn:roamledger:carrier:<TADIG>:role:node`). Both sides verify the chain; then
//! the node's [`Authorizer`] maps the peer's identity to the Raft id it may speak for (or
//! refuses it). The server rejects frames whose `from` is not that id; the client refuses
//! a server whose identity does not map to the peer it meant to reach. Host names play no
//! part: nodes are identified by certificate, not by DNS.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use settlement::crypto::Role;
use settlement::types::Tadig;

use crate::error::{ConsensusError, Result};

/// Who is on the other end of a TLS connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The end-entity certificate, DER.
    pub cert_der: Vec<u8>,
    /// Carrier identities from its SAN URIs.
    pub identities: Vec<(Tadig, Role)>,
}

impl PeerIdentity {
    /// Parses the certificate's identities.
    pub fn from_der(der: &[u8]) -> Result<PeerIdentity> {
        let info = settlement::crypto::parse_certificate(der).map_err(|e| ConsensusError::Tls {
            reason: format!("peer certificate: {e}"),
        })?;
        Ok(PeerIdentity {
            cert_der: der.to_vec(),
            identities: info.identities,
        })
    }

    /// The TADIG of the first `node` identity, if any.
    pub fn node_tadig(&self) -> Option<Tadig> {
        self.identities
            .iter()
            .find(|(_, r)| *r == Role::Node)
            .map(|(t, _)| *t)
    }
}

/// Maps a verified peer identity to the Raft id it may send as, or refuses it (the error
/// text is logged). The node crate checks its registry of member nodes here.
pub type Authorizer = Arc<dyn Fn(&PeerIdentity) -> std::result::Result<u64, String> + Send + Sync>;

/// This node's TLS material and policy.
#[derive(Clone)]
pub struct TlsConfig {
    /// Consortium trust roots, DER.
    pub roots: Vec<Vec<u8>>,
    /// This node's certificate chain (end entity first), DER.
    pub cert_chain: Vec<Vec<u8>>,
    /// This node's private key, PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
    /// Who may talk Raft to us, and as whom.
    pub authorize: Authorizer,
}

fn tls_err(what: &str, e: impl std::fmt::Display) -> ConsensusError {
    ConsensusError::Tls {
        reason: format!("{what}: {e}"),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsConfig {
    fn root_store(&self) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        for r in &self.roots {
            roots
                .add(CertificateDer::from(r.clone()))
                .map_err(|e| tls_err("trust root", e))?;
        }
        Ok(roots)
    }

    fn chain_and_key(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let chain = self
            .cert_chain
            .iter()
            .map(|c| CertificateDer::from(c.clone()))
            .collect();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()));
        (chain, key)
    }

    /// Server side: TLS 1.3 only, client certificates required and chained to the roots.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>> {
        let p = provider();
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(self.root_store()?), p.clone())
            .build()
            .map_err(|e| tls_err("client verifier", e))?;
        let (chain, key) = self.chain_and_key();
        let mut cfg = ServerConfig::builder_with_provider(p)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| tls_err("protocol versions", e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| tls_err("server certificate", e))?;
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(cfg))
    }

    /// Client side for connecting to node `expected`: TLS 1.3 only, our certificate
    /// presented, the server's chain verified and its identity authorized as `expected`.
    pub fn client_config(&self, expected: u64) -> Result<Arc<ClientConfig>> {
        let p = provider();
        let verifier = Arc::new(NodeServerVerifier {
            roots: Arc::new(self.root_store()?),
            provider: p.clone(),
            authorize: self.authorize.clone(),
            expected,
        });
        let (chain, key) = self.chain_and_key();
        let mut cfg = ClientConfig::builder_with_provider(p)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| tls_err("protocol versions", e))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls_err("client certificate", e))?;
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(cfg))
    }

    /// Authorizes the end-entity certificate a client presented.
    pub fn authorize_der(&self, der: &[u8]) -> Result<u64> {
        let id = PeerIdentity::from_der(der)?;
        (self.authorize)(&id).map_err(|reason| ConsensusError::Tls {
            reason: format!("peer {:?} refused: {reason}", id.identities),
        })
    }
}

/// Verifies a node's server certificate by chain and identity, not by host name.
struct NodeServerVerifier {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    authorize: Authorizer,
    expected: u64,
}

impl std::fmt::Debug for NodeServerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeServerVerifier")
            .field("expected", &self.expected)
            .finish()
    }
}

impl ServerCertVerifier for NodeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        let id =
            PeerIdentity::from_der(end_entity.as_ref()).map_err(|e| rustls::Error::General(e.to_string()))?;
        match (self.authorize)(&id) {
            Ok(n) if n == self.expected => Ok(ServerCertVerified::assertion()),
            Ok(n) => Err(rustls::Error::General(format!(
                "server identifies as node {n}, expected node {}",
                self.expected
            ))),
            Err(reason) => Err(rustls::Error::General(format!("server refused: {reason}"))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
