//! Secret providers: the process environment and a directory of files.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use super::SecretError;
use crate::redact::SecretValue;

/// One place secrets are looked up.
#[derive(Debug, Clone, PartialEq)]
pub enum Provider {
    /// Env vars: `NAME` as written, then upper-cased with non-alphanumerics as `_`
    /// (`dev/db_password` -> `DEV_DB_PASSWORD`).
    Env(HashMap<String, String>),
    /// A directory where `NAME` is a relative file path (Kubernetes and Docker secrets);
    /// one trailing newline is trimmed.
    Dir(PathBuf),
}

/// The outcome of asking one provider.
pub enum Lookup {
    Found(SecretValue),
    /// Not there; the string says where it looked (never the value).
    Missing(String),
}

impl Provider {
    pub fn lookup(&self, name: &str) -> Result<Lookup, SecretError> {
        match self {
            Provider::Env(vars) => {
                let conventional = env_name(name);
                for candidate in [name, conventional.as_str()] {
                    if let Some(value) = vars.get(candidate) {
                        return Ok(Lookup::Found(SecretValue::new(value.clone())));
                    }
                }
                Ok(Lookup::Missing(format!("env {name} and {conventional}")))
            }
            Provider::Dir(dir) => {
                let relative = Path::new(name);
                let safe = relative
                    .components()
                    .all(|c| matches!(c, Component::Normal(_)));
                if !safe {
                    return Err(SecretError::InvalidName {
                        name: name.to_string(),
                        reason: "a secret name must be a relative path without `..`".into(),
                    });
                }
                let path = dir.join(relative);
                match std::fs::read(&path) {
                    Ok(bytes) => {
                        let mut text =
                            String::from_utf8(bytes).map_err(|_| SecretError::Unreadable {
                                name: name.to_string(),
                                reason: format!("{} is not UTF-8 text", path.display()),
                            })?;
                        if text.ends_with('\n') {
                            text.pop();
                            if text.ends_with('\r') {
                                text.pop();
                            }
                        }
                        Ok(Lookup::Found(SecretValue::new(text)))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        Ok(Lookup::Missing(format!("file {}", path.display())))
                    }
                    Err(e) => Err(SecretError::Unreadable {
                        name: name.to_string(),
                        reason: format!("cannot read {}: {e}", path.display()),
                    }),
                }
            }
        }
    }
}

/// `dev/db-password` -> `DEV_DB_PASSWORD`.
pub fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_name_is_upper_snake() {
        assert_eq!(env_name("dev/db_password"), "DEV_DB_PASSWORD");
        assert_eq!(env_name("api-token"), "API_TOKEN");
    }

    #[test]
    fn dir_provider_refuses_paths_out_of_its_directory() {
        let p = Provider::Dir(PathBuf::from("/tmp"));
        assert!(matches!(
            p.lookup("../etc/passwd"),
            Err(SecretError::InvalidName { .. })
        ));
        assert!(matches!(
            p.lookup("/etc/passwd"),
            Err(SecretError::InvalidName { .. })
        ));
    }
}
