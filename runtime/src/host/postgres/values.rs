//! WIT values <-> Postgres wire values.
//!
//! Parameters are converted to the type the server inferred for them (a guest `int64` into an
//! `int4` column works; `3_000_000_000` does not, and the error names the parameter). Results
//! are read as raw bytes and decoded by the column's type, domains by their base type, arrays
//! element by element.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use postgres_types::{to_sql_checked, FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::Row;

use super::types::{interval::Interval, numeric::Numeric};
use crate::bindings::postgres::{Element, Value};

type BoxError = Box<dyn StdError + Sync + Send>;

/// A parameter converted to its target type, ready to be written in binary form.
#[derive(Debug, Clone)]
pub enum Param {
    Null,
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    /// Text, and types whose binary form is their UTF-8 text (enums, citext).
    Text(String),
    Bytes(Vec<u8>),
    Json(String),
    Uuid(uuid::Uuid),
    Date(NaiveDate),
    Time(NaiveTime),
    Timestamp(NaiveDateTime),
    Timestamptz(DateTime<Utc>),
    Numeric(Numeric),
    Interval(Interval),
    Array(Vec<Param>),
    /// Text for a type with no binary mapping here (`regclass`, `inet`, ranges, ...), sent in
    /// text format so the server parses it with the type's own input function.
    ServerText(String),
}

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Param::Null => Ok(IsNull::Yes),
            Param::Bool(v) => v.to_sql(ty, out),
            Param::I16(v) => v.to_sql(ty, out),
            Param::I32(v) => v.to_sql(ty, out),
            Param::I64(v) => v.to_sql(ty, out),
            Param::F32(v) => v.to_sql(ty, out),
            Param::F64(v) => v.to_sql(ty, out),
            Param::Text(v) => {
                out.put_slice(v.as_bytes());
                Ok(IsNull::No)
            }
            Param::Bytes(v) => {
                out.put_slice(v);
                Ok(IsNull::No)
            }
            Param::Json(v) => {
                if *ty == Type::JSONB {
                    out.put_u8(1);
                }
                out.put_slice(v.as_bytes());
                Ok(IsNull::No)
            }
            Param::Uuid(v) => v.to_sql(ty, out),
            Param::Date(v) => v.to_sql(ty, out),
            Param::Time(v) => v.to_sql(ty, out),
            Param::Timestamp(v) => v.to_sql(ty, out),
            Param::Timestamptz(v) => v.to_sql(ty, out),
            Param::Numeric(v) => v.to_sql(ty, out),
            Param::Interval(v) => v.to_sql(ty, out),
            Param::Array(items) => {
                // A domain over an array is sent as its base array type (the server checks
                // the domain's constraints); anything else is refused, never a panic.
                let array = without_domains(ty);
                match array.kind() {
                    Kind::Array(_) => items.to_sql(array, out),
                    _ => Err(format!("an array cannot be sent as {}", ty.name()).into()),
                }
            }
            Param::ServerText(v) => {
                out.put_slice(v.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn encode_format(&self, _ty: &Type) -> postgres_types::Format {
        match self {
            Param::ServerText(_) => postgres_types::Format::Text,
            _ => postgres_types::Format::Binary,
        }
    }

    fn accepts(_: &Type) -> bool {
        // Conversion to the target type already happened in `to_param`.
        true
    }

    to_sql_checked!();
}

/// The WIT name of a value's case, for error messages.
fn case_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int16(_) => "int16",
        Value::Int32(_) => "int32",
        Value::Int64(_) => "int64",
        Value::Float32(_) => "float32",
        Value::Float64(_) => "float64",
        Value::Numeric(_) => "numeric",
        Value::Text(_) => "text",
        Value::Bytea(_) => "bytea",
        Value::Json(_) => "json",
        Value::Uuid(_) => "uuid",
        Value::Date(_) => "date",
        Value::Time(_) => "time",
        Value::Timestamp(_) => "timestamp",
        Value::Timestamptz(_) => "timestamptz",
        Value::Interval(_) => "interval",
        Value::Array(_) => "array",
    }
}

/// `ty` with any domains peeled off: the type the server expects on the wire.
fn without_domains(mut ty: &Type) -> &Type {
    while let Kind::Domain(base) = ty.kind() {
        ty = base;
    }
    ty
}

/// Converts parameter `$index` (1-based) to the server's type `ty`.
pub fn to_param(value: Value, ty: &Type, index: usize) -> Result<Param, String> {
    let what = case_name(&value);
    let fail = |why: &str| {
        format!(
            "parameter ${index}: cannot send {what} as {}{why}",
            ty.name()
        )
    };
    if let Value::Null = value {
        return Ok(Param::Null);
    }
    match ty.kind() {
        Kind::Domain(base) => return to_param(value, base, index),
        Kind::Enum(_) => {
            return match value {
                Value::Text(s) => Ok(Param::Text(s)),
                _ => Err(fail(" (send the label as text)")),
            }
        }
        Kind::Array(member) => {
            let Value::Array(elements) = value else {
                return Err(fail(" (send an array)"));
            };
            return elements
                .into_iter()
                .enumerate()
                .map(|(i, e)| match to_param(element_value(e), member, index) {
                    // An array is sent in binary as a whole: its elements cannot be text.
                    Ok(Param::ServerText(_)) => Err(format!(
                        "{} (element {})",
                        fail(" (cast the parameter in SQL, e.g. $1::text[]::your_type[])"),
                        i + 1
                    )),
                    Ok(param) => Ok(param),
                    Err(e) => Err(format!("{e} (element {})", i + 1)),
                })
                .collect::<Result<_, _>>()
                .map(Param::Array);
        }
        _ => {}
    }
    let int = |v: i64| -> Result<Param, String> {
        match *ty {
            Type::INT2 => i16::try_from(v)
                .map(Param::I16)
                .map_err(|_| fail(&format!(" ({v} is out of range)"))),
            Type::INT4 => i32::try_from(v)
                .map(Param::I32)
                .map_err(|_| fail(&format!(" ({v} is out of range)"))),
            Type::INT8 => Ok(Param::I64(v)),
            Type::FLOAT4 if v.unsigned_abs() <= 1 << 24 => Ok(Param::F32(v as f32)),
            Type::FLOAT8 if v.unsigned_abs() <= 1 << 53 => Ok(Param::F64(v as f64)),
            Type::NUMERIC => Ok(Param::Numeric(Numeric(v.to_string()))),
            Type::OID
            | Type::REGCLASS
            | Type::REGTYPE
            | Type::REGPROC
            | Type::REGNAMESPACE
            | Type::REGROLE => u32::try_from(v)
                .map(|o| Param::Bytes(o.to_be_bytes().to_vec()))
                .map_err(|_| fail(" (out of range)")),
            _ => Err(fail("")),
        }
    };
    let parse = |text: String| -> Result<Param, String> {
        let bad = |form: &str| fail(&format!(" ({text:?} is not {form})"));
        match *ty {
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::XML => {
                Ok(Param::Text(text))
            }
            Type::JSON | Type::JSONB => Ok(Param::Json(text)),
            Type::NUMERIC => match super::types::numeric::encode(&text) {
                Some(_) => Ok(Param::Numeric(Numeric(text))),
                None => Err(bad("a decimal number")),
            },
            Type::UUID => uuid::Uuid::parse_str(&text)
                .map(Param::Uuid)
                .map_err(|_| bad("a UUID")),
            Type::DATE => parse_date(&text)
                .map(Param::Date)
                .ok_or_else(|| bad("a date like 2024-01-31")),
            Type::TIME => parse_time(&text)
                .map(Param::Time)
                .ok_or_else(|| bad("a time like 13:45:00")),
            Type::TIMESTAMP => parse_timestamp(&text)
                .map(Param::Timestamp)
                .ok_or_else(|| bad("a timestamp like 2024-01-31T13:45:00")),
            Type::TIMESTAMPTZ => parse_timestamptz(&text)
                .map(Param::Timestamptz)
                .ok_or_else(|| bad("an RFC 3339 timestamp")),
            Type::INTERVAL => Interval::parse_iso(&text)
                .map(Param::Interval)
                .ok_or_else(|| bad("an ISO 8601 duration like P1DT2H")),
            _ if ty.name() == "citext" => Ok(Param::Text(text)),
            // Text to a type without a binary mapping: the server parses it (and says so
            // when it cannot).
            _ if matches!(
                ty.kind(),
                Kind::Simple | Kind::Range(_) | Kind::Multirange(_)
            ) && !has_binary_mapping(ty) =>
            {
                Ok(Param::ServerText(text))
            }
            _ => Err(fail(
                " (cast the parameter in SQL, e.g. $1::text::your_type)",
            )),
        }
    };
    match value {
        Value::Null => Ok(Param::Null),
        Value::Boolean(b) if *ty == Type::BOOL => Ok(Param::Bool(b)),
        Value::Int16(v) => int(v.into()),
        Value::Int32(v) => int(v.into()),
        Value::Int64(v) => int(v),
        Value::Float32(v) => match *ty {
            Type::FLOAT4 => Ok(Param::F32(v)),
            Type::FLOAT8 => Ok(Param::F64(v.into())),
            Type::NUMERIC if v.is_finite() => Ok(Param::Numeric(Numeric(v.to_string()))),
            _ => Err(fail("")),
        },
        Value::Float64(v) => match *ty {
            Type::FLOAT8 => Ok(Param::F64(v)),
            Type::FLOAT4 if !v.is_finite() || (v as f32) as f64 == v => Ok(Param::F32(v as f32)),
            Type::FLOAT4 => Err(fail(&format!(" ({v} does not fit a float4 exactly)"))),
            Type::NUMERIC if v.is_finite() => Ok(Param::Numeric(Numeric(v.to_string()))),
            _ => Err(fail("")),
        },
        Value::Bytea(b) if *ty == Type::BYTEA => Ok(Param::Bytes(b)),
        Value::Text(s)
        | Value::Numeric(s)
        | Value::Json(s)
        | Value::Uuid(s)
        | Value::Date(s)
        | Value::Time(s)
        | Value::Timestamp(s)
        | Value::Timestamptz(s)
        | Value::Interval(s) => parse(s),
        _ => Err(fail("")),
    }
}

/// Whether `ty` takes only its own WIT cases (text to one of these is a mistake worth naming,
/// not something to hand the server; text to an `oid` or `regclass` is a name it resolves).
fn has_binary_mapping(ty: &Type) -> bool {
    [
        Type::BOOL,
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::FLOAT4,
        Type::FLOAT8,
        Type::BYTEA,
    ]
    .contains(ty)
}

/// The value form of an array element.
pub fn element_value(e: Element) -> Value {
    match e {
        Element::Null => Value::Null,
        Element::Boolean(v) => Value::Boolean(v),
        Element::Int16(v) => Value::Int16(v),
        Element::Int32(v) => Value::Int32(v),
        Element::Int64(v) => Value::Int64(v),
        Element::Float32(v) => Value::Float32(v),
        Element::Float64(v) => Value::Float64(v),
        Element::Numeric(v) => Value::Numeric(v),
        Element::Text(v) => Value::Text(v),
        Element::Bytea(v) => Value::Bytea(v),
        Element::Json(v) => Value::Json(v),
        Element::Uuid(v) => Value::Uuid(v),
        Element::Date(v) => Value::Date(v),
        Element::Time(v) => Value::Time(v),
        Element::Timestamp(v) => Value::Timestamp(v),
        Element::Timestamptz(v) => Value::Timestamptz(v),
        Element::Interval(v) => Value::Interval(v),
    }
}

/// The element form of a scalar value (arrays never nest here: Postgres arrays read as flat).
fn value_element(v: Value) -> Element {
    match v {
        Value::Null | Value::Array(_) => Element::Null,
        Value::Boolean(v) => Element::Boolean(v),
        Value::Int16(v) => Element::Int16(v),
        Value::Int32(v) => Element::Int32(v),
        Value::Int64(v) => Element::Int64(v),
        Value::Float32(v) => Element::Float32(v),
        Value::Float64(v) => Element::Float64(v),
        Value::Numeric(v) => Element::Numeric(v),
        Value::Text(v) => Element::Text(v),
        Value::Bytea(v) => Element::Bytea(v),
        Value::Json(v) => Element::Json(v),
        Value::Uuid(v) => Element::Uuid(v),
        Value::Date(v) => Element::Date(v),
        Value::Time(v) => Element::Time(v),
        Value::Timestamp(v) => Element::Timestamp(v),
        Value::Timestamptz(v) => Element::Timestamptz(v),
        Value::Interval(v) => Element::Interval(v),
    }
}

/// A column's raw bytes, whatever its type.
pub(super) struct Raw<'a>(pub &'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Reads column `idx` of `row`.
pub fn read_column(row: &Row, idx: usize) -> Result<Value, String> {
    let ty = row.columns()[idx].type_();
    let raw: Option<Raw<'_>> = row
        .try_get(idx)
        .map_err(|e| format!("column {}: {e}", idx + 1))?;
    match raw {
        None => Ok(Value::Null),
        Some(Raw(bytes)) => decode(ty, bytes).map_err(|e| {
            format!(
                "column {} ({}, type {}): {e}",
                idx + 1,
                row.columns()[idx].name(),
                ty.name()
            )
        }),
    }
}

/// Decodes one non-null value of type `ty`.
pub(super) fn decode(ty: &Type, raw: &[u8]) -> Result<Value, BoxError> {
    match ty.kind() {
        Kind::Domain(base) => return decode(base, raw),
        Kind::Enum(_) => return Ok(Value::Text(std::str::from_utf8(raw)?.to_string())),
        Kind::Array(member) => {
            let items: Vec<Option<RawOwned>> = Vec::from_sql(ty, raw)?;
            let elements = items
                .into_iter()
                .map(|item| match item {
                    None => Ok(Element::Null),
                    Some(RawOwned(bytes)) => decode(member, &bytes).map(value_element),
                })
                .collect::<Result<_, BoxError>>()?;
            return Ok(Value::Array(elements));
        }
        _ => {}
    }
    Ok(match *ty {
        Type::BOOL => Value::Boolean(bool::from_sql(ty, raw)?),
        Type::INT2 => Value::Int16(i16::from_sql(ty, raw)?),
        Type::INT4 => Value::Int32(i32::from_sql(ty, raw)?),
        Type::INT8 => Value::Int64(i64::from_sql(ty, raw)?),
        Type::OID
        | Type::REGCLASS
        | Type::REGTYPE
        | Type::REGPROC
        | Type::REGNAMESPACE
        | Type::REGROLE => Value::Int64(u32::from_sql(ty, raw)?.into()),
        Type::FLOAT4 => Value::Float32(f32::from_sql(ty, raw)?),
        Type::FLOAT8 => Value::Float64(f64::from_sql(ty, raw)?),
        Type::NUMERIC => Value::Numeric(Numeric::from_sql(ty, raw)?.0),
        Type::BYTEA => Value::Bytea(raw.to_vec()),
        Type::JSON => Value::Json(std::str::from_utf8(raw)?.to_string()),
        Type::JSONB => match raw.split_first() {
            Some((1, text)) => Value::Json(std::str::from_utf8(text)?.to_string()),
            _ => return Err("unsupported jsonb version".into()),
        },
        Type::UUID => Value::Uuid(uuid::Uuid::from_sql(ty, raw)?.hyphenated().to_string()),
        Type::DATE => Value::Date(NaiveDate::from_sql(ty, raw)?.format("%Y-%m-%d").to_string()),
        Type::TIME => Value::Time(
            NaiveTime::from_sql(ty, raw)?
                .format("%H:%M:%S%.f")
                .to_string(),
        ),
        Type::TIMESTAMP => Value::Timestamp(
            NaiveDateTime::from_sql(ty, raw)?
                .format("%Y-%m-%dT%H:%M:%S%.f")
                .to_string(),
        ),
        Type::TIMESTAMPTZ => Value::Timestamptz(
            DateTime::<Utc>::from_sql(ty, raw)?.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        ),
        Type::INTERVAL => Value::Interval(Interval::from_sql(ty, raw)?.to_iso()),
        Type::CHAR => Value::Text((i8::from_sql(ty, raw)? as u8 as char).to_string()),
        Type::INET | Type::CIDR => Value::Text(inet_text(raw)?),
        // Types whose binary form is their UTF-8 text.
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::XML => {
            Value::Text(std::str::from_utf8(raw)?.to_string())
        }
        _ if ty.name() == "citext" => Value::Text(std::str::from_utf8(raw)?.to_string()),
        // `SELECT pg_sleep(1)` and other functions returning void: there is no value to read.
        Type::VOID => Value::Null,
        _ => {
            return Err(format!(
                "type {} has no WIT mapping; cast the column in SQL (e.g. col::text)",
                ty.name()
            )
            .into())
        }
    })
}

/// An owned raw element, so arrays can be decoded by their member type afterwards.
struct RawOwned(Vec<u8>);

impl<'a> FromSql<'a> for RawOwned {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(RawOwned(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// `inet` / `cidr` binary form (family, bits, is_cidr, length, address) to text.
fn inet_text(raw: &[u8]) -> Result<String, BoxError> {
    let (family, bits, addr) = match raw {
        [family, bits, _, _, addr @ ..] => (*family, *bits, addr),
        _ => return Err("malformed inet value".into()),
    };
    let ip: std::net::IpAddr = match (family, addr.len()) {
        (2, 4) => std::net::Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]).into(),
        (3, 16) => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(addr);
            std::net::Ipv6Addr::from(octets).into()
        }
        _ => return Err("malformed inet value".into()),
    };
    let full = if ip.is_ipv4() { 32 } else { 128 };
    Ok(if bits == full {
        ip.to_string()
    } else {
        format!("{ip}/{bits}")
    })
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

fn parse_time(text: &str) -> Option<NaiveTime> {
    let t = text.trim();
    NaiveTime::parse_from_str(t, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
        .ok()
}

fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim();
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .or_else(|| parse_date(t).and_then(|d| d.and_hms_opt(0, 0, 0)))
}

fn parse_timestamptz(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    DateTime::parse_from_rfc3339(t)
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%#z"))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_narrow_only_when_they_fit() {
        assert!(matches!(
            to_param(Value::Int64(7), &Type::INT4, 1),
            Ok(Param::I32(7))
        ));
        let err = to_param(Value::Int64(3_000_000_000), &Type::INT4, 2).unwrap_err();
        assert!(
            err.contains("parameter $2") && err.contains("int4") && err.contains("out of range"),
            "{err}"
        );
        assert!(
            to_param(Value::Float64(0.1), &Type::FLOAT4, 1).is_err(),
            "0.1 is not exact in float4"
        );
        assert!(to_param(Value::Text("x".into()), &Type::INT4, 1).is_err());
        assert!(matches!(
            to_param(Value::Null, &Type::INT4, 1),
            Ok(Param::Null)
        ));
    }

    #[test]
    fn temporal_text_parses() {
        assert!(parse_timestamp("2024-01-31T13:45:00.5").is_some());
        assert!(parse_timestamptz("2024-01-31T13:45:00+02:00").is_some());
        assert!(parse_date("31/01/2024").is_none());
    }
}
