//! Who is calling: the carrier and role in a client certificate, and what they may do.
//!
//! The TLS layer accepts any client certificate that proves possession of its key, then
//! this module decides, with a reason the caller can read: the chain must lead to the
//! consortium root, the certificate must be valid now, and it must carry a SAN URI
//! `urn:roamledger:carrier:<TADIG>:role:<role>` (standards-draft §3.2). Refusing here rather
//! than in the handshake gives clients "certificate expired on ..." instead of a bare TLS
//! alert.
//!
//! Rules (DESIGN §3):
//! - a `submitter` submits usage only where its carrier is the visited network, and only
//!   through its own carrier's node;
//! - a `reader`, `submitter` or `admin` reads statements, records and proofs only of pairs
//!   its carrier is party to (records carry subscribers' personal data); the period's
//!   netting report, which every member settles by, is readable by all members;
//! - an `admin` of a carrier runs that carrier's operations (agreements, disputes, closing
//!   periods, cluster changes) through that carrier's node;
//! - `node` certificates are for Raft traffic only (checked by the consensus transport).

use settlement::crypto::{Role, parse_certificate, verify_issued_by};
use settlement::types::{Tadig, UtcTime};

use crate::error::NodeError;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Its carrier.
    pub tadig: Tadig,
    /// Its role.
    pub role: Role,
}

/// The certificate a client presented, as the TLS layer saw it.
#[derive(Clone, Debug, Default)]
pub struct PresentedCertificate {
    /// The end-entity certificate, DER, when one was presented.
    pub der: Option<Vec<u8>>,
}

/// Checks a presented client certificate at time `now` against the consortium `roots`.
pub fn authenticate(
    presented: &PresentedCertificate,
    roots: &[Vec<u8>],
    now: UtcTime,
) -> Result<Caller, NodeError> {
    let der = presented
        .der
        .as_deref()
        .ok_or_else(|| NodeError::Unauthenticated("a client certificate is required (mutual TLS)".into()))?;
    let info =
        parse_certificate(der).map_err(|e| NodeError::Unauthenticated(format!("client certificate: {e}")))?;
    if !roots.iter().any(|r| verify_issued_by(der, r).is_ok()) {
        return Err(NodeError::Unauthenticated(format!(
            "client certificate {} is not issued by this consortium's root",
            info.subject
        )));
    }
    info.check_valid_at(now)
        .map_err(|e| NodeError::Unauthenticated(format!("client certificate {}: {e}", info.subject)))?;
    let (tadig, role) = info
        .identities
        .iter()
        .copied()
        .find(|(_, r)| *r != Role::Signer)
        .ok_or_else(|| {
            NodeError::Unauthenticated(format!(
                "client certificate {} carries no urn:roamledger:carrier:<TADIG>:role:<role> identity",
                info.subject
            ))
        })?;
    Ok(Caller { tadig, role })
}

impl Caller {
    /// Fails unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role], action: &str) -> Result<(), NodeError> {
        if roles.contains(&self.role) {
            return Ok(());
        }
        let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
        Err(NodeError::Forbidden(format!(
            "{action} needs the role {}; {} presented role {}",
            names.join(" or "),
            self.tadig,
            self.role.name()
        )))
    }

    /// Submitting usage: a submitter of `node_tadig`'s carrier, as the visited network.
    pub fn may_submit(&self, node_tadig: Tadig, visited: Tadig) -> Result<(), NodeError> {
        self.require(&[Role::Submitter], "submitting usage")?;
        if self.tadig != node_tadig {
            return Err(NodeError::Forbidden(format!(
                "{} may submit only through its own node; this is {node_tadig}'s node",
                self.tadig
            )));
        }
        if visited != self.tadig {
            return Err(NodeError::Forbidden(format!(
                "{} may submit only usage where it is the visited network, not {visited}'s",
                self.tadig
            )));
        }
        Ok(())
    }

    /// Reading a pair's statements, records or proofs.
    pub fn may_read_pair(&self, visited: Tadig, home: Tadig) -> Result<(), NodeError> {
        self.require(
            &[Role::Reader, Role::Submitter, Role::Admin],
            "reading statements",
        )?;
        if self.tadig == visited || self.tadig == home {
            return Ok(());
        }
        Err(NodeError::Forbidden(format!(
            "{} is not party to {visited}->{home}",
            self.tadig
        )))
    }

    /// True when the caller may read (visited, home).
    pub fn can_read_pair(&self, visited: Tadig, home: Tadig) -> bool {
        self.may_read_pair(visited, home).is_ok()
    }

    /// Operations on behalf of `node_tadig`'s carrier (agreements, disputes, closing,
    /// cluster changes): an admin of that carrier.
    pub fn may_operate(&self, node_tadig: Tadig, action: &str) -> Result<(), NodeError> {
        self.require(&[Role::Admin], action)?;
        if self.tadig != node_tadig {
            return Err(NodeError::Forbidden(format!(
                "{action}: an admin of {} cannot act through {node_tadig}'s node",
                self.tadig
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use settlement::testkit::TestPki;

    fn t(s: &str) -> Tadig {
        s.parse().unwrap()
    }

    fn now() -> UtcTime {
        "2026-11-23T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn authentication_explains_refusals() {
        let pki = TestPki::new("root");
        let roots = vec![pki.root_der.clone()];
        let ok = pki.issue("KORKT", Role::Submitter, (2025, 2030));
        let caller = authenticate(
            &PresentedCertificate {
                der: Some(ok.cert_der),
            },
            &roots,
            now(),
        )
        .unwrap();
        assert_eq!(
            caller,
            Caller {
                tadig: t("KORKT"),
                role: Role::Submitter
            }
        );

        let e = authenticate(&PresentedCertificate::default(), &roots, now()).unwrap_err();
        assert!(e.to_string().contains("client certificate is required"), "{e}");

        let foreign = TestPki::new("other").issue("KORKT", Role::Submitter, (2025, 2030));
        let e = authenticate(
            &PresentedCertificate {
                der: Some(foreign.cert_der),
            },
            &roots,
            now(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("not issued by this consortium's root"),
            "{e}"
        );

        let expired = pki.issue_named("KORKT", Role::Reader, (2020, 2024), "old reader");
        let e = authenticate(
            &PresentedCertificate {
                der: Some(expired.cert_der),
            },
            &roots,
            now(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not valid at"), "{e}");
    }

    #[test]
    fn authorization_rules() {
        let sub = Caller {
            tadig: t("KORKT"),
            role: Role::Submitter,
        };
        sub.may_submit(t("KORKT"), t("KORKT")).unwrap();
        assert!(
            sub.may_submit(t("JPNDO"), t("KORKT")).is_err(),
            "through another carrier's node"
        );
        assert!(
            sub.may_submit(t("KORKT"), t("JPNDO")).is_err(),
            "usage of another visited network"
        );
        let reader = Caller {
            tadig: t("KORKT"),
            role: Role::Reader,
        };
        assert!(
            reader.may_submit(t("KORKT"), t("KORKT")).is_err(),
            "a reader submitting"
        );
        reader.may_read_pair(t("JPNDO"), t("KORKT")).unwrap();
        let e = reader.may_read_pair(t("JPNDO"), t("CHNCM")).unwrap_err();
        assert!(e.to_string().contains("not party"), "{e}");
        let admin = Caller {
            tadig: t("CHNCM"),
            role: Role::Admin,
        };
        assert!(
            admin.may_read_pair(t("JPNDO"), t("KORKT")).is_err(),
            "admins read only their pairs"
        );
        admin.may_operate(t("CHNCM"), "closing a period").unwrap();
        assert!(admin.may_operate(t("KORKT"), "closing a period").is_err());
        assert!(reader.may_operate(t("KORKT"), "closing a period").is_err());
    }
}
