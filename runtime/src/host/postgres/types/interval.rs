//! `interval`: months, days and microseconds, carried as an ISO 8601 duration in the WIT
//! (`P1Y2M3DT4H5M6.5S`), the format PostgreSQL itself prints with `intervalstyle = iso_8601`.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use postgres_types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

/// An interval as PostgreSQL stores it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

impl<'a> FromSql<'a> for Interval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        if raw.len() != 16 {
            return Err("malformed interval value".into());
        }
        let mut micros = [0u8; 8];
        micros.copy_from_slice(&raw[..8]);
        let mut days = [0u8; 4];
        days.copy_from_slice(&raw[8..12]);
        let mut months = [0u8; 4];
        months.copy_from_slice(&raw[12..16]);
        Ok(Interval {
            micros: i64::from_be_bytes(micros),
            days: i32::from_be_bytes(days),
            months: i32::from_be_bytes(months),
        })
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

impl ToSql for Interval {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.put_i64(self.micros);
        out.put_i32(self.days);
        out.put_i32(self.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}

impl Interval {
    /// ISO 8601 text: each non-zero part with its own sign; zero is `PT0S`.
    pub fn to_iso(self) -> String {
        let mut out = String::from("P");
        let (years, months) = (self.months / 12, self.months % 12);
        for (n, unit) in [
            (years as i64, 'Y'),
            (months as i64, 'M'),
            (self.days as i64, 'D'),
        ] {
            if n != 0 {
                out.push_str(&format!("{n}{unit}"));
            }
        }
        if self.micros != 0 {
            out.push('T');
            let hours = self.micros / 3_600_000_000;
            let minutes = (self.micros % 3_600_000_000) / 60_000_000;
            let micros = self.micros % 60_000_000;
            if hours != 0 {
                out.push_str(&format!("{hours}H"));
            }
            if minutes != 0 {
                out.push_str(&format!("{minutes}M"));
            }
            if micros != 0 {
                let sign = if micros < 0 { "-" } else { "" };
                let abs = micros.unsigned_abs();
                let (secs, frac) = (abs / 1_000_000, abs % 1_000_000);
                if frac == 0 {
                    out.push_str(&format!("{sign}{secs}S"));
                } else {
                    let frac = format!("{frac:06}");
                    out.push_str(&format!("{sign}{secs}.{}S", frac.trim_end_matches('0')));
                }
            }
        }
        if out == "P" {
            out.push_str("T0S");
        }
        out
    }

    /// Parses ISO 8601 durations: `P[nY][nM][nW][nD][T[nH][nM][n[.n]S]]`, each number with an
    /// optional sign, a fraction only on seconds.
    pub fn parse_iso(text: &str) -> Option<Interval> {
        let body = text
            .trim()
            .strip_prefix('P')
            .or_else(|| text.trim().strip_prefix('p'))?;
        if body.is_empty() {
            return None;
        }
        let mut iv = Interval::default();
        let mut in_time = false;
        let mut rest = body;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix(['T', 't']) {
                in_time = true;
                rest = r;
                continue;
            }
            let len =
                rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))?;
            let (number, tail) = rest.split_at(len);
            let unit = tail.chars().next()?;
            // Past the whole character: a guest's string may hold any UTF-8 here.
            rest = &tail[unit.len_utf8()..];
            let unit = unit.to_ascii_uppercase();
            match (in_time, unit) {
                (false, 'Y') => {
                    iv.months = iv
                        .months
                        .checked_add(number.parse::<i32>().ok()?.checked_mul(12)?)?
                }
                (false, 'M') => iv.months = iv.months.checked_add(number.parse().ok()?)?,
                (false, 'W') => {
                    iv.days = iv
                        .days
                        .checked_add(number.parse::<i32>().ok()?.checked_mul(7)?)?
                }
                (false, 'D') => iv.days = iv.days.checked_add(number.parse().ok()?)?,
                (true, 'H') => {
                    iv.micros = iv
                        .micros
                        .checked_add(number.parse::<i64>().ok()?.checked_mul(3_600_000_000)?)?
                }
                (true, 'M') => {
                    iv.micros = iv
                        .micros
                        .checked_add(number.parse::<i64>().ok()?.checked_mul(60_000_000)?)?
                }
                (true, 'S') => {
                    let micros = (number.parse::<f64>().ok()? * 1e6).round();
                    // Out of range is an error, not a value silently clamped by `as`.
                    if !micros.is_finite() || micros.abs() >= i64::MAX as f64 {
                        return None;
                    }
                    iv.micros = iv.micros.checked_add(micros as i64)?;
                }
                _ => return None,
            }
        }
        Some(iv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_text_round_trips() {
        for text in [
            "P1Y2M3DT4H5M6.5S",
            "PT0S",
            "P-1Y-2M",
            "P10D",
            "PT-3H",
            "PT0.000001S",
            "PT-1.5S",
        ] {
            let iv = Interval::parse_iso(text).unwrap_or_else(|| panic!("parse {text}"));
            assert_eq!(iv.to_iso(), text);
        }
        assert_eq!(Interval::parse_iso("P2W").unwrap().days, 14);
        assert_eq!(Interval::parse_iso("1 day"), None);
        assert_eq!(Interval::parse_iso("P"), None);
        // Multi-byte characters where a unit or number is expected are refused, not a panic.
        for text in [
            "P1é",
            "PT1ß",
            "P1Y€",
            "P€",
            "PT1.5S\u{10FFFF}",
            "P1e400S",
            "PT1e300S",
        ] {
            assert_eq!(Interval::parse_iso(text), None, "{text}");
        }
    }
}
