//! The kinds of roaming usage TAP 3.12 carries, and the unit each is counted in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::TypeError;

/// What a usage record is for. Mirrors the `CallEventDetail` choices of TD.57, with SMS split
/// out of MOC/MTC (TAP marks it with TeleService codes 22 and 21).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(u8)]
pub enum ServiceKind {
    /// Mobile originated voice call (`mobileOriginatedCall`, speech teleservices).
    VoiceOriginated = 1,
    /// Mobile terminated voice call (`mobileTerminatedCall`).
    VoiceTerminated = 2,
    /// SMS sent by the roamer (MOC with TeleService 22).
    SmsOriginated = 3,
    /// SMS received by the roamer (MTC with TeleService 21).
    SmsTerminated = 4,
    /// Packet data session (`gprsCall`).
    Data = 5,
    /// IMS mobile session, e.g. VoLTE (`mobileSession`).
    MobileSession = 6,
    /// IMS messaging event (`messagingEvent`).
    MessagingEvent = 7,
    /// Supplementary service event (`supplServiceEvent`).
    SupplementaryService = 8,
    /// Service centre usage (`serviceCentreUsage`).
    ServiceCentreUsage = 9,
    /// Content transaction (`contentTransaction`).
    Content = 10,
    /// Location service (`locationService`).
    Location = 11,
}

/// The base unit a service's `charged_units` count.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseUnit {
    /// Seconds of duration.
    Second,
    /// Bytes of volume, uplink plus downlink.
    Byte,
    /// Events (messages, invocations, transactions).
    Event,
}

impl ServiceKind {
    /// Every service kind, in code order.
    pub const ALL: [ServiceKind; 11] = [
        ServiceKind::VoiceOriginated,
        ServiceKind::VoiceTerminated,
        ServiceKind::SmsOriginated,
        ServiceKind::SmsTerminated,
        ServiceKind::Data,
        ServiceKind::MobileSession,
        ServiceKind::MessagingEvent,
        ServiceKind::SupplementaryService,
        ServiceKind::ServiceCentreUsage,
        ServiceKind::Content,
        ServiceKind::Location,
    ];

    /// The stable one-byte wire code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The service for a wire code.
    pub fn from_code(code: u8) -> Result<Self, TypeError> {
        ServiceKind::ALL
            .get(usize::from(code).wrapping_sub(1))
            .copied()
            .ok_or(TypeError::ServiceCode { code })
    }

    /// The stable text name used in JSON, CSV and canonical statements.
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::VoiceOriginated => "voice_mo",
            ServiceKind::VoiceTerminated => "voice_mt",
            ServiceKind::SmsOriginated => "sms_mo",
            ServiceKind::SmsTerminated => "sms_mt",
            ServiceKind::Data => "data",
            ServiceKind::MobileSession => "mobile_session",
            ServiceKind::MessagingEvent => "messaging_event",
            ServiceKind::SupplementaryService => "supplementary_service",
            ServiceKind::ServiceCentreUsage => "service_centre_usage",
            ServiceKind::Content => "content",
            ServiceKind::Location => "location",
        }
    }

    /// The unit `charged_units` is counted in for this service.
    pub fn base_unit(self) -> BaseUnit {
        match self {
            ServiceKind::VoiceOriginated | ServiceKind::VoiceTerminated | ServiceKind::MobileSession => {
                BaseUnit::Second
            }
            ServiceKind::Data => BaseUnit::Byte,
            ServiceKind::SmsOriginated
            | ServiceKind::SmsTerminated
            | ServiceKind::MessagingEvent
            | ServiceKind::SupplementaryService
            | ServiceKind::ServiceCentreUsage
            | ServiceKind::Content
            | ServiceKind::Location => BaseUnit::Event,
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ServiceKind {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServiceKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or_else(|| TypeError::ServiceName { name: s.to_owned() })
    }
}

impl Serialize for ServiceKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for ServiceKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for k in ServiceKind::ALL {
            assert_eq!(ServiceKind::from_code(k.code()).unwrap(), k);
            assert_eq!(k.name().parse::<ServiceKind>().unwrap(), k);
        }
        assert!(ServiceKind::from_code(0).is_err());
        assert!(ServiceKind::from_code(12).is_err());
        assert!("fax".parse::<ServiceKind>().is_err());
    }
}
