//! natscli contexts (NATS ADR-21): `NATS_CONTEXT=orders` reads
//! `$XDG_CONFIG_HOME/nats/context/orders.json` (`~/.config/nats/...` by default), the file
//! `nats context add` writes, so a natscli user needs nothing new.

use std::path::PathBuf;

use serde::Deserialize;

/// The fields of a context file aegis reads. natscli writes every field, unset ones as `""`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Context {
    url: String,
    user: String,
    password: String,
    token: String,
    creds: String,
    nkey: String,
    cert: String,
    key: String,
    ca: String,
    tls_first: bool,
    // Settings aegis cannot honour yet: refused rather than silently ignored, since
    // connecting without them would reach a different JetStream or identity.
    jetstream_domain: String,
    jetstream_api_prefix: String,
    inbox_prefix: String,
    user_jwt: String,
    nsc: String,
    windows_cert_store: String,
}

/// The environment names that choose how to authenticate: when any is set, the context's
/// credentials are not used (the environment overrides the context, as natscli's flags do).
const AUTH_NAMES: [&str; 5] = [
    "NATS_CREDS",
    "NATS_NKEY",
    "NATS_TOKEN",
    "NATS_USER",
    "NATS_PASSWORD",
];

impl Context {
    /// The context named `name` (or at `name`, when it is a path to a `.json` file), finding
    /// the configuration directory through `lookup` (`XDG_CONFIG_HOME`, `HOME`).
    pub(super) fn load(
        name: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let path = context_path(name, lookup)?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("NATS_CONTEXT `{name}`: cannot read {}: {e}", path.display()))?;
        let context: Context = serde_json::from_str(&text).map_err(|e| {
            format!(
                "NATS_CONTEXT `{name}`: {} is not a context: {e}",
                path.display()
            )
        })?;
        context.check_supported(name)?;
        Ok(context)
    }

    fn check_supported(&self, name: &str) -> Result<(), String> {
        let unsupported = [
            ("jetstream_domain", &self.jetstream_domain),
            ("jetstream_api_prefix", &self.jetstream_api_prefix),
            ("inbox_prefix", &self.inbox_prefix),
            ("user_jwt", &self.user_jwt),
            ("nsc", &self.nsc),
            ("windows_cert_store", &self.windows_cert_store),
        ];
        if let Some((field, _)) = unsupported.iter().find(|(_, value)| !value.is_empty()) {
            return Err(format!(
                "NATS_CONTEXT `{name}`: `{field}` is set, and aegis does not support it yet"
            ));
        }
        for (field, value) in [("creds", &self.creds), ("nkey", &self.nkey)] {
            if value.contains("://") && !value.starts_with("file://") || value.starts_with("data:")
            {
                return Err(format!(
                    "NATS_CONTEXT `{name}`: `{field}` names a credential URI; aegis reads only \
                     file paths (or file:// URIs)"
                ));
            }
        }
        Ok(())
    }

    /// The context's value for the environment variable `env_name`, if it sets one.
    /// `env` tells whether the environment itself sets a name (credentials come from one
    /// place only).
    pub(super) fn setting(&self, env_name: &str, env: &dyn Fn(&str) -> bool) -> Option<String> {
        let value = match env_name {
            "NATS_URL" => &self.url,
            "NATS_CA" => &self.ca,
            "NATS_CERT" => &self.cert,
            "NATS_KEY" => &self.key,
            "NATS_TLS_FIRST" => return self.tls_first.then(|| "true".to_owned()),
            auth if AUTH_NAMES.contains(&auth) => {
                if AUTH_NAMES.iter().any(|name| env(name)) {
                    return None;
                }
                match auth {
                    "NATS_CREDS" => &self.creds,
                    "NATS_NKEY" => &self.nkey,
                    "NATS_TOKEN" => &self.token,
                    "NATS_USER" => &self.user,
                    _ => &self.password,
                }
            }
            _ => return None,
        };
        let value = value.strip_prefix("file://").unwrap_or(value);
        (!value.is_empty()).then(|| value.to_owned())
    }
}

fn context_path(name: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, String> {
    if name.ends_with(".json") {
        return Ok(PathBuf::from(name));
    }
    if name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(format!(
            "NATS_CONTEXT `{name}`: a context name has no path separators (or give a path to a \
             .json file)"
        ));
    }
    let config = lookup("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| lookup("HOME").map(|home| PathBuf::from(home).join(".config")))
        .ok_or_else(|| format!("NATS_CONTEXT `{name}`: neither XDG_CONFIG_HOME nor HOME is set"))?;
    Ok(config
        .join("nats")
        .join("context")
        .join(format!("{name}.json")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &std::path::Path, name: &str, json: &str) {
        let contexts = dir.join("nats").join("context");
        std::fs::create_dir_all(&contexts).expect("create");
        std::fs::write(contexts.join(format!("{name}.json")), json).expect("write");
    }

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "aegis-context-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).expect("create");
        dir
    }

    #[test]
    fn a_context_is_read_from_the_config_directory_and_the_environment_overrides_it() {
        let dir = temp_dir();
        // What `nats context add prod --server ... --user u --password p --tlsca ...` writes.
        write(
            &dir,
            "prod",
            r#"{"description":"","url":"nats://a:4222,nats://b:4222","socks_proxy":"",
                "token":"","user":"u","password":"p","creds":"","nkey":"","cert":"",
                "key":"","ca":"/etc/ca.pem","nsc":"","jetstream_domain":"",
                "jetstream_api_prefix":"","jetstream_event_prefix":"","inbox_prefix":"",
                "user_jwt":"","color_scheme":"","tls_first":true}"#,
        );
        let home = dir.to_str().expect("utf-8").to_owned();
        let lookup = move |name: &str| (name == "XDG_CONFIG_HOME").then(|| home.clone());
        let context = Context::load("prod", &lookup).expect("loads");
        let none = |_: &str| false;
        assert_eq!(
            context.setting("NATS_URL", &none).as_deref(),
            Some("nats://a:4222,nats://b:4222")
        );
        assert_eq!(context.setting("NATS_USER", &none).as_deref(), Some("u"));
        assert_eq!(
            context.setting("NATS_PASSWORD", &none).as_deref(),
            Some("p")
        );
        assert_eq!(
            context.setting("NATS_CA", &none).as_deref(),
            Some("/etc/ca.pem")
        );
        assert_eq!(
            context.setting("NATS_TLS_FIRST", &none).as_deref(),
            Some("true")
        );
        assert_eq!(context.setting("NATS_TOKEN", &none), None);
        // A token in the environment replaces the context's user and password.
        let token = |name: &str| name == "NATS_TOKEN";
        assert_eq!(context.setting("NATS_USER", &token), None);
        assert_eq!(context.setting("NATS_PASSWORD", &token), None);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_by_name() {
        let dir = temp_dir();
        write(
            &dir,
            "hub",
            r#"{"url":"nats://a","jetstream_domain":"hub"}"#,
        );
        write(&dir, "vault", r#"{"creds":"op://vault/item/creds"}"#);
        write(&dir, "file", r#"{"creds":"file:///etc/user.creds"}"#);
        let home = dir.to_str().expect("utf-8").to_owned();
        let lookup = move |name: &str| (name == "XDG_CONFIG_HOME").then(|| home.clone());
        let error = Context::load("hub", &lookup).expect_err("a domain is refused");
        assert!(error.contains("jetstream_domain"), "{error}");
        let error = Context::load("vault", &lookup).expect_err("op:// is refused");
        assert!(error.contains("creds"), "{error}");
        let file = Context::load("file", &lookup).expect("file:// is a path");
        assert_eq!(
            file.setting("NATS_CREDS", &|_| false).as_deref(),
            Some("/etc/user.creds")
        );
        let error = Context::load("missing", &lookup).expect_err("no such context");
        assert!(error.contains("missing.json"), "{error}");
        assert!(Context::load("../etc", &lookup).is_err());
        std::fs::remove_dir_all(dir).ok();
    }
}
