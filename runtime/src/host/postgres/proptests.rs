//! Property tests of everything a guest's values and SQL text go through before the server:
//! no value, type or string may panic the host (issue 16). Arbitrary `value`s against every
//! built-in type (and domains, enums, arrays of them), arbitrary bytes decoded as every type,
//! arbitrary text through the interval, numeric and date parsers and the SQL-text checks.
//! Bounded: a few thousand cases each, seconds in all, run by `cargo test` like every test.

use bytes::BytesMut;
use postgres_types::{Kind, ToSql, Type};
use proptest::prelude::*;

use super::statements::{may_change_session, no_nul, transaction_control};
use super::types::interval::Interval;
use super::types::numeric;
use super::values::{decode, element_value, to_param};
use crate::bindings::postgres::{Element, Value};

/// Every built-in type the server could report for a parameter or a column, plus a domain
/// over an array, a domain over text, an enum and an array of the domain.
fn types() -> Vec<Type> {
    let mut all: Vec<Type> = (0..10_000).filter_map(Type::from_oid).collect();
    let ints = Type::new(
        "aw_ints".into(),
        900_001,
        Kind::Domain(Type::INT4_ARRAY),
        "public".into(),
    );
    let label = Type::new(
        "aw_label".into(),
        900_002,
        Kind::Domain(Type::TEXT),
        "public".into(),
    );
    let mood = Type::new(
        "aw_mood".into(),
        900_003,
        Kind::Enum(vec!["ok".into(), "sad".into()]),
        "public".into(),
    );
    let labels = Type::new(
        "_aw_label".into(),
        900_004,
        Kind::Array(label.clone()),
        "public".into(),
    );
    let nested = Type::new(
        "aw_ints2".into(),
        900_005,
        Kind::Domain(ints.clone()),
        "public".into(),
    );
    all.extend([ints, label, mood, labels, nested]);
    all
}

/// Any text, NUL bytes and multi-byte characters included, biased towards the shapes the
/// parsers look for.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[-+0-9.eEPTYMWDHS:Z ]{0,24}",
        "P[0-9€ß.-]{0,6}[YMWDT]?[0-9é.]{0,6}[HMS]?",
        "[0-9]{1,8}-[0-9]{1,3}-[0-9]{1,3}([T ][0-9:.]{0,15})?([+-][0-9:]{0,6}|Z)?",
        "[{\\[\"a-z0-9,:\\]}]{0,16}",
    ]
}

fn element() -> impl Strategy<Value = Element> {
    prop_oneof![
        Just(Element::Null),
        any::<bool>().prop_map(Element::Boolean),
        any::<i16>().prop_map(Element::Int16),
        any::<i32>().prop_map(Element::Int32),
        any::<i64>().prop_map(Element::Int64),
        any::<f32>().prop_map(Element::Float32),
        any::<f64>().prop_map(Element::Float64),
        text().prop_map(Element::Numeric),
        text().prop_map(Element::Text),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Element::Bytea),
        text().prop_map(Element::Json),
        text().prop_map(Element::Uuid),
        text().prop_map(Element::Date),
        text().prop_map(Element::Time),
        text().prop_map(Element::Timestamp),
        text().prop_map(Element::Timestamptz),
        text().prop_map(Element::Interval),
    ]
}

/// Every case of `value`: the scalar ones are the cases of an array element.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => element().prop_map(element_value),
        1 => proptest::collection::vec(element(), 0..6).prop_map(Value::Array),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Converting and encoding a guest's value for any type fails cleanly or succeeds.
    #[test]
    fn any_value_to_any_type_never_panics(v in value(), pick in any::<prop::sample::Index>()) {
        let all = types();
        let ty = pick.get(&all);
        if let Ok(param) = to_param(v, ty, 1) {
            let mut out = BytesMut::new();
            let _ = param.to_sql_checked(ty, &mut out);
        }
    }

    /// Any bytes read as any type (a column the server sent) decode or fail cleanly.
    #[test]
    fn any_bytes_as_any_type_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..64), pick in any::<prop::sample::Index>()) {
        let all = types();
        let _ = decode(pick.get(&all), &raw);
    }

    /// Interval text parses or is refused; what parses prints back to the same interval.
    #[test]
    fn interval_text_round_trips_or_is_refused(s in text()) {
        if let Some(iv) = Interval::parse_iso(&s) {
            prop_assert_eq!(Interval::parse_iso(&iv.to_iso()), Some(iv));
        }
    }

    /// Numeric text encodes or is refused; what encodes decodes.
    #[test]
    fn numeric_text_encodes_or_is_refused(s in text()) {
        if let Some(raw) = numeric::encode(&s) {
            prop_assert!(numeric::decode(&raw).is_some(), "{:?} encoded to undecodable {:?}", s, raw);
        }
    }

    /// The checks run on a guest's SQL text take any string.
    #[test]
    fn sql_text_checks_never_panic(s in any::<String>(), prefix in "(/\\*[^*]{0,8}\\*/|--[^\n]{0,8}\n| |\t)*") {
        let sql = format!("{prefix}{s}");
        let _ = transaction_control(&sql);
        let _ = may_change_session(&sql);
        let _ = no_nul(&sql, "the SQL");
    }

    /// Transaction control is found behind any comments and whitespace, in any case.
    #[test]
    fn transaction_control_is_found_behind_comments(
        prefix in "(/\\*[^*/]{0,8}\\*/|/\\* /\\*[^*/]{0,4}\\*/ \\*/|--[^\n]{0,8}\n| |\t|\n|;)*",
        verb in prop::sample::select(vec!["commit", "rollback", "end", "abort", "begin", "start transaction", "prepare transaction 'x'"]),
        upper in proptest::collection::vec(any::<bool>(), 32),
        rest in "( work| transaction| and chain| and no chain)?",
    ) {
        let cased: String = verb.chars().zip(upper.iter().cycle()).map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c }).collect();
        let sql = format!("{prefix}{cased}{rest}");
        prop_assert!(transaction_control(&sql).is_some(), "{:?} passed", sql);
    }
}
