//! `numeric`: exact decimal, carried as text in the WIT so no precision is lost.
//!
//! Binary format: ndigits i16, weight i16, sign u16, dscale u16, then ndigits base-10000
//! digits; the value is sum(digit[i] * 10000^(weight - i)), shown with dscale fraction digits.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use postgres_types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;
const PINF: u16 = 0xD000;
const NINF: u16 = 0xF000;

/// A numeric value in its canonical text form.
#[derive(Debug, Clone, PartialEq)]
pub struct Numeric(pub String);

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        decode(raw)
            .map(Numeric)
            .ok_or_else(|| "malformed numeric value".into())
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

impl ToSql for Numeric {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        let encoded =
            encode(&self.0).ok_or_else(|| format!("{:?} is not a decimal number", self.0))?;
        out.put_slice(&encoded);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

fn read_u16(raw: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*raw.get(at)?, *raw.get(at + 1)?]))
}

/// Wire bytes to text, e.g. `-12.3400`.
pub fn decode(raw: &[u8]) -> Option<String> {
    let ndigits = read_u16(raw, 0)? as usize;
    let weight = read_u16(raw, 2)? as i16 as i32;
    let sign = read_u16(raw, 4)?;
    let dscale = read_u16(raw, 6)? as usize;
    match sign {
        NAN => return Some("NaN".into()),
        PINF => return Some("Infinity".into()),
        NINF => return Some("-Infinity".into()),
        POSITIVE | NEGATIVE => {}
        _ => return None,
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|i| read_u16(raw, 8 + 2 * i))
        .collect::<Option<_>>()?;
    if digits.iter().any(|d| *d > 9999) {
        return None;
    }
    let digit_at = |group: i32| -> u16 {
        // group g holds 10000^g; index in `digits` is weight - g.
        let idx = weight - group;
        if idx >= 0 && (idx as usize) < digits.len() {
            digits[idx as usize]
        } else {
            0
        }
    };
    let mut out = String::new();
    if sign == NEGATIVE {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for group in (0..=weight).rev() {
            let d = digit_at(group);
            if group == weight {
                out.push_str(&d.to_string());
            } else {
                out.push_str(&format!("{d:04}"));
            }
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut frac = String::new();
        let mut group = -1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", digit_at(group)));
            group -= 1;
        }
        frac.truncate(dscale);
        out.push_str(&frac);
    }
    Some(out)
}

/// Text to wire bytes; accepts `[+-]digits[.digits]`, `NaN`, `Infinity`, `-Infinity`.
pub fn encode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let special = |sign: u16| {
        let mut v = Vec::with_capacity(8);
        for x in [0u16, 0, sign, 0] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        Some(v)
    };
    match text.to_ascii_lowercase().as_str() {
        "nan" => return special(NAN),
        "infinity" | "+infinity" | "inf" => return special(PINF),
        "-infinity" | "-inf" => return special(NINF),
        _ => {}
    }
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let dscale = u16::try_from(frac_part.len()).ok()?;
    let int_part = int_part.trim_start_matches('0');
    // Pad the integer part on the left and the fraction on the right to whole groups of 4.
    let int_pad = (4 - int_part.len() % 4) % 4;
    let frac_pad = (4 - frac_part.len() % 4) % 4;
    let all: String = "0".repeat(int_pad) + int_part + frac_part + &"0".repeat(frac_pad);
    let mut groups: Vec<u16> = all
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).ok()?.parse().ok())
        .collect::<Option<_>>()?;
    let mut weight = ((int_pad + int_part.len()) / 4) as i32 - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let sign = if negative && !groups.is_empty() {
        NEGATIVE
    } else {
        POSITIVE
    };
    let mut out = Vec::with_capacity(8 + 2 * groups.len());
    out.extend_from_slice(&u16::try_from(groups.len()).ok()?.to_be_bytes());
    out.extend_from_slice(&i16::try_from(weight).ok()?.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_keep_every_digit() {
        for text in [
            "0",
            "1",
            "-1",
            "12.3400",
            "0.0001",
            "-0.5",
            "10000",
            "123456789012345678901234567890.000000000000000001",
            "NaN",
            "Infinity",
            "-Infinity",
            "0.00",
        ] {
            let encoded = encode(text).unwrap_or_else(|| panic!("encode {text}"));
            assert_eq!(
                decode(&encoded).as_deref(),
                Some(text),
                "round trip of {text}"
            );
        }
        assert_eq!(decode(&encode("+007.50").unwrap()).as_deref(), Some("7.50"));
        assert_eq!(encode("1e5"), None);
        assert_eq!(encode("12a"), None);
        assert_eq!(encode(""), None);
    }
}
