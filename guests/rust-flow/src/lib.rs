//! aw-guest-flow: flows in Rust. A flow is a task that spawns tasks; the host runs each
//! spawned task in a fresh sandboxed instance of the same component, concurrently, with its
//! retry, timeout and cache policy.
//!
//! ```ignore
//! use aw_guest_flow::tasks::{self, Options};
//!
//! fn square(n: u64) -> aw_guest::Result<u64> { Ok(n * n) }
//!
//! fn flow(input: serde_json::Value) -> aw_guest::Result<u64> {
//!     let handles: Vec<_> = (1..=10u64).map(|n| tasks::spawn("square", &n, Options::new())).collect::<Result<_, _>>()?;
//!     let squares: Vec<u64> = tasks::join_all(&handles)?;
//!     Ok(squares.iter().sum())
//! }
//!
//! aw_guest_flow::flow!(flow, tasks: [square, slow_one = Options::new().retries(3).timeout_ms(5_000)]);
//! ```
//!
//! A component is either a task (`aw_guest::task!`) or a flow (this crate's `flow!`), not both:
//! depend on this crate only from flow components.

pub mod tasks;

/// Raw bindings of the `flow` world, reusing aw-guest's interface bindings.
pub mod bindings {
    wit_bindgen::generate!({
        world: "flow",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_flow_world",
        default_bindings_module: "aw_guest_flow::bindings",
        with: {
            "auto-workflow:connectors/types@0.1.0": aw_guest::bindings::auto_workflow::connectors::types,
            "auto-workflow:connectors/config@0.1.0": aw_guest::bindings::auto_workflow::connectors::config,
            "auto-workflow:connectors/secrets@0.1.0": aw_guest::bindings::auto_workflow::connectors::secrets,
            "auto-workflow:connectors/log@0.1.0": aw_guest::bindings::auto_workflow::connectors::log,
            "auto-workflow:connectors/postgres@0.1.0": aw_guest::bindings::auto_workflow::connectors::postgres,
            "auto-workflow:connectors/adls2@0.1.0": aw_guest::bindings::auto_workflow::connectors::adls2,
        },
    });
}

#[doc(hidden)]
pub use aw_guest as __aw_guest;

/// Exports a flow: `$run` is the flow's entry point (as for `aw_guest::task!`), and each
/// listed function a task named after it, optionally with default options
/// (`name = Options::new()...`). Tasks take and return serde values.
#[macro_export]
macro_rules! flow {
    ($run:path, tasks: [ $( $task:ident $( = $options:expr )? ),* $(,)? ]) => {
        #[doc(hidden)]
        pub struct __AwFlow;

        impl $crate::bindings::Guest for __AwFlow {
            fn run(
                input: ::std::string::String,
            ) -> ::std::result::Result<::std::string::String, $crate::__aw_guest::bindings::auto_workflow::connectors::types::ConnectorError> {
                $crate::__aw_guest::__run_json(&input, $run)
            }

            fn run_task(
                name: ::std::string::String,
                input: ::std::string::String,
            ) -> ::std::result::Result<::std::string::String, $crate::__aw_guest::bindings::auto_workflow::connectors::types::ConnectorError> {
                $( if name == stringify!($task) { return $crate::__aw_guest::__run_json(&input, $task); } )*
                ::std::result::Result::Err($crate::__aw_guest::Error::invalid_input(format!("no task named `{name}` in this flow")).into())
            }

            fn describe() -> ::std::vec::Vec<$crate::bindings::auto_workflow::connectors::tasks::TaskSpec> {
                ::std::vec![ $(
                    $crate::tasks::__spec(stringify!($task), $crate::flow!(@options $( $options )?)),
                )* ]
            }

            fn flows() -> ::std::vec::Vec<$crate::bindings::auto_workflow::connectors::tasks::FlowSpec> {
                ::std::vec::Vec::new()
            }

            fn graph(
                _name: ::std::string::String,
                _input: ::std::string::String,
            ) -> ::std::result::Result<::std::string::String, $crate::__aw_guest::bindings::auto_workflow::connectors::types::ConnectorError> {
                ::std::result::Result::Err($crate::__aw_guest::Error::invalid_input($crate::tasks::NO_GRAPH).into())
            }
        }

        $crate::bindings::__export_flow_world!(__AwFlow with_types_in $crate::bindings);
    };
    (@options) => { $crate::tasks::Options::new() };
    (@options $options:expr) => { $options };
}
