//! File naming conventions.
//!
//! - TAP (TD.57): `CD` (chargeable, live) or `TD` (test) + sender TADIG + recipient TADIG +
//!   five-digit file sequence number, e.g. `CDKORKTJPNDO00042`.
//! - RAP (TD.32): `RC` (live) or `RT` (test) + sender + recipient + five-digit RAP sequence
//!   number. The RAP sender is the home network returning data.
//! - NRTRDE (TD.35): `NR` + sender + recipient + seven-digit sequence number (no test
//!   prefix).
//!
//! Names seen in the field often carry a suffix (`.tap311`, `_CONTRANS.TAP311`): parsing
//! accepts anything after the fixed part when it starts with `.` or `_`, and returns it.

use std::fmt;

use settlement::types::Tadig;

use crate::error::Error;

/// Which convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFamily {
    /// TAP transfer batch or notification.
    Tap,
    /// RAP return batch.
    Rap,
    /// NRTRDE.
    Nrtrde,
}

impl FileFamily {
    fn digits(self) -> usize {
        match self {
            FileFamily::Tap | FileFamily::Rap => 5,
            FileFamily::Nrtrde => 7,
        }
    }
}

/// A parsed file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileName {
    /// TAP, RAP or NRTRDE.
    pub family: FileFamily,
    /// Test data.
    pub test: bool,
    /// Sender.
    pub sender: Tadig,
    /// Recipient.
    pub recipient: Tadig,
    /// Sequence number.
    pub sequence: u32,
    /// Anything after the fixed part (empty when produced).
    pub suffix: String,
}

impl FileName {
    /// A TAP file name.
    pub fn tap(sender: Tadig, recipient: Tadig, sequence: u32, test: bool) -> Result<Self, Error> {
        Self::make(FileFamily::Tap, sender, recipient, sequence, test)
    }

    /// A RAP file name.
    pub fn rap(sender: Tadig, recipient: Tadig, sequence: u32, test: bool) -> Result<Self, Error> {
        Self::make(FileFamily::Rap, sender, recipient, sequence, test)
    }

    /// An NRTRDE file name.
    pub fn nrtrde(sender: Tadig, recipient: Tadig, sequence: u32) -> Result<Self, Error> {
        Self::make(FileFamily::Nrtrde, sender, recipient, sequence, false)
    }

    fn make(
        family: FileFamily,
        sender: Tadig,
        recipient: Tadig,
        sequence: u32,
        test: bool,
    ) -> Result<Self, Error> {
        let max = 10u32.pow(family.digits() as u32) - 1;
        let f = FileName {
            family,
            test,
            sender,
            recipient,
            sequence,
            suffix: String::new(),
        };
        if sequence == 0 || sequence > max {
            return Err(Error::FileName {
                name: f.to_string(),
                reason: format!("sequence number {sequence} is outside 1..={max}"),
            });
        }
        Ok(f)
    }

    /// Parses a name (a bare file name, not a path).
    pub fn parse(name: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::FileName {
            name: name.to_owned(),
            reason,
        };
        let b = name.as_bytes();
        if b.len() < 2 || !name.is_char_boundary(2) {
            return Err(bad("too short for a TAP, RAP or NRTRDE name".to_owned()));
        }
        let (family, test) = match &b[..2] {
            b"CD" => (FileFamily::Tap, false),
            b"TD" => (FileFamily::Tap, true),
            b"RC" => (FileFamily::Rap, false),
            b"RT" => (FileFamily::Rap, true),
            b"NR" => (FileFamily::Nrtrde, false),
            _ => {
                return Err(bad(
                    "must start with CD or TD (TAP), RC or RT (RAP), or NR (NRTRDE)".to_owned(),
                ));
            }
        };
        let n = family.digits();
        let fixed = 2 + 5 + 5 + n;
        if b.len() < fixed {
            return Err(bad(format!(
                "expected {fixed} characters: prefix, two TADIG codes, {n}-digit sequence"
            )));
        }
        let sender = std::str::from_utf8(&b[2..7])
            .ok()
            .and_then(|s| s.parse::<Tadig>().ok())
            .ok_or_else(|| bad("characters 3-7 are not a sender TADIG code".to_owned()))?;
        let recipient = std::str::from_utf8(&b[7..12])
            .ok()
            .and_then(|s| s.parse::<Tadig>().ok())
            .ok_or_else(|| bad("characters 8-12 are not a recipient TADIG code".to_owned()))?;
        let seq = &b[12..fixed];
        if !seq.iter().all(u8::is_ascii_digit) {
            return Err(bad(format!(
                "the last {n} characters of the fixed part must be digits"
            )));
        }
        let sequence = seq.iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0'));
        if sequence == 0 {
            return Err(bad("sequence number 0 is not allowed".to_owned()));
        }
        let suffix = if name.is_char_boundary(fixed) {
            &name[fixed..]
        } else {
            ""
        };
        if !(suffix.is_empty() || suffix.starts_with('.') || suffix.starts_with('_'))
            || !name.is_char_boundary(fixed)
        {
            return Err(bad(format!(
                "unexpected characters after the {fixed}-character name"
            )));
        }
        Ok(FileName {
            family,
            test,
            sender,
            recipient,
            sequence,
            suffix: suffix.to_owned(),
        })
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match (self.family, self.test) {
            (FileFamily::Tap, false) => "CD",
            (FileFamily::Tap, true) => "TD",
            (FileFamily::Rap, false) => "RC",
            (FileFamily::Rap, true) => "RT",
            (FileFamily::Nrtrde, _) => "NR",
        };
        write!(
            f,
            "{prefix}{}{}{:0w$}{}",
            self.sender,
            self.recipient,
            self.sequence,
            self.suffix,
            w = self.family.digits()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Tadig {
        s.parse().unwrap()
    }

    #[test]
    fn produce_and_parse() {
        let f = FileName::tap(t("KORKT"), t("JPNDO"), 42, false).unwrap();
        assert_eq!(f.to_string(), "CDKORKTJPNDO00042");
        assert_eq!(FileName::parse("CDKORKTJPNDO00042").unwrap(), f);
        let r = FileName::rap(t("JPNDO"), t("KORKT"), 7, true).unwrap();
        assert_eq!(r.to_string(), "RTJPNDOKORKT00007");
        assert_eq!(FileName::parse(&r.to_string()).unwrap(), r);
        let n = FileName::nrtrde(t("KORKT"), t("JPNDO"), 1234).unwrap();
        assert_eq!(n.to_string(), "NRKORKTJPNDO0001234");
        assert_eq!(FileName::parse(&n.to_string()).unwrap(), n);
    }

    #[test]
    fn field_names_with_suffixes() {
        let f = FileName::parse("TDAUTPTEUR0100006_CONTRANS.TAP311").unwrap();
        assert!(f.test);
        assert_eq!(f.family, FileFamily::Tap);
        assert_eq!(f.sender.as_str(), "AUTPT");
        assert_eq!(f.recipient.as_str(), "EUR01");
        assert_eq!(f.sequence, 6);
        assert_eq!(f.suffix, "_CONTRANS.TAP311");
        assert_eq!(f.to_string(), "TDAUTPTEUR0100006_CONTRANS.TAP311");
    }

    #[test]
    fn bad_names_say_why() {
        for (name, why) in [
            ("", "too short"),
            ("XXKORKTJPNDO00042", "must start"),
            ("CDKORKTJPNDO0004", "expected 17"),
            ("CDkorktJPNDO00042", "sender"),
            ("CDKORKTJP-DO00042", "recipient"),
            ("CDKORKTJPNDO0004X", "digits"),
            ("CDKORKTJPNDO00000", "0 is not"),
            ("CDKORKTJPNDO00042X", "unexpected"),
            ("CDKORKTJPNDO0004é", "digits"),
            ("é", "must start"),
        ] {
            let e = FileName::parse(name).unwrap_err().to_string();
            assert!(e.contains(why), "{name}: {e}");
        }
        assert!(FileName::tap(t("KORKT"), t("JPNDO"), 100_000, false).is_err());
        assert!(FileName::nrtrde(t("KORKT"), t("JPNDO"), 0).is_err());
    }
}
