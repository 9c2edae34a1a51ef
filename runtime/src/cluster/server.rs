//! The NATS server version a connection reports, and the refusal of what it cannot do: a
//! 2.9 server silently ignores options from 2.10 on (../shared/notes/nats.md), so every
//! option that needs a newer server is checked here first, never sent and hoped for.

use std::fmt;

use super::ClusterError;

/// A server's `major.minor.patch` (a pre-release suffix is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion(pub u32, pub u32, pub u32);

impl ServerVersion {
    /// The oldest server auto-workflow runs on: Debian bookworm's 2.9.10.
    pub const MINIMUM: ServerVersion = ServerVersion(2, 9, 0);

    /// Parses `2.9.10` or `v2.11.0-beta.1`.
    pub fn parse(text: &str) -> Option<ServerVersion> {
        let core = text.trim().trim_start_matches('v');
        let core = core.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        let version = ServerVersion(parts.next()??, parts.next()??, parts.next().flatten()?);
        Some(version)
    }

    /// Refuses `what` (an option or a capability) when the server is older than `since`.
    pub fn require(self, what: &str, since: ServerVersion) -> Result<(), ClusterError> {
        if self >= since {
            return Ok(());
        }
        Err(ClusterError::Unsupported(format!(
            "{what} needs NATS server {since} or newer, and the cluster runs {self}; a {self} server would ignore it silently, so auto-workflow refuses it (upgrade the cluster, or drop the option)"
        )))
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_compare_and_refuse_what_is_newer() {
        let debian = ServerVersion::parse("2.9.10").expect("version");
        assert_eq!(debian, ServerVersion(2, 9, 10));
        assert_eq!(
            ServerVersion::parse("v2.11.0-beta.1"),
            Some(ServerVersion(2, 11, 0))
        );
        assert_eq!(ServerVersion::parse("2.x"), None);
        assert!(debian.require("JetStream", ServerVersion::MINIMUM).is_ok());
        let refused = debian
            .require("stream compression", ServerVersion(2, 10, 0))
            .expect_err("2.10 option on 2.9")
            .to_string();
        assert!(
            refused.contains("stream compression needs NATS server 2.10.0")
                && refused.contains("runs 2.9.10"),
            "{refused}"
        );
    }
}
