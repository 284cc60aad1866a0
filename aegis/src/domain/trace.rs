//! W3C Trace Context (`traceparent`, `tracestate`): what one service tells the next about
//! the trace a request belongs to.

use std::fmt;
use std::sync::Arc;

/// A position in a distributed trace: the trace, the span of the work being done, and the
/// span that asked for it. Every RPC, event and command handler runs in one (see
/// [`RequestContext::trace`](crate::RequestContext::trace)); calls, events and commands it
/// sends carry it on as their `traceparent` header.
#[derive(Clone, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: u128,
    span_id: u64,
    parent_span_id: Option<u64>,
    flags: u8,
    tracestate: Option<Arc<str>>,
}

const SAMPLED: u8 = 0x01;

impl TraceContext {
    /// The first span of a new trace (sampled).
    pub fn root() -> Self {
        TraceContext {
            trace_id: nonzero(rand::random),
            span_id: nonzero(rand::random),
            parent_span_id: None,
            flags: SAMPLED,
            tracestate: None,
        }
    }

    /// A span of the same trace, child of this one.
    pub fn child(&self) -> Self {
        TraceContext {
            span_id: nonzero(rand::random),
            parent_span_id: Some(self.span_id),
            ..self.clone()
        }
    }

    /// The context a `traceparent` header value names (and `tracestate`, carried on as is),
    /// or `None` if it is not a valid W3C `traceparent`: then the receiver starts a new trace,
    /// as the specification asks.
    pub fn from_headers(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        // version "-" trace-id "-" parent-id "-" flags; later versions may append fields.
        let bytes = traceparent.trim().as_bytes();
        if bytes.len() < 55 || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let version = hex::<u8>(&bytes[0..2])?;
        if version == 0xff || (version == 0 && bytes.len() != 55) {
            return None;
        }
        if version != 0 && bytes.len() > 55 && bytes[55] != b'-' {
            return None;
        }
        let trace_id = hex::<u128>(&bytes[3..35]).filter(|&id| id != 0)?;
        let span_id = hex::<u64>(&bytes[36..52]).filter(|&id| id != 0)?;
        let flags = hex::<u8>(&bytes[53..55])?;
        Some(TraceContext {
            trace_id,
            span_id,
            parent_span_id: None,
            flags,
            tracestate: tracestate
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Arc::from),
        })
    }

    /// The `traceparent` header value naming this span: `00-{trace}-{span}-{flags}`.
    pub fn traceparent(&self) -> String {
        // By hand, not `format!`: it runs for every request, call, event and command sent.
        let mut out = [0u8; 55];
        out[..3].copy_from_slice(b"00-");
        put_hex(&mut out[3..35], self.trace_id);
        out[35] = b'-';
        put_hex(&mut out[36..52], u128::from(self.span_id));
        out[52] = b'-';
        put_hex(&mut out[53..55], u128::from(self.flags));
        ascii(&out)
    }

    /// The vendor data of the `tracestate` header, as received.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The trace id: 32 lowercase hex digits.
    pub fn trace_id(&self) -> String {
        self.trace_id_hex().as_str().to_owned()
    }

    /// [`trace_id`](Self::trace_id) without allocating, for the envelope of every call.
    pub(crate) fn trace_id_hex(&self) -> TraceIdHex {
        let mut out = [0u8; 32];
        put_hex(&mut out, self.trace_id);
        TraceIdHex(out)
    }

    /// This span's id: 16 lowercase hex digits.
    pub fn span_id(&self) -> String {
        let mut out = [0u8; 16];
        put_hex(&mut out, u128::from(self.span_id));
        ascii(&out)
    }

    /// The id of the span this one is a child of, when it has one (16 hex digits).
    pub fn parent_span_id(&self) -> Option<String> {
        self.parent_span_id.map(|id| format!("{id:016x}"))
    }

    /// The parent span's id, as a number.
    #[cfg(feature = "otel")]
    pub(crate) fn parent(&self) -> Option<u64> {
        self.parent_span_id
    }

    /// Whether the caller records this trace (the `sampled` flag).
    pub fn sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// The trace and span ids as numbers, for bridges to tracing systems.
    pub fn ids(&self) -> (u128, u64) {
        (self.trace_id, self.span_id)
    }

    /// A context with these ids (a span another tracing system created), keeping the rest.
    pub fn with_ids(&self, trace_id: u128, span_id: u64) -> Self {
        TraceContext {
            trace_id,
            span_id,
            ..self.clone()
        }
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceContext")
            .field("traceparent", &self.traceparent())
            .field("parent_span_id", &self.parent_span_id())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

/// Ids of all zeroes are invalid: draw again.
/// A trace id as 32 lowercase hex digits, on the stack.
pub(crate) struct TraceIdHex([u8; 32]);

impl TraceIdHex {
    pub(crate) fn as_str(&self) -> &str {
        // `put_hex` writes ASCII hex digits only.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

fn nonzero<T: PartialEq + Default>(draw: impl Fn() -> T) -> T {
    loop {
        let id = draw();
        if id != T::default() {
            return id;
        }
    }
}

/// Lowercase hex only, as the specification requires.
/// Writes the low `out.len()` hex digits of `value`, lowercase, most significant first.
fn put_hex(out: &mut [u8], mut value: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in out.iter_mut().rev() {
        *byte = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

/// Bytes that [`put_hex`] and ASCII literals wrote, as a `String`.
fn ascii(bytes: &[u8]) -> String {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .unwrap_or_default()
}

fn hex<T: TryFrom<u128>>(digits: &[u8]) -> Option<T> {
    // A table and one check at the end, not a branch per digit: the digits of an id are
    // random, and a per-digit `match` mispredicted on about every other one (4.9 % of a
    // service's samples went to parsing `traceparent`).
    const INVALID: u8 = 0x10;
    const NIBBLES: [u8; 256] = {
        let mut table = [INVALID; 256];
        let mut i = 0;
        while i < 10 {
            table[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            table[b'a' as usize + i] = 10 + i as u8;
            i += 1;
        }
        table
    };
    let mut value: u128 = 0;
    let mut invalid = 0u8;
    for &digit in digits {
        let nibble = NIBBLES[usize::from(digit)];
        invalid |= nibble;
        value = (value << 4) | u128::from(nibble & 0xf);
    }
    if invalid & INVALID != 0 {
        return None;
    }
    T::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_written_as_format_writes_them() {
        for _ in 0..1000 {
            let trace = TraceContext::root().child();
            let (trace_id, span_id) = trace.ids();
            assert_eq!(
                trace.traceparent(),
                format!("00-{trace_id:032x}-{span_id:016x}-01")
            );
            assert_eq!(trace.trace_id(), format!("{trace_id:032x}"));
            assert_eq!(trace.trace_id_hex().as_str(), format!("{trace_id:032x}"));
            assert_eq!(trace.span_id(), format!("{span_id:016x}"));
        }
        let small = TraceContext::root().with_ids(0xab, 0x1);
        assert_eq!(
            small.traceparent(),
            "00-000000000000000000000000000000ab-0000000000000001-01"
        );
    }

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn round_trips_the_specifications_example() {
        let context =
            TraceContext::from_headers(EXAMPLE, Some("rojo=00f067aa0ba902b7")).expect("valid");
        assert_eq!(context.traceparent(), EXAMPLE);
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.span_id(), "00f067aa0ba902b7");
        assert_eq!(context.tracestate(), Some("rojo=00f067aa0ba902b7"));
        assert!(context.sampled());
    }

    #[test]
    fn children_keep_the_trace_and_name_their_parent() {
        let parent = TraceContext::from_headers(EXAMPLE, None).expect("valid");
        let child = parent.child();
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_ne!(child.span_id(), parent.span_id());
        assert_eq!(child.parent_span_id(), Some(parent.span_id()));
        let root = TraceContext::root();
        assert_ne!(root.trace_id(), parent.trace_id());
        assert_eq!(root.parent_span_id(), None);
        assert_eq!(
            TraceContext::from_headers(&root.traceparent(), None),
            Some(root)
        );
    }

    #[test]
    fn refuses_what_the_specification_refuses() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        ] {
            assert_eq!(TraceContext::from_headers(bad, None), None, "{bad:?}");
        }
        // Every byte in a digit's place: lowercase hex digits only.
        for byte in 0..=u8::MAX {
            let mut traceparent = EXAMPLE.as_bytes().to_vec();
            traceparent[10] = byte;
            let valid = byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte);
            let parsed = std::str::from_utf8(&traceparent)
                .ok()
                .and_then(|t| TraceContext::from_headers(t, None));
            assert_eq!(parsed.is_some(), valid, "{byte:#04x}");
        }
        // A later version may append fields.
        let future = format!("cc{}-what-comes-next", &EXAMPLE[2..]);
        assert!(TraceContext::from_headers(&future, None).is_some());
    }
}
