//! Trace and span identifiers.

use std::fmt;

/// Why bytes or text could not become an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The id had the wrong number of bytes.
    #[error("{what} is {got} bytes, expected {expected}")]
    Length {
        /// `trace_id`, `span_id` or `parent_span_id`.
        what: &'static str,
        /// Bytes received.
        got: usize,
        /// Bytes required.
        expected: usize,
    },
    /// The id was all zero bytes, which W3C Trace Context defines as invalid.
    #[error("{what} is all zeros, which is not a valid id")]
    Zero {
        /// `trace_id`, `span_id` or `parent_span_id`.
        what: &'static str,
    },
    /// Text that was not lowercase or uppercase hex of the right length.
    #[error("{what} {text:?} is not {expected} hex digits")]
    Hex {
        /// `trace_id`, `span_id` or `parent_span_id`.
        what: &'static str,
        /// The text given.
        text: String,
        /// Hex digits required.
        expected: usize,
    },
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $len:expr, $what:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Takes an id from its OTLP byte form. Rejects the wrong length and all zeros.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
                Self::from_bytes_named(bytes, $what)
            }

            /// As [`Self::from_bytes`], naming the field in the error (`parent_span_id`).
            pub fn from_bytes_named(bytes: &[u8], what: &'static str) -> Result<Self, IdError> {
                let arr: [u8; $len] = bytes.try_into().map_err(|_| IdError::Length {
                    what,
                    got: bytes.len(),
                    expected: $len,
                })?;
                if arr == [0u8; $len] {
                    return Err(IdError::Zero { what });
                }
                Ok(Self(arr))
            }

            /// Parses lowercase or uppercase hex, as OTLP/JSON and W3C headers write ids.
            pub fn from_hex(text: &str) -> Result<Self, IdError> {
                let mut arr = [0u8; $len];
                hex::decode_to_slice(text, &mut arr).map_err(|_| IdError::Hex {
                    what: $what,
                    text: text.chars().take(64).collect(),
                    expected: $len * 2,
                })?;
                Ok(Self(arr))
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Lowercase hex, the archive's and Tempo's text form.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Writes lowercase hex into `buf` without allocating.
            pub fn write_hex<'a>(&self, buf: &'a mut [u8; $len * 2]) -> &'a str {
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                for (i, b) in self.0.iter().enumerate() {
                    buf[2 * i] = DIGITS[(b >> 4) as usize];
                    buf[2 * i + 1] = DIGITS[(b & 0xf) as usize];
                }
                // Only ASCII hex digits were written.
                std::str::from_utf8(buf).unwrap_or_default()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut buf = [0u8; $len * 2];
                f.write_str(self.write_hex(&mut buf))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }
    };
}

id_type!(
    /// A 16-byte W3C trace id.
    TraceId,
    16,
    "trace_id"
);
id_type!(
    /// An 8-byte W3C span id.
    SpanId,
    8,
    "span_id"
);

impl TraceId {
    /// Parses a trace id as Tempo's API takes it: hex in either case, up to 32 digits; an odd
    /// number of digits gets a leading `0`, and a shorter id is left-padded with zero bytes,
    /// so a 64-bit id (Jaeger, Zipkin) or one whose leading zeros were trimmed finds its trace.
    pub fn parse_padded(text: &str) -> Result<Self, IdError> {
        let hex_error = || IdError::Hex {
            what: "trace_id",
            text: text.chars().take(64).collect(),
            expected: 32,
        };
        if text.is_empty() || text.len() > 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(hex_error());
        }
        let mut digits = [b'0'; 32];
        digits[32 - text.len()..].copy_from_slice(text.as_bytes());
        let digits = std::str::from_utf8(&digits).map_err(|_| hex_error())?;
        Self::from_hex(digits)
    }

    /// Lowercase hex with leading zeros trimmed, as Tempo's search results show trace ids.
    pub fn to_trimmed_hex(&self) -> String {
        let hex = self.to_hex();
        let trimmed = hex.trim_start_matches('0');
        if trimmed.is_empty() {
            "0".to_owned()
        } else {
            trimmed.to_owned()
        }
    }

    /// A stable 64-bit hash for sharding: the low 8 bytes, which W3C requires to be random.
    pub fn shard_hash(&self) -> u64 {
        let mut low = [0u8; 8];
        low.copy_from_slice(&self.0[8..]);
        u64::from_be_bytes(low)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_padded_ids_as_tempo_does() {
        let full = TraceId::from_hex("0000000000000000f1cfe82a8eef933b").unwrap();
        assert_eq!(TraceId::parse_padded("f1cfe82a8eef933b").unwrap(), full);
        assert_eq!(TraceId::parse_padded("F1CFE82A8EEF933B").unwrap(), full);
        assert_eq!(TraceId::parse_padded("1cfe82a8eef933b").unwrap().0[8], 0x01);
        assert_eq!(full.to_trimmed_hex(), "f1cfe82a8eef933b");
        assert_eq!(TraceId::parse_padded(&full.to_trimmed_hex()).unwrap(), full);
        assert!(TraceId::parse_padded("").is_err());
        assert!(TraceId::parse_padded("xyz").is_err());
        assert!(TraceId::parse_padded(&"1".repeat(33)).is_err());
    }

    #[test]
    fn round_trips_hex() {
        let id = TraceId::from_hex("5B8EFFF798038103D269B633813FC60C").unwrap();
        assert_eq!(id.to_hex(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(id.to_string(), id.to_hex());
        assert_eq!(TraceId::from_bytes(id.as_bytes()).unwrap(), id);
    }

    #[test]
    fn rejects_wrong_lengths_and_zero() {
        assert_eq!(
            TraceId::from_bytes(&[1; 17]).unwrap_err().to_string(),
            "trace_id is 17 bytes, expected 16"
        );
        assert_eq!(
            SpanId::from_bytes_named(&[1; 4], "parent_span_id")
                .unwrap_err()
                .to_string(),
            "parent_span_id is 4 bytes, expected 8"
        );
        assert!(matches!(
            SpanId::from_bytes(&[0; 8]),
            Err(IdError::Zero { .. })
        ));
        assert!(SpanId::from_hex("xyz").is_err());
        assert!(SpanId::from_hex("00f067aa0ba902b7aa").is_err());
    }
}
