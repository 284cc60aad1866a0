//! `aegis call SERVICE.METHOD JSON`: one request through the library's client, the result
//! as JSON on stdout.

use std::time::Duration;

use aegis::{Backend, ClientCore, Codec, Error};
use serde_json::Value;

use crate::output::print_json;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The method: SERVICE.METHOD
    #[arg(value_name = "SERVICE.METHOD", value_parser = crate::target)]
    target: (String, String),
    /// The parameters, as JSON
    #[arg(value_name = "JSON", default_value = "{}", value_parser = crate::json)]
    params: Value,
    /// Give up after this many seconds
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = crate::seconds)]
    timeout: Duration,
    /// The request's encoding (the reply comes back in the same)
    #[arg(long, value_enum, default_value = "msgpack")]
    codec: CodecArg,
    /// Call this instance (of an aegis service) instead of any
    #[arg(long, value_name = "ID")]
    instance: Option<String>,
    /// Add a header, NAME=VALUE (repeatable)
    #[arg(long = "header", short = 'H', value_name = "NAME=VALUE", value_parser = header)]
    headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CodecArg {
    Json,
    Msgpack,
}

pub(crate) async fn run(backend: &Backend, args: Args) -> anyhow::Result<()> {
    let (service, method) = args.target;
    // The client names its service for its whole life; this process makes one.
    let service: &'static str = Box::leak(service.into_boxed_str());
    let mut client = ClientCore::new(backend, service);
    client.set_timeout(args.timeout);
    client.set_codec(match args.codec {
        CodecArg::Json => Codec::Json,
        CodecArg::Msgpack => Codec::MsgPack,
    });
    client.set_source("aegis-cli");
    if let Some(instance) = args.instance {
        client.set_instance(instance);
    }
    for (name, value) in args.headers {
        client.add_header(name, value);
    }
    match client
        .call::<Value, Value>(&method, false, &args.params)
        .await
    {
        Ok(result) => print_json(&result),
        Err(error) => Err(anyhow::anyhow!(describe(&error, service, &method))),
    }
}

/// The error with its code (the remote code, or 503/504 for no responders and timeouts, as
/// NATS and the services use them), and a hint where one helps.
fn describe(error: &Error, service: &str, method: &str) -> String {
    match error {
        Error::Remote { code, message } => format!("{code} {message}"),
        Error::BadRequest { message } => format!("400 bad request: {message}"),
        Error::NotActive { message } => format!("503 not active: {message}"),
        Error::NoResponders { .. } => format!(
            "503 no instance of `{service}` serves `{method}` (run `aegis ls {service}` and `aegis info {service}`)"
        ),
        Error::Timeout { after, .. } => {
            format!("504 `{service}.{method}` did not answer within {after:?}")
        }
        other => other.to_string(),
    }
}

fn header(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{value}` is not NAME=VALUE")),
    }
}
