//! TAP 3.12 (GSMA TD.57): the data model, a streaming decoder, an encoder, TD.57 validation,
//! mapping to settlement [`UsageRecord`](settlement::types::UsageRecord)s and a synthetic
//! traffic generator.
//!
//! TAP 3.11 files decode too: 3.12 added items and call event types, and unknown items are
//! skipped as TD.57's extension markers require.

pub mod generate;
pub mod ingest;
pub mod model;
pub mod normalize;
pub mod stream;
pub mod validate;

use crate::ber::{BerType, Element, Tag, Writer};
use crate::error::Error;
pub use model::*;
pub use stream::{BatchHeader, BatchTrailer, EventItem, Opened, TapStream, open};

/// `CallEventDetail`: the untagged CHOICE of call event types. Each alternative is boxed so an
/// event is two words wide whatever its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallEvent {
    /// [APPLICATION 9].
    MobileOriginatedCall(Box<MobileOriginatedCall>),
    /// [APPLICATION 10].
    MobileTerminatedCall(Box<MobileTerminatedCall>),
    /// [APPLICATION 11].
    SupplServiceEvent(Box<SupplServiceEvent>),
    /// [APPLICATION 12].
    ServiceCentreUsage(Box<ServiceCentreUsage>),
    /// [APPLICATION 14].
    GprsCall(Box<GprsCall>),
    /// [APPLICATION 17].
    ContentTransaction(Box<ContentTransaction>),
    /// [APPLICATION 297].
    LocationService(Box<LocationService>),
    /// [APPLICATION 433].
    MessagingEvent(Box<MessagingEvent>),
    /// [APPLICATION 434].
    MobileSession(Box<MobileSession>),
    /// A call event type added after TAP 3.12's extension marker (or in a foreign tag
    /// class), by its tag; re-encoded empty under the same tag.
    Unknown(Tag),
}

/// Tags of the `CallEventDetail` alternatives.
pub mod event_tag {
    /// `mobileOriginatedCall`.
    pub const MOC: u32 = 9;
    /// `mobileTerminatedCall`.
    pub const MTC: u32 = 10;
    /// `supplServiceEvent`.
    pub const SUPPL_SERVICE: u32 = 11;
    /// `serviceCentreUsage`.
    pub const SERVICE_CENTRE: u32 = 12;
    /// `gprsCall`.
    pub const GPRS: u32 = 14;
    /// `contentTransaction`.
    pub const CONTENT: u32 = 17;
    /// `locationService`.
    pub const LOCATION: u32 = 297;
    /// `messagingEvent`.
    pub const MESSAGING: u32 = 433;
    /// `mobileSession`.
    pub const MOBILE_SESSION: u32 = 434;
}

impl CallEvent {
    /// The alternative's ASN.1 name, e.g. `mobileOriginatedCall` (`unknown` for extensions).
    pub fn asn_name(&self) -> &'static str {
        match self {
            CallEvent::MobileOriginatedCall(_) => "mobileOriginatedCall",
            CallEvent::MobileTerminatedCall(_) => "mobileTerminatedCall",
            CallEvent::SupplServiceEvent(_) => "supplServiceEvent",
            CallEvent::ServiceCentreUsage(_) => "serviceCentreUsage",
            CallEvent::GprsCall(_) => "gprsCall",
            CallEvent::ContentTransaction(_) => "contentTransaction",
            CallEvent::LocationService(_) => "locationService",
            CallEvent::MessagingEvent(_) => "messagingEvent",
            CallEvent::MobileSession(_) => "mobileSession",
            CallEvent::Unknown(_) => "unknown",
        }
    }

    /// The alternative's `[APPLICATION n]` number.
    pub fn tag(&self) -> u32 {
        use event_tag::*;
        match self {
            CallEvent::MobileOriginatedCall(_) => MOC,
            CallEvent::MobileTerminatedCall(_) => MTC,
            CallEvent::SupplServiceEvent(_) => SUPPL_SERVICE,
            CallEvent::ServiceCentreUsage(_) => SERVICE_CENTRE,
            CallEvent::GprsCall(_) => GPRS,
            CallEvent::ContentTransaction(_) => CONTENT,
            CallEvent::LocationService(_) => LOCATION,
            CallEvent::MessagingEvent(_) => MESSAGING,
            CallEvent::MobileSession(_) => MOBILE_SESSION,
            CallEvent::Unknown(t) => t.number,
        }
    }

    /// Decodes one `CallEventDetail` element.
    pub fn decode(el: &Element<'_>) -> Result<CallEvent, Error> {
        use event_tag::*;
        if el.tag.class != crate::ber::Class::Application {
            return Ok(CallEvent::Unknown(el.tag));
        }
        /// Decodes straight into the box: no move of the event after decoding.
        fn boxed<T: Default>(
            el: &Element<'_>,
            f: impl FnOnce(&mut T, &Element<'_>) -> Result<(), Error>,
        ) -> Result<Box<T>, Error> {
            let mut b = Box::<T>::default();
            f(&mut b, el)?;
            Ok(b)
        }
        Ok(match el.tag.number {
            MOC => CallEvent::MobileOriginatedCall(boxed(el, MobileOriginatedCall::decode_fields)?),
            MTC => CallEvent::MobileTerminatedCall(boxed(el, MobileTerminatedCall::decode_fields)?),
            SUPPL_SERVICE => CallEvent::SupplServiceEvent(boxed(el, SupplServiceEvent::decode_fields)?),
            SERVICE_CENTRE => CallEvent::ServiceCentreUsage(boxed(el, ServiceCentreUsage::decode_fields)?),
            GPRS => CallEvent::GprsCall(boxed(el, GprsCall::decode_fields)?),
            CONTENT => CallEvent::ContentTransaction(boxed(el, ContentTransaction::decode_fields)?),
            LOCATION => CallEvent::LocationService(boxed(el, LocationService::decode_fields)?),
            MESSAGING => CallEvent::MessagingEvent(boxed(el, MessagingEvent::decode_fields)?),
            MOBILE_SESSION => CallEvent::MobileSession(boxed(el, MobileSession::decode_fields)?),
            _ => CallEvent::Unknown(el.tag),
        })
    }

    /// Encodes the event as one element.
    pub fn encode(&self, w: &mut Writer) {
        let t = match self {
            CallEvent::Unknown(t) => *t,
            _ => Tag::app(self.tag()),
        };
        match self {
            CallEvent::MobileOriginatedCall(e) => e.encode_ber(t, w),
            CallEvent::MobileTerminatedCall(e) => e.encode_ber(t, w),
            CallEvent::SupplServiceEvent(e) => e.encode_ber(t, w),
            CallEvent::ServiceCentreUsage(e) => e.encode_ber(t, w),
            CallEvent::GprsCall(e) => e.encode_ber(t, w),
            CallEvent::ContentTransaction(e) => e.encode_ber(t, w),
            CallEvent::LocationService(e) => e.encode_ber(t, w),
            CallEvent::MessagingEvent(e) => e.encode_ber(t, w),
            CallEvent::MobileSession(e) => e.encode_ber(t, w),
            CallEvent::Unknown(_) => {
                let m = w.begin(t);
                w.end(m);
            }
        }
    }

    /// The event as BER bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(256);
        self.encode(&mut w);
        w.into_bytes()
    }
}

/// A whole transfer batch in memory (for small files, tests and the encoder; large files are
/// read with [`open`] as a stream).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransferBatch {
    /// `batchControlInfo`.
    pub batch_control_info: Option<BatchControlInfo>,
    /// `accountingInfo`.
    pub accounting_info: Option<AccountingInfo>,
    /// `networkInfo`.
    pub network_info: Option<NetworkInfo>,
    /// `messageDescriptionInfo`.
    pub message_description_info: Vec<MessageDescriptionInformation>,
    /// `callEventDetails`.
    pub call_event_details: Vec<CallEvent>,
    /// `auditControlInfo`.
    pub audit_control_info: Option<AuditControlInfo>,
}

/// `DataInterChange`: what a TAP file holds.
// One value per file.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataInterChange {
    /// [APPLICATION 1].
    TransferBatch(TransferBatch),
    /// [APPLICATION 2].
    Notification(Notification),
}

/// Tag numbers of the transfer batch's groups.
pub mod group_tag {
    /// `transferBatch`.
    pub const TRANSFER_BATCH: u32 = 1;
    /// `notification`.
    pub const NOTIFICATION: u32 = 2;
    /// `callEventDetails`.
    pub const CALL_EVENT_DETAILS: u32 = 3;
    /// `batchControlInfo`.
    pub const BATCH_CONTROL_INFO: u32 = 4;
    /// `accountingInfo`.
    pub const ACCOUNTING_INFO: u32 = 5;
    /// `networkInfo`.
    pub const NETWORK_INFO: u32 = 6;
    /// `messageDescriptionInfo`.
    pub const MESSAGE_DESCRIPTION_INFO: u32 = 8;
    /// `MessageDescriptionInformation` (list element).
    pub const MESSAGE_DESCRIPTION_INFORMATION: u32 = 143;
    /// `auditControlInfo`.
    pub const AUDIT_CONTROL_INFO: u32 = 15;
}

impl TransferBatch {
    /// The header groups.
    pub fn header(&self) -> BatchHeader {
        BatchHeader {
            batch_control_info: self.batch_control_info.clone(),
            accounting_info: self.accounting_info.clone(),
            network_info: self.network_info.clone(),
            message_description_info: self.message_description_info.clone(),
        }
    }
}

/// Decodes a whole TAP file held in memory. Any error, including one inside a single call
/// event, fails the decode; use [`open`] to keep going past bad events.
pub fn decode(bytes: &[u8]) -> Result<DataInterChange, Error> {
    match open(bytes)? {
        Opened::Notification(n) => Ok(DataInterChange::Notification(n)),
        Opened::TransferBatch(mut s) => {
            let mut events = Vec::new();
            for item in s.by_ref() {
                events.push(item?.event);
            }
            let header = s.header().clone();
            let trailer = s.finish()?;
            Ok(DataInterChange::TransferBatch(TransferBatch {
                batch_control_info: header.batch_control_info,
                accounting_info: header.accounting_info,
                network_info: header.network_info,
                message_description_info: header.message_description_info,
                call_event_details: events,
                audit_control_info: trailer.audit_control_info,
            }))
        }
    }
}

/// Encodes a TAP file with definite lengths, groups in TD.57 order.
pub fn encode(d: &DataInterChange) -> Vec<u8> {
    use group_tag::*;
    let mut w = Writer::with_capacity(4096);
    match d {
        DataInterChange::Notification(n) => n.encode_ber(Tag::app(NOTIFICATION), &mut w),
        DataInterChange::TransferBatch(b) => {
            let m = w.begin(Tag::app(TRANSFER_BATCH));
            if let Some(x) = &b.batch_control_info {
                x.encode_ber(Tag::app(BATCH_CONTROL_INFO), &mut w);
            }
            if let Some(x) = &b.accounting_info {
                x.encode_ber(Tag::app(ACCOUNTING_INFO), &mut w);
            }
            if let Some(x) = &b.network_info {
                x.encode_ber(Tag::app(NETWORK_INFO), &mut w);
            }
            crate::ber::encode_list(
                &b.message_description_info,
                Tag::app(MESSAGE_DESCRIPTION_INFO),
                MESSAGE_DESCRIPTION_INFORMATION,
                &mut w,
            );
            if !b.call_event_details.is_empty() {
                let l = w.begin(Tag::app(CALL_EVENT_DETAILS));
                for e in &b.call_event_details {
                    e.encode(&mut w);
                }
                w.end(l);
            }
            if let Some(x) = &b.audit_control_info {
                x.encode_ber(Tag::app(AUDIT_CONTROL_INFO), &mut w);
            }
            w.end(m);
        }
    }
    w.into_bytes()
}
