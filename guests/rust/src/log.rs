//! Logging into the host's log. The macros take `format!` arguments:
//! `aw_guest::log::info!("loaded {n} rows")`.

use crate::bindings::auto_workflow::connectors::log as wit;

pub use wit::Level;

/// Emits `message` at `level`.
pub fn log(level: Level, message: &str) {
    wit::log(level, message);
}

#[doc(hidden)]
#[macro_export]
macro_rules! __aw_log {
    ($level:ident, $($arg:tt)*) => {
        $crate::log::log($crate::log::Level::$level, &::std::format!($($arg)*))
    };
}

/// Logs at trace level.
#[macro_export]
macro_rules! __aw_trace { ($($arg:tt)*) => { $crate::__aw_log!(Trace, $($arg)*) }; }
/// Logs at debug level.
#[macro_export]
macro_rules! __aw_debug { ($($arg:tt)*) => { $crate::__aw_log!(Debug, $($arg)*) }; }
/// Logs at info level.
#[macro_export]
macro_rules! __aw_info { ($($arg:tt)*) => { $crate::__aw_log!(Info, $($arg)*) }; }
/// Logs at warn level.
#[macro_export]
macro_rules! __aw_warn { ($($arg:tt)*) => { $crate::__aw_log!(Warn, $($arg)*) }; }
/// Logs at error level.
#[macro_export]
macro_rules! __aw_error { ($($arg:tt)*) => { $crate::__aw_log!(Error, $($arg)*) }; }

pub use crate::{
    __aw_debug as debug, __aw_error as error, __aw_info as info, __aw_trace as trace,
    __aw_warn as warn,
};
