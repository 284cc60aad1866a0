//! Name rules, mirrored from `aegis::domain::names` (a proc-macro crate cannot depend on the
//! runtime; the runtime validates again at start).

/// `^[a-z][a-z0-9-]*[a-z0-9]$`
pub(crate) fn is_valid_service_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

/// `^[a-z][a-z0-9_]*$`
pub(crate) fn is_valid_method_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// `x.y.z`
pub(crate) fn is_valid_version(version: &str) -> bool {
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_the_runtime() {
        assert!(is_valid_service_name("echo-service"));
        assert!(!is_valid_service_name("Echo"));
        assert!(!is_valid_service_name("echo-"));
        assert!(!is_valid_service_name("e"));
        assert!(is_valid_method_name("get_order"));
        assert!(!is_valid_method_name("getOrder"));
        assert!(!is_valid_method_name("_x"));
        assert!(is_valid_version("1.2.3"));
        assert!(!is_valid_version("1.2"));
        assert!(!is_valid_version("1.2.x"));
    }
}
