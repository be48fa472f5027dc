//! What a node says about itself beyond its cluster address: a few small
//! key–value pairs (its application URL, its zone, ...) that travel with the
//! membership, so that any node can tell a client where the Goose serves.
//!
//! The bounds keep a membership small enough to ride in one heartbeat: at
//! most [`MAX_METADATA_ENTRIES`] entries per node, keys of 1 to
//! [`MAX_METADATA_KEY_LEN`] bytes of `[a-z0-9._-]` starting with a letter or
//! a digit, values of at most [`MAX_METADATA_VALUE_LEN`] bytes of UTF-8
//! without control characters, at most [`MAX_METADATA_LEN`] encoded bytes
//! per node, and [`MAX_MEMBERSHIP_METADATA_LEN`] for every node of a
//! membership together.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The most entries one node's metadata holds.
pub const MAX_METADATA_ENTRIES: usize = 16;
/// The longest key, in bytes (a DNS label's limit: keys read like labels).
pub const MAX_METADATA_KEY_LEN: usize = 63;
/// The longest value, in bytes: room for a URL, not for a document.
pub const MAX_METADATA_VALUE_LEN: usize = 256;
/// The most bytes one node's metadata takes encoded
/// ([`NodeMetadata::encoded_len`]): a count, then each key and value with
/// its length.
pub const MAX_METADATA_LEN: usize = 1024;
/// The most bytes the metadata of all the members of one membership take
/// together ([`Membership::metadata_len`](super::Membership::metadata_len)):
/// a quarter of a TCP frame (64 KiB), so that a heartbeat carrying the
/// membership keeps room for the ids and addresses of hundreds of members.
pub const MAX_MEMBERSHIP_METADATA_LEN: usize = 16 * 1024;

/// A node's metadata: small key–value pairs in key order, valid by
/// construction: every way to build one checks the bounds, at most
/// [`MAX_METADATA_ENTRIES`] entries, keys of 1 to [`MAX_METADATA_KEY_LEN`]
/// bytes of `[a-z0-9._-]` starting with a letter or a digit, values of at
/// most [`MAX_METADATA_VALUE_LEN`] bytes of UTF-8 without control
/// characters, and at most [`MAX_METADATA_LEN`] bytes encoded
/// ([`encoded_len`](Self::encoded_len)). A membership bounds all its
/// members' metadata together by [`MAX_MEMBERSHIP_METADATA_LEN`].
///
/// It is serialized as a plain map and checked again when deserialized, so
/// metadata that breaks a bound never enters a node from the wire or from
/// storage.
///
/// ```
/// use duckduckgoose::core::NodeMetadata;
///
/// let meta = NodeMetadata::new().with("http", "http://10.0.0.5:8080").unwrap();
/// assert_eq!(meta.get("http"), Some("http://10.0.0.5:8080"));
/// assert!(NodeMetadata::new().with("Http", "x").is_err(), "keys are lower case");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeMetadata(
    #[serde(deserialize_with = "deserialize_checked")] BTreeMap<String, String>,
);

/// Why metadata was refused: which bound it breaks, for which key.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// More entries than [`MAX_METADATA_ENTRIES`].
    #[error("metadata has {count} entries, more than the maximum of {max}")]
    TooManyEntries {
        /// How many entries there are.
        count: usize,
        /// The maximum.
        max: usize,
    },
    /// An empty key.
    #[error("metadata key is empty")]
    EmptyKey,
    /// A key longer than [`MAX_METADATA_KEY_LEN`].
    #[error("metadata key {key:?} is {len} bytes, more than the maximum of {max}")]
    KeyTooLong {
        /// The key.
        key: String,
        /// Its length in bytes.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A key that does not start with a lower-case letter or a digit.
    #[error("metadata key {key:?} must start with a lower-case letter or a digit")]
    KeyStart {
        /// The key.
        key: String,
    },
    /// A key with a character outside `[a-z0-9._-]`.
    #[error(
        "metadata key {key:?} holds {character:?}; keys are made of a-z, 0-9, '.', '_' and '-'"
    )]
    KeyCharacter {
        /// The key.
        key: String,
        /// The first character refused.
        character: char,
    },
    /// A value longer than [`MAX_METADATA_VALUE_LEN`].
    #[error("metadata value of {key:?} is {len} bytes, more than the maximum of {max}")]
    ValueTooLong {
        /// The value's key.
        key: String,
        /// Its length in bytes.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A value holding a control character (a newline, a NUL, ...).
    #[error("metadata value of {key:?} holds the control character {character:?}")]
    ValueControlCharacter {
        /// The value's key.
        key: String,
        /// The first control character found.
        character: char,
    },
    /// One node's metadata encodes to more than [`MAX_METADATA_LEN`] bytes.
    #[error("metadata encodes to {len} bytes, more than the maximum of {max}")]
    TooLarge {
        /// The encoded length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The metadata of all members together would encode to more than
    /// [`MAX_MEMBERSHIP_METADATA_LEN`] bytes.
    #[error("the members' metadata would encode to {len} bytes, more than the maximum of {max}")]
    MembershipTooLarge {
        /// The encoded length, all members together.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// Text given as an entry is not `KEY=VALUE`.
    #[error("expected KEY=VALUE, got {text:?}")]
    NotAnEntry {
        /// The text.
        text: String,
    },
}

impl NodeMetadata {
    /// No metadata.
    pub const fn new() -> Self {
        NodeMetadata(BTreeMap::new())
    }

    /// Sets `key` to `value`, returning the value it replaces. On error the
    /// metadata is unchanged.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Option<String>, MetadataError> {
        let (key, value) = (key.into(), value.into());
        check_entry(&key, &value)?;
        let mut next = self.0.clone();
        let replaced = next.insert(key, value);
        check_whole(&next)?;
        self.0 = next;
        Ok(replaced)
    }

    /// The same metadata with `key` set to `value`; a builder for
    /// [`insert`](Self::insert).
    pub fn with(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MetadataError> {
        self.insert(key, value)?;
        Ok(self)
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries as a map, for callers that want one (JSON bodies).
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// How many bytes the metadata takes in a message or a state file (its
    /// postcard encoding): the bound [`MAX_METADATA_LEN`] applies to this.
    pub fn encoded_len(&self) -> usize {
        encoded_len(&self.0)
    }

    /// Parses one `KEY=VALUE` entry (a command line's `--meta`), split at
    /// the first `=`, and checks both halves.
    ///
    /// ```
    /// use duckduckgoose::core::NodeMetadata;
    ///
    /// let (key, value) = NodeMetadata::parse_entry("http=http://h:8080/?a=b").unwrap();
    /// assert_eq!((key.as_str(), value.as_str()), ("http", "http://h:8080/?a=b"));
    /// assert!(NodeMetadata::parse_entry("no-equals-sign").is_err());
    /// ```
    pub fn parse_entry(text: &str) -> Result<(String, String), MetadataError> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| MetadataError::NotAnEntry {
                text: text.to_owned(),
            })?;
        check_entry(key, value)?;
        Ok((key.to_owned(), value.to_owned()))
    }
}

impl TryFrom<BTreeMap<String, String>> for NodeMetadata {
    type Error = MetadataError;

    /// Checks every bound; the first entry (in key order) that breaks one
    /// is named.
    fn try_from(map: BTreeMap<String, String>) -> Result<Self, MetadataError> {
        for (key, value) in &map {
            check_entry(key, value)?;
        }
        check_whole(&map)?;
        Ok(NodeMetadata(map))
    }
}

impl<'a> IntoIterator for &'a NodeMetadata {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The map of a [`NodeMetadata`] being deserialized, checked.
fn deserialize_checked<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let map = BTreeMap::<String, String>::deserialize(deserializer)?;
    NodeMetadata::try_from(map)
        .map(|meta| meta.0)
        .map_err(serde::de::Error::custom)
}

/// The bounds on one key and its value.
fn check_entry(key: &str, value: &str) -> Result<(), MetadataError> {
    let Some(first) = key.chars().next() else {
        return Err(MetadataError::EmptyKey);
    };
    if key.len() > MAX_METADATA_KEY_LEN {
        return Err(MetadataError::KeyTooLong {
            key: key.to_owned(),
            len: key.len(),
            max: MAX_METADATA_KEY_LEN,
        });
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(MetadataError::KeyStart {
            key: key.to_owned(),
        });
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
    if let Some(character) = key.chars().find(|c| !allowed(*c)) {
        return Err(MetadataError::KeyCharacter {
            key: key.to_owned(),
            character,
        });
    }
    if value.len() > MAX_METADATA_VALUE_LEN {
        return Err(MetadataError::ValueTooLong {
            key: key.to_owned(),
            len: value.len(),
            max: MAX_METADATA_VALUE_LEN,
        });
    }
    if let Some(character) = value.chars().find(|c| c.is_control()) {
        return Err(MetadataError::ValueControlCharacter {
            key: key.to_owned(),
            character,
        });
    }
    Ok(())
}

/// The bounds on the whole map: entries, then encoded length.
fn check_whole(map: &BTreeMap<String, String>) -> Result<(), MetadataError> {
    if map.len() > MAX_METADATA_ENTRIES {
        return Err(MetadataError::TooManyEntries {
            count: map.len(),
            max: MAX_METADATA_ENTRIES,
        });
    }
    let len = encoded_len(map);
    if len > MAX_METADATA_LEN {
        return Err(MetadataError::TooLarge {
            len,
            max: MAX_METADATA_LEN,
        });
    }
    Ok(())
}

/// The postcard length of `map`: a varint count, then each key and value as
/// a varint length and its bytes.
fn encoded_len(map: &BTreeMap<String, String>) -> usize {
    map.iter().fold(varint_len(map.len()), |sum, (key, value)| {
        sum + varint_len(key.len()) + key.len() + varint_len(value.len()) + value.len()
    })
}

/// Bytes of `n` as a LEB128 varint: seven bits per byte.
pub(crate) fn varint_len(n: usize) -> usize {
    let bits = usize::BITS - n.leading_zeros();
    bits.div_ceil(7).max(1) as usize
}

#[cfg(test)]
mod tests;
