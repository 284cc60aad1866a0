//! The AegisSDK envelopes against captured Python traffic
//! (`reference/aegis-python-wire-samples.txt`, copied verbatim below) and the field lists of
//! `reference/aegis-python-wire.md` §3.

use aegis::Codec;
use aegis::domain::envelope::{CommandEnvelope, EventEnvelope, RpcRequest, RpcResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `rpc.echo-demo.echo` request, captured (msgpack on the wire, shown as JSON).
const PY_REQUEST: &str = r#"{"message_id": "d6e1c33f-e25e-46a6-83ae-25f70de715c0", "trace_id": "eb790c18-c3a5-4980-8ac9-e81ab0c087e4", "correlation_id": null, "timestamp": "2026-11-26T23:47:11.111216+00:00", "source": "demo-client-2f75d84e", "target": "echo-demo", "method": "echo", "params": {"message": "hi"}, "timeout": 5.0}"#;
/// Its reply, captured.
const PY_RESPONSE: &str = r#"{"message_id": "1c6eeaf6-e79e-4af8-9043-36df182edd90", "trace_id": "8179cc1b-ad5a-4541-bf1b-5f8491d60ebd", "correlation_id": "d6e1c33f-e25e-46a6-83ae-25f70de715c0", "timestamp": "2026-11-26T23:47:11.111666+00:00", "source": null, "target": null, "success": true, "result": {"echo": "hi"}, "error": null}"#;
/// `events.bench.demo`, captured.
const PY_EVENT: &str = r#"{"message_id": "70e05212-4ba2-45d5-acc8-0b7d086702d0", "trace_id": "2889fcc3-d1d9-42f9-822f-4fd641a2d156", "correlation_id": null, "timestamp": "2026-11-26T23:47:14.462579+00:00", "source": "evpub-demo-d3fbcfaf", "target": null, "domain": "bench", "event_type": "demo", "payload": {"phase": "seq", "i": 0, "ts": 1795736834.4625545}, "version": "1.0"}"#;

const BASE_KEYS: [&str; 6] = [
    "message_id",
    "trace_id",
    "correlation_id",
    "timestamp",
    "source",
    "target",
];

fn keys_of(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("an envelope is a map")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn expected_keys(extra: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = BASE_KEYS
        .iter()
        .chain(extra)
        .map(|k| k.to_string())
        .collect();
    keys.sort();
    keys
}

/// The bytes a Python peer sends: msgpack of the same map (strings as `str`, floats as f64).
fn as_msgpack(json: &str) -> Vec<u8> {
    let value: Value = serde_json::from_str(json).expect("sample is JSON");
    rmp_serde::to_vec(&value).expect("msgpack")
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct EchoParams {
    message: String,
}

#[test]
fn python_request_decodes_in_both_codecs() {
    for bytes in [PY_REQUEST.as_bytes().to_vec(), as_msgpack(PY_REQUEST)] {
        let codec = Codec::detect(&bytes);
        let mut request: RpcRequest<EchoParams> = codec.decode(&bytes).expect("decodes");
        assert_eq!(request.method, "echo");
        assert_eq!(request.message_id, "d6e1c33f-e25e-46a6-83ae-25f70de715c0");
        assert_eq!(request.source.as_deref(), Some("demo-client-2f75d84e"));
        assert_eq!(request.target.as_deref(), Some("echo-demo"));
        assert_eq!(request.timeout, 5.0);
        assert_eq!(
            request.take_params().expect("params"),
            EchoParams {
                message: "hi".into()
            }
        );
    }
    assert_eq!(Codec::detect(&as_msgpack(PY_REQUEST)), Codec::MsgPack);
    assert_eq!(Codec::detect(PY_REQUEST.as_bytes()), Codec::Json);
}

#[test]
fn minimal_python_request_takes_defaults() {
    // Python accepts `{"method": "echo"}`: every other field has a default.
    let mut request: RpcRequest<Value> = Codec::Json
        .decode(br#"{"method":"echo"}"#)
        .expect("decodes");
    assert_eq!(request.method, "echo");
    assert_eq!(request.timeout, 5.0);
    assert_eq!(request.message_id.len(), 36);
    assert_eq!(
        request.take_params().expect("params"),
        serde_json::json!({})
    );
    // An int where Python sends a float is accepted.
    let request: RpcRequest<Value> = Codec::Json
        .decode(br#"{"method":"echo","timeout":3}"#)
        .expect("decodes");
    assert_eq!(request.timeout, 3.0);
}

#[test]
fn python_response_decodes_in_both_codecs() {
    for bytes in [PY_RESPONSE.as_bytes().to_vec(), as_msgpack(PY_RESPONSE)] {
        let response: RpcResponse<Value> = Codec::detect(&bytes).decode(&bytes).expect("decodes");
        assert!(response.success);
        assert_eq!(response.result, Some(serde_json::json!({"echo": "hi"})));
        assert_eq!(response.error, None);
        assert_eq!(
            response.correlation_id.as_deref(),
            Some("d6e1c33f-e25e-46a6-83ae-25f70de715c0")
        );
    }
}

#[test]
fn our_envelopes_have_exactly_the_reference_keys() {
    let response = RpcResponse::ok(
        Some("m1".to_owned()),
        None,
        EchoParams {
            message: "x".into(),
        },
    );
    let error = RpcResponse::<()>::err(Some("m1".to_owned()), None, 503, "standby");
    for codec in [Codec::Json, Codec::MsgPack] {
        for bytes in [
            codec.encode(&response).expect("encode"),
            codec.encode(&error).expect("encode"),
        ] {
            let value: Value = codec.decode(&bytes).expect("decode");
            assert_eq!(
                keys_of(&value),
                expected_keys(&["success", "result", "error"])
            );
        }
    }
    let error: Value = Codec::Json
        .decode(&Codec::Json.encode(&error).expect("encode"))
        .expect("decode");
    assert_eq!(error["success"], false);
    assert_eq!(error["result"], Value::Null);
    assert_eq!(error["error"], "NOT_ACTIVE: standby");

    let request: RpcRequest<Value> = Codec::Json.decode(PY_REQUEST.as_bytes()).expect("decodes");
    let value: Value = Codec::Json
        .decode(&Codec::Json.encode(&request).expect("encode"))
        .expect("decode");
    assert_eq!(
        keys_of(&value),
        expected_keys(&["method", "params", "timeout"])
    );
}

#[test]
fn msgpack_is_a_named_map_with_str_strings_in_reference_order() {
    let request: RpcRequest<EchoParams> =
        Codec::Json.decode(PY_REQUEST.as_bytes()).expect("decodes");
    let bytes = Codec::MsgPack.encode(&request).expect("encode");
    // fixmap of 9 entries, first key the fixstr "message_id".
    assert_eq!(bytes[0], 0x89);
    assert_eq!(bytes[1], 0xa0 | 10);
    assert_eq!(&bytes[2..12], b"message_id");
    // The same keys in the same order as Python's model (field-declaration order).
    let value: rmpv_like::Map = rmp_serde::from_slice(&bytes).expect("decode");
    assert_eq!(
        value.0,
        [
            "message_id",
            "trace_id",
            "correlation_id",
            "timestamp",
            "source",
            "target",
            "method",
            "params",
            "timeout"
        ]
    );
    // Bytes identical to what Python's msgpack produces for the same map, up to key order,
    // which we matched above: re-encoding the sample gives the same length.
    assert_eq!(
        bytes.len(),
        250,
        "the captured request was 250 bytes on the wire"
    );
}

/// Reads only the keys of a map, in wire order.
mod rmpv_like {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

    pub(crate) struct Map(pub(crate) Vec<String>);

    impl<'de> serde::Deserialize<'de> for Map {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Keys;
            impl<'de> Visitor<'de> for Keys {
                type Value = Map;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a map")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Map, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                        keys.push(key);
                    }
                    Ok(Map(keys))
                }
            }
            d.deserialize_map(Keys)
        }
    }
}

#[test]
fn python_event_decodes_and_ours_has_the_reference_keys() {
    for bytes in [PY_EVENT.as_bytes().to_vec(), as_msgpack(PY_EVENT)] {
        let event: EventEnvelope<Value> = Codec::detect(&bytes).decode(&bytes).expect("decodes");
        assert_eq!(event.domain, "bench");
        assert_eq!(event.event_type, "demo");
        assert_eq!(event.version, "1.0");
        assert_eq!(event.source.as_deref(), Some("evpub-demo-d3fbcfaf"));
        let value: Value = Codec::Json
            .decode(&Codec::Json.encode(&event).expect("encode"))
            .expect("decode");
        assert_eq!(
            keys_of(&value),
            expected_keys(&["domain", "event_type", "payload", "version"])
        );
    }
}

#[test]
fn command_envelope_has_the_reference_keys_and_defaults() {
    let command: CommandEnvelope<Value> = Codec::Json
        .decode(br#"{"command":"process_task","payload":{"task_id":"t1"}}"#)
        .expect("decodes");
    assert_eq!(command.priority, aegis::domain::envelope::Priority::Normal);
    assert_eq!(command.max_retries, 3);
    assert_eq!(command.timeout, 300.0);
    let value: Value = Codec::Json
        .decode(&Codec::Json.encode(&command).expect("encode"))
        .expect("decode");
    assert_eq!(
        keys_of(&value),
        expected_keys(&["command", "payload", "priority", "max_retries", "timeout"])
    );
    assert_eq!(value["priority"], "normal");
    let high: CommandEnvelope<Value> = Codec::Json
        .decode(br#"{"command":"c","priority":"critical"}"#)
        .expect("decodes");
    assert_eq!(high.priority, aegis::domain::envelope::Priority::Critical);
}

#[test]
fn timestamps_look_like_python_isoformat() {
    let stamp = aegis::domain::envelope::timestamp_now();
    // 2026-11-26T23:47:11.111216+00:00
    assert_eq!(stamp.len(), 32, "{stamp}");
    assert!(stamp.ends_with("+00:00"), "{stamp}");
    assert_eq!(&stamp[10..11], "T");
    assert_eq!(&stamp[19..20], ".");
}
