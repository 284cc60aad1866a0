//! Wire codecs: JSON and MessagePack, told apart by the first byte.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// The buffer an encode starts with: an AegisSDK envelope with a small payload fits.
const ENCODE_CAPACITY: usize = 384;

/// A payload encoding. Replies always use the codec of the request they answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Codec {
    /// MessagePack maps with field names, strings as `str` (the Python SDK's default).
    #[default]
    MsgPack,
    /// Compact UTF-8 JSON.
    Json,
}

impl Codec {
    /// The codec of `payload`, by the Python SDK's rule: a first byte in `0x80..=0x9f`
    /// (fixmap, fixarray) or `0xc0..=0xdf` (map16/map32 among others) is MessagePack,
    /// anything else JSON.
    pub fn detect(payload: &[u8]) -> Codec {
        match payload.first() {
            Some(0x80..=0x9f | 0xc0..=0xdf) => Codec::MsgPack,
            _ => Codec::Json,
        }
    }

    /// Encodes `value`.
    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>> {
        match self {
            // Room for a typical envelope up front: growing from empty costs several copies.
            Codec::MsgPack => {
                let mut out = Vec::with_capacity(ENCODE_CAPACITY);
                rmp_serde::encode::write_named(&mut out, value)
                    .map_err(|e| Error::bad_request(e.to_string()))?;
                Ok(out)
            }
            Codec::Json => {
                let mut out = Vec::with_capacity(ENCODE_CAPACITY);
                serde_json::to_writer(&mut out, value)
                    .map_err(|e| Error::bad_request(e.to_string()))?;
                Ok(out)
            }
        }
    }

    /// Decodes a `T` that may borrow from `payload` (strings without escapes are not copied).
    pub(crate) fn decode_borrowed<'a, T: serde::Deserialize<'a>>(
        self,
        payload: &'a [u8],
    ) -> Result<T> {
        match self {
            Codec::MsgPack => {
                rmp_serde::from_slice(payload).map_err(|e| Error::bad_request(e.to_string()))
            }
            Codec::Json => {
                serde_json::from_slice(payload).map_err(|e| Error::bad_request(e.to_string()))
            }
        }
    }

    /// Decodes a `T` from `payload`.
    pub fn decode<T: DeserializeOwned>(self, payload: &[u8]) -> Result<T> {
        match self {
            Codec::MsgPack => {
                rmp_serde::from_slice(payload).map_err(|e| Error::bad_request(e.to_string()))
            }
            Codec::Json => {
                serde_json::from_slice(payload).map_err(|e| Error::bad_request(e.to_string()))
            }
        }
    }
}

/// The decoder's own text in an error of [`Codec::decode`] (which reports a
/// [`Error::BadRequest`], the server's view of an undecodable request).
pub(crate) fn decoder_message(error: Error) -> String {
    match error {
        Error::BadRequest { message } => message,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Sample {
        name: String,
        n: u32,
    }

    #[test]
    fn detects_by_first_byte() {
        assert_eq!(Codec::detect(b"{\"a\":1}"), Codec::Json);
        assert_eq!(Codec::detect(b" {}"), Codec::Json);
        assert_eq!(Codec::detect(&[0x82]), Codec::MsgPack);
        assert_eq!(Codec::detect(&[0xde, 0, 16]), Codec::MsgPack);
        assert_eq!(Codec::detect(&[]), Codec::Json);
    }

    #[test]
    fn msgpack_uses_named_maps_and_str() {
        let value = Sample {
            name: "x".into(),
            n: 1,
        };
        let bytes = Codec::MsgPack.encode(&value).expect("encode");
        // fixmap of 2, then fixstr "name" (0xa4), never an array or bin.
        assert_eq!(bytes[0], 0x82);
        assert_eq!(bytes[1], 0xa4);
        assert_eq!(&bytes[2..6], b"name");
        assert_eq!(Codec::detect(&bytes), Codec::MsgPack);
        let back: Sample = Codec::MsgPack.decode(&bytes).expect("decode");
        assert_eq!(back, value);
    }

    #[test]
    fn json_round_trip() {
        let value = Sample {
            name: "y".into(),
            n: 7,
        };
        let bytes = Codec::Json.encode(&value).expect("encode");
        assert_eq!(bytes, br#"{"name":"y","n":7}"#);
        let back: Sample = Codec::Json.decode(&bytes).expect("decode");
        assert_eq!(back, value);
    }
}
