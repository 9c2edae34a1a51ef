//! The Postgres connector: connector-profile settings, one pool per profile, TLS per sslmode,
//! value conversion, classified errors, and the WIT `postgres` implementation.

pub mod cancel;
mod copy;
mod errors;
mod host;
mod pool;
#[cfg(test)]
mod proptests;
mod reflect;
mod resources;
mod rowcodec;
mod session;
pub mod settings;
mod sql;
mod statements;
mod stream;
mod tls;
pub mod types;
mod values;

pub use pool::PostgresPools;
pub use resources::{PgClient, PgCopySink, PgCopySource, PgTransaction};
pub use stream::PgRowStream;
