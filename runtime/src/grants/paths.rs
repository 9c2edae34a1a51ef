//! ADLS container names and paths as the guest gives them -> the canonical form the grants'
//! path scopes are checked on, and every other part (URLs, listings) works with.
//!
//! A path is `/`-separated; empty and `.` segments are dropped and `..` removes the segment
//! before it, so `a//b/./c/../d/` is `a/b/d`. A `..` that would climb above the container's
//! root is refused: it cannot reach outside a granted prefix because the grant is checked on
//! the canonical form.

/// A container name or path the guest gave that cannot be used; the message says why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidPath(pub String);

/// Azure's limit on a blob or path name, in characters.
const MAX_PATH_CHARS: usize = 1024;

/// Checks a container (file system) name against Azure's rules: 3-63 characters, lowercase
/// letters, digits and single hyphens, starting and ending with a letter or digit.
pub fn container(name: &str) -> Result<String, InvalidPath> {
    let bad = |why: &str| InvalidPath(format!("container name {name:?} is invalid: {why}"));
    if !(3..=63).contains(&name.len()) {
        return Err(bad("it must be 3 to 63 characters long"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad("use only lowercase letters, digits and hyphens"));
    }
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return Err(bad("hyphens must be single and between letters or digits"));
    }
    Ok(name.to_string())
}

/// The canonical form of a path inside a container; `""` is the container's root.
pub fn normalize(path: &str) -> Result<String, InvalidPath> {
    let bad = |why: &str| InvalidPath(format!("path {path:?} is invalid: {why}"));
    if path.chars().any(|c| c.is_control()) {
        return Err(bad("it contains control characters"));
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(bad("`..` climbs above the container's root"));
                }
            }
            s => segments.push(s),
        }
    }
    let out = segments.join("/");
    if out.chars().count() > MAX_PATH_CHARS {
        return Err(bad("it is longer than 1024 characters"));
    }
    Ok(out)
}

/// The canonical form of a path that must name a file or directory (not the root).
pub fn non_root(path: &str) -> Result<String, InvalidPath> {
    let p = normalize(path)?;
    if p.is_empty() {
        return Err(InvalidPath(format!(
            "path {path:?} names the container's root; give a file or directory path"
        )));
    }
    Ok(p)
}

/// The parent directories of a canonical path, outermost first: `a/b/c` -> `a`, `a/b`.
pub fn ancestors(path: &str) -> Vec<&str> {
    path.match_indices('/').map(|(i, _)| &path[..i]).collect()
}

/// Whether canonical `path` is `prefix` or lies under it (`raw` covers `raw/x`, not `raw2`).
pub fn is_within(path: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || path == prefix
        || (path.len() > prefix.len()
            && path.starts_with(prefix)
            && path.as_bytes()[prefix.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_and_cannot_climb_out() {
        assert_eq!(normalize("a//b/./c/../d/").unwrap(), "a/b/d");
        assert_eq!(normalize("/").unwrap(), "");
        assert_eq!(normalize("raw/../curated/x.csv").unwrap(), "curated/x.csv");
        assert!(normalize("../etc").is_err());
        assert!(normalize("a/../../b").is_err());
        assert!(normalize("a\nb").is_err());
        assert!(non_root("./").is_err());
        assert_eq!(normalize("dir a/ü.csv").unwrap(), "dir a/ü.csv");
    }

    #[test]
    fn container_names_follow_azure_rules() {
        assert!(container("raw-data1").is_ok());
        for bad in ["ab", "Raw", "a--b", "-ab", "ab-", "a_b", &"x".repeat(64)] {
            assert!(container(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(is_within("raw/x", "raw"));
        assert!(is_within("raw", "raw"));
        assert!(!is_within("raw2/x", "raw"));
        assert!(is_within("anything", ""));
        assert_eq!(ancestors("a/b/c"), vec!["a", "a/b"]);
        assert!(ancestors("a").is_empty());
    }
}
