//! Typed reads of tree values: whole numbers, booleans, durations, byte sizes, string lists.
//!
//! Env fields always arrive as strings, so every typed read accepts both the native TOML/JSON
//! type and its string form. A plain string key is never coerced: `1e5` stays `1e5`.

use std::time::Duration;

use super::tree::{Node, Value};
use super::ConfigError;

/// Reads a string; TOML integers, floats and booleans are accepted in their written form.
pub fn string(node: &Node, key: &str) -> Result<String, ConfigError> {
    match &node.value {
        Value::Str(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Float(x) => Ok(x.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Secret(s) => Ok(s.reveal().to_string()),
        _ => Err(ConfigError::invalid(
            key,
            &node.source,
            format!("expected a string, got {}", node.type_name()),
        )),
    }
}

/// Reads a non-negative whole number.
pub fn whole(node: &Node, key: &str) -> Result<u64, ConfigError> {
    match &node.value {
        Value::Int(i) if *i >= 0 => Ok(*i as u64),
        Value::Str(s) => s.trim().parse::<u64>().map_err(|_| {
            ConfigError::invalid(
                key,
                &node.source,
                format!("expected a whole number, got {s:?}"),
            )
        }),
        _ => Err(ConfigError::invalid(
            key,
            &node.source,
            format!("expected a whole number, got {}", describe(node)),
        )),
    }
}

/// Reads a boolean: `true/false`, and in strings also `1/0`, `yes/no`, `on/off`.
pub fn boolean(node: &Node, key: &str) -> Result<bool, ConfigError> {
    match &node.value {
        Value::Bool(b) => Ok(*b),
        Value::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::invalid(
                key,
                &node.source,
                format!("expected true or false, got {s:?}"),
            )),
        },
        _ => Err(ConfigError::invalid(
            key,
            &node.source,
            format!("expected true or false, got {}", describe(node)),
        )),
    }
}

/// Reads a duration: `500ms`, `30s`, `10m`, `1h`, `1m30s`; a bare number means seconds.
pub fn duration(node: &Node, key: &str) -> Result<Duration, ConfigError> {
    let bad = |got: String| {
        ConfigError::invalid(
            key,
            &node.source,
            format!("expected a duration like 30s, 500ms or 10m, got {got}"),
        )
    };
    match &node.value {
        Value::Int(i) if *i >= 0 => Ok(Duration::from_secs(*i as u64)),
        Value::Float(x) => Duration::try_from_secs_f64(*x).map_err(|_| bad(describe(node))),
        Value::Str(s) => parse_duration(s).ok_or_else(|| bad(format!("{s:?}"))),
        _ => Err(bad(describe(node))),
    }
}

/// Reads a byte size: `64MiB`, `1GiB`, `512KB`, `1048576`; a bare number means bytes.
pub fn size(node: &Node, key: &str) -> Result<u64, ConfigError> {
    let bad = |got: String| {
        ConfigError::invalid(
            key,
            &node.source,
            format!("expected a size like 64MiB or 1GiB, got {got}"),
        )
    };
    match &node.value {
        Value::Int(i) if *i >= 0 => Ok(*i as u64),
        Value::Str(s) => parse_size(s).ok_or_else(|| bad(format!("{s:?}"))),
        _ => Err(bad(describe(node))),
    }
}

/// Reads a list of strings; a string is split on commas (the env form of a list).
pub fn string_list(node: &Node, key: &str) -> Result<Vec<String>, ConfigError> {
    match &node.value {
        Value::List(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match &item.value {
                Value::Str(s) => Ok(s.clone()),
                _ => Err(ConfigError::invalid(
                    &format!("{key}[{i}]"),
                    &item.source,
                    format!("expected a string, got {}", item.type_name()),
                )),
            })
            .collect(),
        Value::Str(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()),
        _ => Err(ConfigError::invalid(
            key,
            &node.source,
            format!("expected a list of strings, got {}", node.type_name()),
        )),
    }
}

/// Shows a scalar for an error message; secrets and compound values by type only.
fn describe(node: &Node) -> String {
    match &node.value {
        Value::Int(i) => i.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => node.type_name().to_string(),
    }
}

/// Parses `1h30m`, `250ms`, `10s`, `2.5s`, `3` (seconds).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<f64>() {
        // `try_`: a huge number is refused, not a panic.
        return Duration::try_from_secs_f64(secs).ok();
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let unit_len = rest[num_len..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - num_len);
        let number: f64 = rest[..num_len].parse().ok()?;
        let unit_secs = match rest[num_len..num_len + unit_len].trim() {
            "ms" => 0.001,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return None,
        };
        total += Duration::try_from_secs_f64(number * unit_secs).ok()?;
        rest = &rest[num_len + unit_len..];
    }
    Some(total)
}

/// Parses `64MiB`, `1GiB`, `10MB`, `512k`, `4096`.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..split].parse().ok()?;
    let factor: u64 = match text[split..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_written_form() {
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("ten"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn sizes_parse_binary_and_decimal_units() {
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("10MB"), Some(10_000_000));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("99999999999999999999GiB"), None);
    }
}
