//! Codecs: how the store layer turns values into the bytes the engine stores.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::BoxError;

/// Turns values into bytes and back. The engine below only ever sees bytes.
pub trait Codec: Send + Sync + 'static {
    /// The values this codec stores.
    type Value: Clone + Send + Sync + 'static;

    /// Encodes one value.
    ///
    /// # Errors
    /// The value cannot be represented in this codec's format.
    fn encode(&self, value: &Self::Value) -> Result<Vec<u8>, BoxError>;

    /// Encodes values in order, as [`Codec::encode`] does one by one; a
    /// commit encodes everything it writes with one call. A codec with a
    /// cost per call (taking a lock, entering an interpreter) can pay it
    /// once for many values here.
    ///
    /// # Errors
    /// The position of the first value that cannot be encoded, with why.
    fn encode_all(&self, values: &[&Self::Value]) -> Result<Vec<Vec<u8>>, (usize, BoxError)> {
        values
            .iter()
            .enumerate()
            .map(|(at, value)| self.encode(value).map_err(|err| (at, err)))
            .collect()
    }

    /// Decodes one value.
    ///
    /// # Errors
    /// The bytes are not a valid encoding of a value.
    fn decode(&self, bytes: &[u8]) -> Result<Self::Value, BoxError>;
}

/// Stores bytes as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct Raw;

impl Codec for Raw {
    type Value = Vec<u8>;

    fn encode(&self, value: &Vec<u8>) -> Result<Vec<u8>, BoxError> {
        Ok(value.clone())
    }

    fn decode(&self, bytes: &[u8]) -> Result<Vec<u8>, BoxError> {
        Ok(bytes.to_vec())
    }
}

/// Stores any serde type as JSON text: readable by every language, and what
/// the bytes-level `counter` merge function understands for integers.
pub struct Json<T>(PhantomData<fn() -> T>);

/// Stores any serde type as `MessagePack`: compact and self-describing.
pub struct MessagePack<T>(PhantomData<fn() -> T>);

macro_rules! serde_codec {
    ($name:ident, $label:literal, $encode:expr, $decode:expr) => {
        impl<T> $name<T> {
            /// The codec.
            pub const fn new() -> Self {
                $name(PhantomData)
            }
        }

        impl<T> Default for $name<T> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                Self::new()
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}<{}>", $label, std::any::type_name::<T>())
            }
        }

        impl<T> Codec for $name<T>
        where
            T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        {
            type Value = T;

            fn encode(&self, value: &T) -> Result<Vec<u8>, BoxError> {
                $encode(value).map_err(Into::into)
            }

            fn decode(&self, bytes: &[u8]) -> Result<T, BoxError> {
                $decode(bytes).map_err(Into::into)
            }
        }
    };
}

serde_codec!(Json, "Json", serde_json::to_vec, serde_json::from_slice);
serde_codec!(
    MessagePack,
    "MessagePack",
    rmp_serde::to_vec_named,
    rmp_serde::from_slice
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let json = Json::<Vec<i32>>::new();
        assert_eq!(
            json.decode(&json.encode(&vec![1, 2]).unwrap()).unwrap(),
            vec![1, 2]
        );
        assert_eq!(json.encode(&vec![7]).unwrap(), b"[7]");
        let pack = MessagePack::<(String, u8)>::new();
        let bytes = pack.encode(&("x".into(), 3)).unwrap();
        assert_eq!(pack.decode(&bytes).unwrap(), ("x".to_owned(), 3));
        assert!(pack.decode(b"\xc1").is_err());
        assert_eq!(Raw.decode(b"ab").unwrap(), b"ab");
    }
}
