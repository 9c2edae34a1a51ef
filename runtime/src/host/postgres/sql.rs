//! SQL text the host builds itself: quoted identifiers and literals, COPY statements.
//! Guests never splice raw text into these; every name and option goes through a quoter.

use crate::bindings::postgres::{CopyFormat, CopyKind};

/// `name` as a quoted identifier; `schema.table` (one unquoted dot) becomes two.
pub fn quote_table(name: &str) -> String {
    match name.split_once('.') {
        Some((schema, table))
            if !schema.is_empty() && !table.is_empty() && !table.contains('.') =>
        {
            format!("{}.{}", quote_ident(schema), quote_ident(table))
        }
        _ => quote_ident(name),
    }
}

/// A double-quoted identifier with embedded quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A single-quoted string literal (standard_conforming_strings is on since PostgreSQL 9.1).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `(a, b)` or nothing.
fn column_list(columns: &[String]) -> String {
    if columns.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            columns
                .iter()
                .map(|c| quote_ident(c))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// `WITH (FORMAT csv, HEADER true, ...)`.
fn options(format: &CopyFormat) -> Result<String, String> {
    let mut opts = vec![match format.kind {
        CopyKind::Text => "FORMAT text".to_string(),
        CopyKind::Csv => "FORMAT csv".to_string(),
        CopyKind::Binary => "FORMAT binary".to_string(),
    }];
    let textual = !matches!(format.kind, CopyKind::Binary);
    if format.header {
        if !matches!(format.kind, CopyKind::Csv) {
            return Err("`header` is only supported for csv".into());
        }
        opts.push("HEADER true".into());
    }
    for (name, value) in [
        ("DELIMITER", &format.delimiter),
        ("NULL", &format.null_string),
        ("QUOTE", &format.quote),
    ] {
        if let Some(v) = value {
            if !textual {
                return Err(format!(
                    "{} does not apply to binary COPY",
                    name.to_lowercase()
                ));
            }
            if name == "QUOTE" && !matches!(format.kind, CopyKind::Csv) {
                return Err("`quote` is only supported for csv".into());
            }
            opts.push(format!("{name} {}", quote_literal(v)));
        }
    }
    Ok(format!(" WITH ({})", opts.join(", ")))
}

/// `COPY "t" ("a") FROM STDIN WITH (...)`.
pub fn copy_in(table: &str, columns: &[String], format: &CopyFormat) -> Result<String, String> {
    Ok(format!(
        "COPY {}{} FROM STDIN{}",
        quote_table(table),
        column_list(columns),
        options(format)?
    ))
}

/// `COPY "t" ("a") TO STDOUT ...` or `COPY (query) TO STDOUT ...`.
pub fn copy_out_table(
    table: &str,
    columns: &[String],
    format: &CopyFormat,
) -> Result<String, String> {
    Ok(format!(
        "COPY {}{} TO STDOUT{}",
        quote_table(table),
        column_list(columns),
        options(format)?
    ))
}

pub fn copy_out_query(query: &str, format: &CopyFormat) -> Result<String, String> {
    Ok(format!("COPY ({query}) TO STDOUT{}", options(format)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_break_out_of_quotes() {
        assert_eq!(quote_table("t; drop table x"), "\"t; drop table x\"");
        assert_eq!(quote_table("s.t"), "\"s\".\"t\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        let csv = CopyFormat {
            kind: CopyKind::Csv,
            header: true,
            delimiter: Some(";".into()),
            null_string: None,
            quote: None,
        };
        assert_eq!(
            copy_in("t", &["a".into(), "b c".into()], &csv).unwrap(),
            "COPY \"t\" (\"a\", \"b c\") FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER ';')"
        );
    }
}
