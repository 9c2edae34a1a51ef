//! `reflect`: tables of a schema with their columns and primary keys, from the catalog.

use super::errors::error;
use super::session::Session;
use crate::bindings::postgres::{ColumnInfo, TableInfo, Value};
use crate::bindings::types::{ConnectorError, ErrorKind};

const COLUMNS: &str = "\
SELECT c.table_name::text, c.column_name::text, c.udt_name::text, c.is_nullable = 'YES', c.column_default::text
FROM information_schema.columns c
WHERE c.table_schema = $1 AND (cardinality($2::text[]) = 0 OR c.table_name = ANY($2::text[]))
ORDER BY c.table_name, c.ordinal_position";

const PRIMARY_KEYS: &str = "\
SELECT tc.table_name::text, kcu.column_name::text
FROM information_schema.table_constraints tc
JOIN information_schema.key_column_usage kcu
  ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema AND tc.table_name = kcu.table_name
WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = $1
ORDER BY tc.table_name, kcu.ordinal_position";

/// Describes `tables` of `schema` (every table when empty).
pub async fn reflect(
    session: Session,
    schema: String,
    tables: Vec<String>,
) -> Result<Vec<TableInfo>, ConnectorError> {
    let names = Value::Array(
        tables
            .iter()
            .cloned()
            .map(crate::bindings::postgres::Element::Text)
            .collect(),
    );
    let columns = session
        .query(
            COLUMNS.into(),
            vec![Value::Text(schema.clone()), names],
            None,
        )
        .await?;
    let keys = session
        .query(PRIMARY_KEYS.into(), vec![Value::Text(schema.clone())], None)
        .await?;
    let text = |v: &Value| match v {
        Value::Text(s) => Some(s.clone()),
        _ => None,
    };
    let mut out: Vec<TableInfo> = Vec::new();
    for row in &columns.rows {
        let [table, name, type_name, nullable, default] = row.as_slice() else {
            return Err(error(ErrorKind::Permanent, "unexpected catalog row shape"));
        };
        let table = text(table).unwrap_or_default();
        if out.last().map(|t| &t.name) != Some(&table) {
            out.push(TableInfo {
                schema: schema.clone(),
                name: table.clone(),
                columns: Vec::new(),
                primary_key: Vec::new(),
            });
        }
        if let Some(info) = out.last_mut() {
            info.columns.push(ColumnInfo {
                name: text(name).unwrap_or_default(),
                type_name: text(type_name).unwrap_or_default(),
                nullable: matches!(nullable, Value::Boolean(true)),
                default: text(default),
            });
        }
    }
    for row in &keys.rows {
        if let [table, column] = row.as_slice() {
            if let (Some(table), Some(column)) = (text(table), text(column)) {
                if let Some(info) = out.iter_mut().find(|t| t.name == table) {
                    info.primary_key.push(column);
                }
            }
        }
    }
    let missing: Vec<&String> = tables
        .iter()
        .filter(|t| !out.iter().any(|i| &i.name == *t))
        .collect();
    if !missing.is_empty() {
        return Err(error(
            ErrorKind::NotFound,
            format!(
                "no such table in schema `{schema}`: {}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(out)
}
