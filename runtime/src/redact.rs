//! The type that holds a secret's value, and the scrubber that keeps values out of output.
//!
//! A leaf: configuration (which holds literal credentials) and the secret providers (which
//! resolve references) both use it, and it uses neither.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, RwLock};

use zeroize::Zeroizing;

/// A secret's value: zeroized when the last copy drops; prints as `***`.
#[derive(Clone)]
pub struct SecretValue(Arc<Zeroizing<String>>);

impl SecretValue {
    pub fn new(value: String) -> Self {
        SecretValue(Arc::new(Zeroizing::new(value)))
    }

    /// The plain value, for the one place that must hand it on (a connection, a guest that
    /// asked for it with `reveal`).
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Every secret value the host has loaded, replaced by `***` in any text passed through it,
/// in each form output may print it in: as it is, JSON-escaped (the report, results, events),
/// Rust-escaped (`{:?}` in errors), percent-encoded (URLs, DSNs) and SQL-quoted (`'` doubled).
///
/// One scrubber is shared by the log writer, guest stdout/stderr capture, guest results, the
/// report, the events file, `describe` and error messages, so a value cannot escape through a
/// path someone forgot.
#[derive(Clone, Default)]
pub struct Scrubber(Arc<RwLock<Vec<SecretValue>>>);

/// Never shows the values, only how many there are.
impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known = self.0.read().map(|k| k.len()).unwrap_or(0);
        write!(f, "Scrubber({known} values)")
    }
}

impl Scrubber {
    /// Registers a value in all its printed forms; empty values are ignored (they would match
    /// everywhere).
    pub fn add(&self, value: &SecretValue) {
        if value.reveal().is_empty() {
            return;
        }
        let mut known = self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for mut form in printed_forms(value.reveal()) {
            if !known.iter().any(|v| v.reveal() == form.as_str()) {
                known.push(SecretValue::new(std::mem::take(&mut *form)));
            }
        }
        // Longest first, so a secret that contains another is replaced whole.
        known.sort_by_key(|v| std::cmp::Reverse(v.reveal().len()));
    }

    /// `text` with every known secret value replaced by `***`.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let known = self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut out = Cow::Borrowed(text);
        for value in known.iter() {
            if out.contains(value.reveal()) {
                out = Cow::Owned(out.replace(value.reveal(), "***"));
            }
        }
        out
    }

    /// `text` scrubbed, then cut to at most `max` bytes: scrubbing comes first, as a cut
    /// secret would no longer match.
    pub fn scrub_and_cut(&self, text: &str, max: usize) -> String {
        cut_to(&self.scrub(text), max).into_owned()
    }
}

/// `text` cut to at most `max` bytes on a character boundary, saying so. Scrub secrets
/// before cutting: a cut secret no longer matches the scrubber.
pub fn cut_to(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!(
        "{} ... [{} more bytes cut]",
        &text[..end],
        text.len() - end
    ))
}

/// `value` as output may print it: itself, and its escaped and encoded forms that differ.
fn printed_forms(value: &str) -> Vec<Zeroizing<String>> {
    let quoted = |text: String| {
        Zeroizing::new(
            text.get(1..text.len().saturating_sub(1))
                .unwrap_or("")
                .to_string(),
        )
    };
    let json = quoted(serde_json::to_string(value).unwrap_or_default());
    let debug = quoted(format!("{value:?}"));
    let percent = Zeroizing::new(
        percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    );
    // URL and DSN printers leave the unreserved `-._~` as they are.
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let url = Zeroizing::new(percent_encoding::utf8_percent_encode(value, UNRESERVED).to_string());
    let sql = Zeroizing::new(value.replace('\'', "''"));
    let mut forms = vec![Zeroizing::new(value.to_string())];
    for form in [json, debug, percent, url, sql] {
        if !form.is_empty() && !forms.iter().any(|f| **f == *form) {
            forms.push(form);
        }
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_to_keeps_whole_characters_and_says_how_much_it_cut() {
        assert_eq!(cut_to("short", 10), "short");
        // 'é' is two bytes: a cut at 3 bytes keeps one of them whole.
        assert_eq!(cut_to("ééé", 3), "é ... [4 more bytes cut]");
    }

    #[test]
    fn secret_never_formats_its_value() {
        let s = SecretValue::new("hunter2".into());
        assert_eq!(format!("{s} {s:?}"), "*** ***");
    }

    #[test]
    fn scrubber_replaces_longest_value_first() {
        let scrubber = Scrubber::default();
        scrubber.add(&SecretValue::new("abc".into()));
        scrubber.add(&SecretValue::new("abcdef".into()));
        scrubber.add(&SecretValue::new(String::new()));
        assert_eq!(scrubber.scrub("x abcdef y abc z"), "x *** y *** z");
        assert!(matches!(scrubber.scrub("clean"), Cow::Borrowed(_)));
    }

    #[test]
    fn escaped_and_encoded_forms_are_scrubbed_too() {
        let scrubber = Scrubber::default();
        let secret = "p\"a\\s's/w@rd\n";
        scrubber.add(&SecretValue::new(secret.into()));
        let printed = [
            serde_json::to_string(&serde_json::json!({ "e": secret })).expect("json"),
            format!("{:?}", secret),
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            format!("'{}'", secret.replace('\'', "''")),
            secret.to_string(),
        ];
        for text in printed {
            let scrubbed = scrubber.scrub(&text);
            assert!(scrubbed.contains("***"), "{scrubbed}");
            assert!(
                !scrubbed.contains("w@rd") && !scrubbed.contains("w%40rd"),
                "{scrubbed}"
            );
        }
    }
}
