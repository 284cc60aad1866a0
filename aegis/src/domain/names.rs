//! Validated names: service names, method names, instance ids, versions.
//!
//! The rules are the ones every layer of the Python AegisSDK accepts, so that a name valid
//! here is valid in subjects, KV keys and bucket names on both sides.

use std::fmt;

use crate::{Error, Result};

/// Checks a service name: `^[a-z][a-z0-9-]*[a-z0-9]$` (at least two characters).
pub fn validate_service_name(name: &str) -> Result<()> {
    let bytes = name.as_bytes();
    let ok = bytes.len() >= 2
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[bytes.len() - 1] != b'-';
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "service name",
            format!(
                "`{name}` must be lowercase letters, digits and `-`, start with a letter, \
                 not end with `-`, and be at least 2 characters"
            ),
        ))
    }
}

/// Checks a method (or command) name: `^[a-z][a-z0-9_]*$`, a single subject token.
pub fn validate_method_name(name: &str) -> Result<()> {
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "method name",
            format!("`{name}` must be lowercase letters, digits and `_`, starting with a letter"),
        ))
    }
}

/// Checks a version: `x.y.z`, three non-negative integers.
pub fn validate_version(version: &str) -> Result<()> {
    let parts: Vec<&str> = version.split('.').collect();
    let ok = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "version",
            format!("`{version}` is not `x.y.z`"),
        ))
    }
}

/// The id of one running instance of a service: `^[a-zA-Z0-9][a-zA-Z0-9_-]*$`.
///
/// Cheap to clone (every request context carries one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(std::sync::Arc<str>);

impl InstanceId {
    /// Validates `id`.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        let bytes = id.as_bytes();
        let ok = !bytes.is_empty()
            && bytes[0].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-');
        if ok {
            Ok(InstanceId(id.into()))
        } else {
            Err(Error::invalid(
                "instance id",
                format!(
                    "`{id}` must be letters, digits, `_` and `-`, starting with a letter or digit"
                ),
            ))
        }
    }

    /// A fresh id in the Python SDK's form, `{service}-{8 lowercase hex}`.
    pub fn generate(service: &str) -> Self {
        let n: u32 = rand::random();
        InstanceId(format!("{service}-{n:08x}").into())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names() {
        for ok in ["echo-service", "ab", "order-processor2"] {
            assert!(validate_service_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "Echo", "echo-", "-echo", "1echo", "echo_svc", "echo.svc",
        ] {
            assert!(validate_service_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn method_names() {
        for ok in ["echo", "get_order", "v2"] {
            assert!(validate_method_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Echo", "get-order", "a.b", "_x", "2x"] {
            assert!(validate_method_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_and_instance_ids() {
        assert!(validate_version("1.2.3").is_ok());
        for bad in ["1.2", "1.2.3.4", "a.b.c", "1..2", "v1.2.3"] {
            assert!(validate_version(bad).is_err(), "{bad}");
        }
        assert!(InstanceId::new("echo-1_a").is_ok());
        assert!(InstanceId::new("-x").is_err());
        assert!(InstanceId::new("a.b").is_err());
        let id = InstanceId::generate("echo-service");
        assert!(InstanceId::new(id.as_str()).is_ok());
        assert_eq!(id.as_str().len(), "echo-service-".len() + 8);
    }
}
