//! Each bound, at its limit and one past it, named by its exact error.

use super::*;

fn meta(entries: &[(&str, &str)]) -> Result<NodeMetadata, MetadataError> {
    let map: BTreeMap<String, String> = entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    NodeMetadata::try_from(map)
}

#[test]
fn keys_of_every_allowed_shape_are_accepted() {
    let longest = "k".repeat(MAX_METADATA_KEY_LEN);
    for key in ["http", "0", "a.b_c-d", "9zone", longest.as_str()] {
        assert!(meta(&[(key, "v")]).is_ok(), "{key}");
    }
}

#[test]
fn each_key_bound_has_its_error() {
    let too_long = "k".repeat(MAX_METADATA_KEY_LEN + 1);
    let cases = [
        ("", MetadataError::EmptyKey),
        (
            too_long.as_str(),
            MetadataError::KeyTooLong {
                key: too_long.clone(),
                len: MAX_METADATA_KEY_LEN + 1,
                max: MAX_METADATA_KEY_LEN,
            },
        ),
        (
            ".http",
            MetadataError::KeyStart {
                key: ".http".into(),
            },
        ),
        (
            "-http",
            MetadataError::KeyStart {
                key: "-http".into(),
            },
        ),
        ("Http", MetadataError::KeyStart { key: "Http".into() }),
        (
            "ht tp",
            MetadataError::KeyCharacter {
                key: "ht tp".into(),
                character: ' ',
            },
        ),
        (
            "httP",
            MetadataError::KeyCharacter {
                key: "httP".into(),
                character: 'P',
            },
        ),
        (
            "zoné",
            MetadataError::KeyCharacter {
                key: "zoné".into(),
                character: 'é',
            },
        ),
        (
            "a=b",
            MetadataError::KeyCharacter {
                key: "a=b".into(),
                character: '=',
            },
        ),
    ];
    for (key, error) in cases {
        assert_eq!(meta(&[(key, "v")]), Err(error), "{key:?}");
    }
}

#[test]
fn each_value_bound_has_its_error() {
    let longest = "v".repeat(MAX_METADATA_VALUE_LEN);
    assert!(meta(&[("k", &longest)]).is_ok());
    assert!(meta(&[("k", "")]).is_ok(), "empty values are fine");
    assert!(meta(&[("k", "ünïcödé ✓")]).is_ok());

    let too_long = "v".repeat(MAX_METADATA_VALUE_LEN + 1);
    assert_eq!(
        meta(&[("k", &too_long)]),
        Err(MetadataError::ValueTooLong {
            key: "k".into(),
            len: MAX_METADATA_VALUE_LEN + 1,
            max: MAX_METADATA_VALUE_LEN,
        })
    );
    for (value, character) in [
        ("a\nb", '\n'),
        ("\0", '\0'),
        ("tab\there", '\t'),
        ("\u{7f}", '\u{7f}'),
    ] {
        assert_eq!(
            meta(&[("k", value)]),
            Err(MetadataError::ValueControlCharacter {
                key: "k".into(),
                character,
            }),
            "{value:?}"
        );
    }
}

#[test]
fn the_entry_count_is_bounded() {
    let keys: Vec<String> = (0..=MAX_METADATA_ENTRIES)
        .map(|i| format!("k{i}"))
        .collect();
    let entries: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
    assert!(meta(&entries[..MAX_METADATA_ENTRIES]).is_ok());
    assert_eq!(
        meta(&entries),
        Err(MetadataError::TooManyEntries {
            count: MAX_METADATA_ENTRIES + 1,
            max: MAX_METADATA_ENTRIES,
        })
    );
}

#[test]
fn the_encoded_length_is_bounded_and_exact() {
    // Four entries of 1 + 1 + 2 + 250 bytes, plus the count: 1017 bytes.
    let value = "v".repeat(250);
    let mut entries = vec![
        ("a", value.as_str()),
        ("b", &value),
        ("c", &value),
        ("d", &value),
    ];
    let fits = meta(&entries).unwrap();
    assert_eq!(fits.encoded_len(), 1 + 4 * (1 + 1 + 2 + 250));

    // A one-byte key, an empty value: 1 + 1 + 1 bytes more, 1020.
    entries.push(("e", ""));
    assert_eq!(meta(&entries).unwrap().encoded_len(), 1020);
    // Then 1 + 2 + 1 + 1 bytes more: 1025, one past the bound.
    entries.push(("ff", "g"));
    assert_eq!(
        meta(&entries),
        Err(MetadataError::TooLarge {
            len: 1025,
            max: MAX_METADATA_LEN,
        })
    );
}

#[test]
fn a_refused_insert_changes_nothing() {
    let mut meta = NodeMetadata::new().with("http", "http://a:1").unwrap();
    let before = meta.clone();
    assert_eq!(
        meta.insert("Bad", "x"),
        Err(MetadataError::KeyStart { key: "Bad".into() })
    );
    let big = "v".repeat(MAX_METADATA_VALUE_LEN);
    for i in 0..3 {
        meta.insert(format!("k{i}"), big.clone()).unwrap();
    }
    let full = meta.clone();
    assert!(matches!(
        meta.insert("k3", big.clone()),
        Err(MetadataError::TooLarge { .. })
    ));
    assert_eq!(meta, full);
    assert_eq!(
        meta.insert("http", "http://b:2"),
        Ok(Some("http://a:1".into()))
    );
    assert_ne!(meta, before);
}

#[test]
fn entries_parse_at_the_first_equals_sign() {
    assert_eq!(
        NodeMetadata::parse_entry("http=a=b"),
        Ok(("http".into(), "a=b".into()))
    );
    assert_eq!(
        NodeMetadata::parse_entry("k="),
        Ok(("k".into(), String::new()))
    );
    assert_eq!(
        NodeMetadata::parse_entry("http"),
        Err(MetadataError::NotAnEntry {
            text: "http".into()
        })
    );
    assert_eq!(
        NodeMetadata::parse_entry("=v"),
        Err(MetadataError::EmptyKey)
    );
    assert_eq!(
        NodeMetadata::parse_entry("HTTP=v"),
        Err(MetadataError::KeyStart { key: "HTTP".into() })
    );
}

#[cfg(feature = "runtime")]
#[test]
fn the_encoded_length_is_postcards() {
    let long = "v".repeat(200);
    for meta in [
        NodeMetadata::new(),
        NodeMetadata::new().with("http", "http://a:1").unwrap(),
        NodeMetadata::new()
            .with("a", &long)
            .unwrap()
            .with("b", "")
            .unwrap(),
    ] {
        let bytes = postcard::to_allocvec(&meta).unwrap();
        assert_eq!(meta.encoded_len(), bytes.len(), "{meta:?}");
    }
}

#[cfg(feature = "runtime")]
#[test]
fn deserializing_checks_every_bound() {
    let good = NodeMetadata::new().with("http", "http://a:1").unwrap();
    let bytes = postcard::to_allocvec(&good).unwrap();
    assert_eq!(postcard::from_bytes::<NodeMetadata>(&bytes), Ok(good));

    let bad = BTreeMap::from([("Bad".to_owned(), "v".to_owned())]);
    let bytes = postcard::to_allocvec(&bad).unwrap();
    assert!(postcard::from_bytes::<NodeMetadata>(&bytes).is_err());
}

#[cfg(feature = "http")]
#[test]
fn deserializing_json_names_the_broken_bound() {
    let bad = BTreeMap::from([("Bad".to_owned(), "v".to_owned())]);
    let json = serde_json::to_string(&bad).unwrap();
    let error = serde_json::from_str::<NodeMetadata>(&json).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("must start with a lower-case letter"),
        "{error}"
    );
}

#[test]
fn varint_lengths() {
    for (n, len) in [(0, 1), (127, 1), (128, 2), (16_383, 2), (16_384, 3)] {
        assert_eq!(varint_len(n), len, "{n}");
    }
}
