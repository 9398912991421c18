//! TADIG codes: the five-character operator identifiers of GSMA TD.13.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::TypeError;

/// A TADIG code such as `KORKT`: exactly five characters, upper-case ASCII letters and digits.
///
/// TD.13 builds it from the ISO 3166 alpha-3 country code and a two-character operator
/// suffix; we validate the character set and length, not the country registry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tadig([u8; 5]);

impl Tadig {
    /// Length of every TADIG code.
    pub const LEN: usize = 5;

    /// Validates and builds a TADIG code from bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TypeError> {
        let code: [u8; 5] = bytes.try_into().map_err(|_| TypeError::Tadig {
            value: String::from_utf8_lossy(bytes).into_owned(),
            reason: "must be exactly 5 characters",
        })?;
        if !code.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
            return Err(TypeError::Tadig {
                value: String::from_utf8_lossy(bytes).into_owned(),
                reason: "only upper-case letters A-Z and digits 0-9 are allowed",
            });
        }
        Ok(Tadig(code))
    }

    /// The five ASCII bytes.
    pub fn as_bytes(&self) -> &[u8; 5] {
        &self.0
    }

    /// The code as a string slice.
    pub fn as_str(&self) -> &str {
        // Validated ASCII on construction.
        std::str::from_utf8(&self.0).expect("TADIG is ASCII")
    }
}

impl FromStr for Tadig {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tadig::from_bytes(s.as_bytes())
    }
}

impl fmt::Display for Tadig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Tadig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tadig({})", self.as_str())
    }
}

impl Serialize for Tadig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Tadig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_upper_case_letters_and_digits() {
        assert_eq!("KORKT".parse::<Tadig>().unwrap().as_str(), "KORKT");
        assert_eq!("EUR01".parse::<Tadig>().unwrap().as_str(), "EUR01");
    }

    #[test]
    fn rejects_wrong_length_and_characters() {
        for bad in ["KORK", "KORKTT", "korkt", "KOR-T", "", "KÖRKT"] {
            let err = bad.parse::<Tadig>().unwrap_err();
            assert!(matches!(err, TypeError::Tadig { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn orders_like_its_text() {
        let a: Tadig = "AUTPT".parse().unwrap();
        let b: Tadig = "KORKT".parse().unwrap();
        assert!(a < b);
    }
}
