//! BCD digit strings as TAP, RAP and NRTRDE carry them.
//!
//! TD.57 `BCDString`: two digits per octet, the **high** nibble first, a single `F` filler
//! when the number of digits is odd, no other filler. (This is not the swapped "TBCD" of
//! 3GPP TS 29.002: TAP writes IMSI `262092464569171` as `26 20 92 46 45 69 17 1F`.)

/// Decodes a BCD string into decimal digits. Digits `a`..`e` (allowed by TD.57 for some
/// items) and a filler anywhere but in the last nibble are refused: every caller here wants
/// a subscriber or party number.
pub fn decode_digits(bytes: &[u8]) -> Result<String, &'static str> {
    if bytes.is_empty() {
        return Err("empty BCD string");
    }
    let mut out = String::with_capacity(bytes.len() * 2);
    let last = bytes.len() - 1;
    for (i, &b) in bytes.iter().enumerate() {
        for (k, nibble) in [b >> 4, b & 0x0F].into_iter().enumerate() {
            match nibble {
                0..=9 => out.push(char::from(b'0' + nibble)),
                0x0F if i == last && k == 1 => {}
                0x0F => return Err("filler F allowed only as the last half-octet"),
                _ => return Err("BCD digit a-e where only 0-9 are allowed"),
            }
        }
    }
    Ok(out)
}

/// Encodes decimal digits as BCD (high nibble first, `F` filler for an odd count).
pub fn encode_digits(digits: &str) -> Result<Vec<u8>, &'static str> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("BCD input must be one or more decimal digits");
    }
    let d: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
    Ok(d.chunks(2)
        .map(|c| (c[0] << 4) | c.get(1).copied().unwrap_or(0x0F))
        .collect())
}

/// Digits of an ASCII number field, tolerating what producers write around them: spaces
/// (TD.57 says to discard them), a leading `+`, and a trailing `F` filler copied from BCD.
pub fn ascii_digits(bytes: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(bytes).ok()?.trim_matches(' ');
    let s = s.strip_prefix('+').unwrap_or(s);
    let s = s.strip_suffix(['F', 'f']).unwrap_or(s);
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tap_imsi_with_filler() {
        let b = [0x26, 0x20, 0x92, 0x46, 0x45, 0x69, 0x17, 0x1F];
        assert_eq!(decode_digits(&b).unwrap(), "262092464569171");
        assert_eq!(encode_digits("262092464569171").unwrap(), b);
        assert_eq!(decode_digits(&[0x43, 0x66]).unwrap(), "4366");
    }

    #[test]
    fn refuses_bad_nibbles() {
        assert!(decode_digits(&[]).is_err());
        assert!(decode_digits(&[0x1F, 0x23]).is_err(), "filler in the middle");
        assert!(decode_digits(&[0xF1]).is_err(), "filler in the high nibble");
        assert!(decode_digits(&[0x1A]).is_err());
        assert!(encode_digits("12a").is_err());
        assert!(encode_digits("").is_err());
    }

    #[test]
    fn ascii_numbers() {
        assert_eq!(ascii_digits(b"43234455664F").as_deref(), Some("43234455664"));
        assert_eq!(ascii_digits(b" +4369912345 ").as_deref(), Some("4369912345"));
        assert_eq!(ascii_digits(b"sip:x"), None);
        assert_eq!(ascii_digits(b""), None);
    }

    proptest! {
        #[test]
        fn round_trip(d in "[0-9]{1,19}") {
            prop_assert_eq!(decode_digits(&encode_digits(&d).unwrap()).unwrap(), d);
        }
    }
}
