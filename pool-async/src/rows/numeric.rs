//! `numeric` values from the binary protocol, as exact decimal text.

use std::fmt::Write;

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;
const INFINITY: u16 = 0xD000;
const NEGATIVE_INFINITY: u16 = 0xF000;

/// Decodes a `numeric` in PostgreSQL's binary form into the text the
/// server would print (`-12.340`, `NaN`, `Infinity`), keeping every digit
/// and the value's scale.
///
/// The binary form is four 16-bit fields (the number of digits, the weight
/// of the first digit as a power of 10000, the sign, the number of decimal
/// digits after the point) and then the digits in base 10000.
pub(super) fn decode(raw: &[u8]) -> Result<String, String> {
    let field = |i: usize| -> Result<u16, String> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a numeric value shorter than its header".to_owned())
    };
    let ndigits = usize::from(field(0)?);
    // The weight is signed: -1 means the first digit is the first group of
    // four decimals after the point.
    let weight = i32::from(field(1)? as i16);
    let sign = field(2)?;
    let scale = usize::from(field(3)?);
    if raw.len() != 8 + ndigits * 2 {
        return Err(format!(
            "a numeric value of {} bytes for {ndigits} digits",
            raw.len()
        ));
    }
    match sign {
        NAN => return Ok("NaN".to_owned()),
        INFINITY => return Ok("Infinity".to_owned()),
        NEGATIVE_INFINITY => return Ok("-Infinity".to_owned()),
        POSITIVE | NEGATIVE => {}
        other => {
            return Err(format!(
                "a numeric value with the unknown sign {other:#06x}"
            ));
        }
    }
    let digits = (0..ndigits)
        .map(|i| field(4 + i))
        .collect::<Result<Vec<u16>, String>>()?;
    // The digit at `position` counts 10000^(weight - position).
    let digit = |position: i32| -> u16 {
        usize::try_from(position)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };

    let mut text = String::with_capacity(ndigits * 4 + 4);
    if sign == NEGATIVE {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for position in 0..=weight {
            if position == 0 {
                let _ = write!(text, "{}", digit(position));
            } else {
                let _ = write!(text, "{:04}", digit(position));
            }
        }
    }
    if scale > 0 {
        text.push('.');
        let start = text.len();
        let groups = scale.div_ceil(4);
        for group in 1..=groups {
            // `groups` is at most 16384, so it fits an i32.
            let position = weight + i32::try_from(group).unwrap_or(i32::MAX);
            let _ = write!(text, "{:04}", digit(position));
        }
        text.truncate(start + scale);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::decode;

    fn encode(ndigits: u16, weight: i16, sign: u16, scale: u16, digits: &[u16]) -> Vec<u8> {
        let mut raw = Vec::new();
        for field in [ndigits, weight as u16, sign, scale] {
            raw.extend_from_slice(&field.to_be_bytes());
        }
        for digit in digits {
            raw.extend_from_slice(&digit.to_be_bytes());
        }
        raw
    }

    #[test]
    fn decodes_integers_fractions_and_specials() {
        assert_eq!(decode(&encode(0, 0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(decode(&encode(0, 0, 0, 2, &[])).unwrap(), "0.00");
        assert_eq!(decode(&encode(2, 1, 0, 0, &[1, 2345])).unwrap(), "12345");
        assert_eq!(
            decode(&encode(2, 0, 0x4000, 3, &[12, 3400])).unwrap(),
            "-12.340"
        );
        assert_eq!(decode(&encode(1, -2, 0, 8, &[12])).unwrap(), "0.00000012");
        assert_eq!(decode(&encode(1, 2, 0, 0, &[7])).unwrap(), "700000000");
        assert_eq!(decode(&encode(0, 0, 0xC000, 0, &[])).unwrap(), "NaN");
        assert_eq!(decode(&encode(0, 0, 0xD000, 0, &[])).unwrap(), "Infinity");
        assert_eq!(decode(&encode(0, 0, 0xF000, 0, &[])).unwrap(), "-Infinity");
    }

    #[test]
    fn rejects_truncated_values() {
        assert!(decode(&[0, 1]).is_err());
        assert!(decode(&encode(2, 0, 0, 0, &[1])).is_err());
        assert!(decode(&encode(0, 0, 0x1234, 0, &[])).is_err());
    }
}
