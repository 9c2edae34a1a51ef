//! Postgres through the host's pools. The guest names a connector profile; the host holds
//! the DSN and the password.
//!
//! ```ignore
//! use aw_guest::postgres::{self, Value};
//! let db = postgres::open(None)?;                       // the run profile's own connector profile
//! db.execute("INSERT INTO t (id, name) VALUES ($1, $2)", &[1i64.into(), "ada".into()])?;
//! let total: Option<i64> = db.query_value("SELECT sum(id)::int8 FROM t", &[])?.and_then(|v| v.as_i64());
//! ```

use serde::de::DeserializeOwned;

use crate::bindings::auto_workflow::connectors::postgres as wit;
use crate::{Error, ErrorKind, Result};

pub use wit::{
    Column, ColumnInfo, CopySink, CopySource, RowStream, CopyFormat, CopyFrom, CopyKind, Element, EncodedRows, Isolation, Row, RowSet, StatementOptions, TableInfo,
    TransactionOptions, Value,
};

/// Opens connector profile `profile` (`None`: the one named like the run profile).
pub fn open(profile: Option<&str>) -> Result<Client> {
    Ok(Client(wit::open(profile)?))
}

/// Options with a per-statement timeout.
pub fn timeout_ms(ms: u32) -> Option<StatementOptions> {
    Some(StatementOptions { timeout_ms: Some(ms) })
}

impl CopyFormat {
    /// CSV with the given header flag and the server's defaults otherwise.
    pub fn csv(header: bool) -> Self {
        CopyFormat { kind: CopyKind::Csv, header, delimiter: None, null_string: None, quote: None }
    }

    /// PostgreSQL's text format.
    pub fn text() -> Self {
        CopyFormat { kind: CopyKind::Text, header: false, delimiter: None, null_string: None, quote: None }
    }

    /// PostgreSQL's binary format.
    pub fn binary() -> Self {
        CopyFormat { kind: CopyKind::Binary, header: false, delimiter: None, null_string: None, quote: None }
    }
}

impl Default for TransactionOptions {
    fn default() -> Self {
        TransactionOptions { isolation: None, read_only: false, deferrable: false }
    }
}

macro_rules! statements {
    ($inner:tt) => {
        /// Runs a query and returns every row (bounded by the profile's `max_rows` / `max_bytes`).
        pub fn query(&self, sql: &str, params: &[Value]) -> Result<RowSet> {
            Ok(self.$inner.query(sql, params, None)?)
        }

        /// `query` with per-statement options (a timeout).
        pub fn query_with(&self, sql: &str, params: &[Value], options: Option<StatementOptions>) -> Result<RowSet> {
            Ok(self.$inner.query(sql, params, options)?)
        }

        /// The first row, if any.
        pub fn query_one(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
            Ok(self.$inner.query_one(sql, params, None)?)
        }

        /// The first column of the first row, if any.
        pub fn query_value(&self, sql: &str, params: &[Value]) -> Result<Option<Value>> {
            Ok(self.$inner.query_value(sql, params, None)?)
        }

        /// Runs a statement; returns the rows affected.
        pub fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
            Ok(self.$inner.execute(sql, params, None)?)
        }

        /// `execute` with per-statement options (a timeout).
        pub fn execute_with(&self, sql: &str, params: &[Value], options: Option<StatementOptions>) -> Result<u64> {
            Ok(self.$inner.execute(sql, params, options)?)
        }

        /// Runs `sql` once per parameter list, atomically, pipelined on one connection.
        pub fn execute_many(&self, sql: &str, params: &[Vec<Value>]) -> Result<u64> {
            Ok(self.$inner.execute_many(sql, params, None)?)
        }

        /// Streams a SELECT in batches of `batch_rows` through a server-side cursor.
        pub fn query_stream(&self, sql: &str, params: &[Value], batch_rows: u32) -> Result<wit::RowStream> {
            Ok(self.$inner.query_stream(sql, params, batch_rows)?)
        }

        /// Starts `COPY table (columns) FROM STDIN`; write bytes, then `finish` for the row count.
        pub fn copy_in(&self, table: &str, columns: &[&str], format: &CopyFormat) -> Result<wit::CopySink> {
            let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
            Ok(self.$inner.copy_in(table, &columns, format)?)
        }

        /// Starts `COPY ... TO STDOUT`; read chunks until `None`.
        pub fn copy_out(&self, source: &CopyFrom, columns: &[&str], format: &CopyFormat) -> Result<wit::CopySource> {
            let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
            Ok(self.$inner.copy_out(source, &columns, format)?)
        }
    };
}

/// A connector profile's pool.
pub struct Client(wit::Client);

impl Client {
    statements!(0);

    /// Begins a transaction on one pooled connection. Dropping it without `commit` rolls back.
    pub fn begin(&self, options: TransactionOptions) -> Result<Transaction> {
        Ok(Transaction(self.0.begin(options)?))
    }

    /// Tables of `schema` with columns and primary keys (`tables` empty: all of them).
    pub fn reflect(&self, schema: &str, tables: &[&str]) -> Result<Vec<TableInfo>> {
        let tables: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
        Ok(self.0.reflect(schema, &tables)?)
    }
}

/// A transaction pinned to one connection.
pub struct Transaction(wit::Transaction);

impl Transaction {
    statements!(0);

    pub fn savepoint(&self, name: &str) -> Result<()> {
        Ok(self.0.savepoint(name)?)
    }

    pub fn rollback_to(&self, name: &str) -> Result<()> {
        Ok(self.0.rollback_to(name)?)
    }

    pub fn release(&self, name: &str) -> Result<()> {
        Ok(self.0.release(name)?)
    }

    pub fn commit(self) -> Result<()> {
        Ok(self.0.commit()?)
    }

    pub fn rollback(self) -> Result<()> {
        Ok(self.0.rollback()?)
    }
}

impl RowSet {
    /// Column `name` of row `row` as a Rust type (see [`Row::get_as`]).
    pub fn get_as<T: FromValue>(&self, row: usize, name: &str) -> Result<T> {
        let value = self
            .get(row, name)
            .ok_or_else(|| Error::new(ErrorKind::InvalidInput, format!("no column `{name}` in row {row}")))?;
        T::from_value(value).map_err(|e| Error::new(ErrorKind::InvalidInput, format!("row {row}, column `{name}`: {e}")))
    }

    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Value of column `name` in row `row`.
    pub fn get(&self, row: usize, name: &str) -> Option<&Value> {
        self.rows.get(row)?.get(self.column(name)?)
    }

    /// Decodes every row into `T` by column name (serde).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        self.rows.iter().map(|r| decode_row(&self.columns, r)).collect()
    }
}

impl Row {
    /// Value of column `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.columns.iter().position(|c| c.name == name).and_then(|i| self.values.get(i))
    }

    /// Column `name` as a Rust type: `row.get_as::<i64>("id")?`, `row.get_as::<Option<String>>("note")?`.
    pub fn get_as<T: FromValue>(&self, name: &str) -> Result<T> {
        let value = self
            .get(name)
            .ok_or_else(|| Error::new(ErrorKind::InvalidInput, format!("no column `{name}` in the row")))?;
        T::from_value(value).map_err(|e| Error::new(ErrorKind::InvalidInput, format!("column `{name}`: {e}")))
    }

    /// Decodes the row into `T` by column name (serde).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        decode_row(&self.columns, &self.values)
    }
}

fn decode_row<T: DeserializeOwned>(columns: &[Column], values: &[Value]) -> Result<T> {
    let map: serde_json::Map<String, serde_json::Value> =
        columns.iter().zip(values).map(|(c, v)| (c.name.clone(), v.to_json())).collect();
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("cannot decode row: {e}")))
}

impl Value {
    /// The value as JSON: numbers for integers and floats, strings for numeric (exact) and the
    /// temporal types, parsed JSON for json, an array of byte values for bytea.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Boolean(b) => J::Bool(*b),
            Value::Int16(v) => J::from(*v),
            Value::Int32(v) => J::from(*v),
            Value::Int64(v) => J::from(*v),
            Value::Float32(v) => J::from(*v),
            Value::Float64(v) => J::from(*v),
            Value::Json(s) => serde_json::from_str(s).unwrap_or_else(|_| J::String(s.clone())),
            Value::Bytea(b) => J::from(b.clone()),
            Value::Numeric(s) | Value::Text(s) | Value::Uuid(s) | Value::Date(s) | Value::Time(s) | Value::Timestamp(s)
            | Value::Timestamptz(s) | Value::Interval(s) => J::String(s.clone()),
            Value::Array(items) => J::Array(items.iter().map(|e| element_value(e).to_json()).collect()),
        }
    }

    /// The integer inside an int16/int32/int64 value.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int16(v) => Some((*v).into()),
            Value::Int32(v) => Some((*v).into()),
            Value::Int64(v) => Some(*v),
            _ => None,
        }
    }

    /// The text of any string-carried value (text, numeric, json, uuid, temporal).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Numeric(s) | Value::Text(s) | Value::Json(s) | Value::Uuid(s) | Value::Date(s) | Value::Time(s)
            | Value::Timestamp(s) | Value::Timestamptz(s) | Value::Interval(s) => Some(s),
            _ => None,
        }
    }

    /// The float inside a float32/float64 value.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float32(v) => Some((*v).into()),
            Value::Float64(v) => Some(*v),
            _ => None,
        }
    }
}

fn element_value(e: &Element) -> Value {
    match e.clone() {
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

macro_rules! value_from {
    ($($t:ty => $case:ident),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$case(v.into())
            }
        }
    )*};
}

value_from!(bool => Boolean, i16 => Int16, i32 => Int32, i64 => Int64, f32 => Float32, f64 => Float64, String => Text, Vec<u8> => Bytea);

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}

/// Conversion of a column value into a Rust type, for the typed getters.
pub trait FromValue: Sized {
    fn from_value(value: &Value) -> std::result::Result<Self, String>;
}

fn mismatch<T>(value: &Value, wanted: &str) -> std::result::Result<T, String> {
    Err(format!("cannot read {value:?} as {wanted}"))
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> std::result::Result<Self, String> {
        value.as_i64().map_or_else(|| mismatch(value, "i64"), Ok)
    }
}

impl FromValue for i32 {
    fn from_value(value: &Value) -> std::result::Result<Self, String> {
        match value {
            Value::Int16(v) => Ok((*v).into()),
            Value::Int32(v) => Ok(*v),
            _ => mismatch(value, "i32"),
        }
    }
}

impl FromValue for f64 {
    fn from_value(value: &Value) -> std::result::Result<Self, String> {
        match value {
            Value::Numeric(s) => s.parse().map_err(|_| format!("numeric {s} is not an f64")),
            _ => value.as_f64().or_else(|| value.as_i64().map(|i| i as f64)).map_or_else(|| mismatch(value, "f64"), Ok),
        }
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> std::result::Result<Self, String> {
        match value {
            Value::Boolean(b) => Ok(*b),
            _ => mismatch(value, "bool"),
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> std::result::Result<Self, String> {
        value.as_str().map(str::to_string).map_or_else(|| mismatch(value, "String"), Ok)
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> std::result::Result<Self, String> {
        match value {
            Value::Bytea(b) => Ok(b.clone()),
            _ => mismatch(value, "bytes"),
        }
    }
}

impl FromValue for serde_json::Value {
    fn from_value(value: &Value) -> std::result::Result<Self, String> {
        Ok(value.to_json())
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> std::result::Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// One cell of a row in the compact encoding (`row-stream.next-encoded`), borrowed from its
/// batch: reading it allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Text and everything the WIT carries as text (numeric, json, uuid, dates, intervals);
    /// the column's type name says which.
    Text(&'a str),
    Bytes(&'a [u8]),
    /// An array as JSON text.
    Array(&'a str),
}

impl<'a> Cell<'a> {
    pub fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Cell::Int(v) => Some(*v),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Float(v) => Some(*v),
            Cell::Int(v) => Some(*v as f64),
            Cell::Text(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            Cell::Text(s) | Cell::Array(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Cell::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// The size of the cell at the start of `data`, without decoding it.
fn cell_len(data: &[u8]) -> Option<usize> {
    let used = match *data.first()? {
        0 => 1,
        1 => 2,
        2 | 3 => 9,
        4..=6 => 5 + u32::from_le_bytes(data.get(1..5)?.try_into().ok()?) as usize,
        _ => return None,
    };
    (used <= data.len()).then_some(used)
}

/// Text the host encoded. The host validates every text cell as UTF-8 before encoding it (it
/// comes from a Rust `String` or passed `str::from_utf8`), so, like wit-bindgen's own string
/// lifting, the guest does not pay for a second validation in release builds.
fn host_text(bytes: &[u8]) -> &str {
    debug_assert!(std::str::from_utf8(bytes).is_ok());
    // SAFETY: see above; the host is the trusted side of this interface.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

/// Decodes the cell at the start of `data`; `None` if the buffer is malformed.
fn parse_cell(data: &[u8]) -> Option<Cell<'_>> {
    let used = cell_len(data)?;
    let payload = &data[1..used];
    let word = || -> Option<[u8; 8]> { payload.try_into().ok() };
    Some(match data[0] {
        0 => Cell::Null,
        1 => Cell::Bool(payload[0] != 0),
        2 => Cell::Int(i64::from_le_bytes(word()?)),
        3 => Cell::Float(f64::from_le_bytes(word()?)),
        4 => Cell::Text(host_text(&payload[4..])),
        5 => Cell::Bytes(&payload[4..]),
        _ => Cell::Array(host_text(&payload[4..])),
    })
}

/// A row of an encoded batch.
#[derive(Debug, Clone, Copy)]
pub struct EncodedRow<'a> {
    data: &'a [u8],
    columns: usize,
}

impl<'a> EncodedRow<'a> {
    /// Cell `index` (0-based), or `None` past the last column.
    pub fn get(&self, index: usize) -> Option<Cell<'a>> {
        if index >= self.columns {
            return None;
        }
        let mut data = self.data;
        for _ in 0..index {
            data = &data[cell_len(data)?..];
        }
        parse_cell(data)
    }

    /// Every cell, in column order.
    pub fn cells(&self) -> impl Iterator<Item = Cell<'a>> + 'a {
        let mut data = self.data;
        (0..self.columns).map_while(move |_| {
            let cell = parse_cell(data)?;
            data = &data[cell_len(data)?..];
            Some(cell)
        })
    }
}

/// Iterates the rows of an [`EncodedRows`] batch.
pub struct EncodedRowIter<'a> {
    data: &'a [u8],
    columns: usize,
    left: u32,
}

impl<'a> Iterator for EncodedRowIter<'a> {
    type Item = Result<EncodedRow<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut used = 0;
        for _ in 0..self.columns {
            match cell_len(&self.data[used..]) {
                Some(n) => used += n,
                None => {
                    self.left = 0;
                    return Some(Err(Error::new(ErrorKind::Permanent, "malformed encoded row batch")));
                }
            }
        }
        let (row, rest) = self.data.split_at(used);
        self.data = rest;
        Some(Ok(EncodedRow { data: row, columns: self.columns }))
    }
}

impl EncodedRows {
    /// The batch's rows, each of `columns` cells (`row_stream.columns().len()`).
    pub fn rows(&self, columns: usize) -> EncodedRowIter<'_> {
        EncodedRowIter { data: &self.data, columns, left: self.count }
    }
}
