//! Damaged files: every bit flip and truncation of every version is
//! refused, each kind of damage by name, a damaged file is never
//! overwritten by a save that would have to guess; an unknown version is
//! told apart from damage.

use super::*;

#[tokio::test]
async fn every_flipped_bit_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    let path = storage.path().to_path_buf();
    for (name, valid) in valid_files() {
        for position in 0..valid.len() {
            for bit in 0..8 {
                let mut damaged = valid.clone();
                damaged[position] ^= 1 << bit;
                std::fs::write(&path, &damaged).unwrap();
                assert_both_corrupt(&mut storage, &format!("{name}, byte {position} bit {bit}"))
                    .await;
            }
        }
    }
}

#[tokio::test]
async fn every_truncation_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    let path = storage.path().to_path_buf();
    for (name, valid) in valid_files() {
        for len in 0..valid.len() {
            std::fs::write(&path, &valid[..len]).unwrap();
            assert_both_corrupt(&mut storage, &format!("{name}, length {len}")).await;
        }
    }
}

#[tokio::test]
async fn corruptions_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    let path = storage.path().to_path_buf();
    let valid = encode_v1(&hs(42, Some(3)));

    let mut trailing = valid.clone();
    trailing.push(0);
    let mut bad_magic = valid.clone();
    bad_magic[..4].copy_from_slice(b"RAFT");
    let mut bad_checksum = valid.clone();
    *bad_checksum.last_mut().unwrap() ^= 0xff;
    let truncated = valid[..7].to_vec();
    // Past the limit of 1 MiB of membership plus the fixed fields.
    let huge = [valid.clone(), vec![0; 2 << 20]].concat();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "truncated"),
        ("truncated", truncated, "truncated"),
        ("trailing byte", trailing, "1 trailing bytes"),
        ("bad magic", bad_magic, "magic"),
        ("bad checksum", bad_checksum, "checksum mismatch"),
        // Intact checksums, so only the payload check can catch these.
        (
            "presence byte 2",
            envelope(1, &payload_v1(4, 2, 1)),
            "presence byte",
        ),
        (
            "id without vote",
            envelope(1, &payload_v1(4, 0, 1)),
            "no vote",
        ),
        (
            "short payload",
            envelope(1, &payload_v1(4, 1, 1)[..9]),
            "payload is 9 bytes",
        ),
        ("huge file", huge, "larger than"),
    ];
    for (name, bytes, expected) in cases {
        std::fs::write(&path, &bytes).unwrap();
        assert_corrupt_because(storage.load().await, &path, name, expected);
        assert_corrupt_because(storage.load_membership().await, &path, name, expected);
    }
}

#[tokio::test]
async fn unknown_version_is_reported_with_the_version_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    let path = storage.path().to_path_buf();
    assert_eq!(FileStorage::FORMAT_VERSION, 5);
    let current = payload_v2(&hs(4, Some(1)), 1, &[0]);
    let cases = [
        // A newer build with the same payload.
        (6, current.clone()),
        // A newer build with a longer payload: the envelope still frames it.
        (7, [current.clone(), vec![0xaa; 8]].concat()),
        (0, payload_v1(4, 1, 1)),
        (u16::MAX, Vec::new()),
    ];
    for (version, payload) in cases {
        std::fs::write(&path, envelope(version, &payload)).unwrap();
        assert!(matches!(
            storage.load_membership().await,
            Err(StorageError::UnsupportedVersion { found, .. }) if found == version
        ));
        match storage.load().await {
            Err(
                ref error @ StorageError::UnsupportedVersion {
                    ref path,
                    found,
                    supported,
                },
            ) => {
                assert_eq!(found, version);
                assert_eq!(supported, 5);
                assert_names_path(error, path);
                assert!(error.to_string().contains(&version.to_string()));
            }
            other => panic!("version {version}: expected UnsupportedVersion, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn bad_membership_fields_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    let path = storage.path().to_path_buf();
    let state = hs(4, Some(1));
    let sample = SAMPLE_MEMBERSHIP_BYTES;
    let with_len = |len: u32, membership: &[u8]| envelope(3, &payload_v2(&state, len, membership));
    let len = |bytes: &[u8]| bytes.len() as u32;

    // Voters 2, 1: decodes (to 1, 2) but is not how this build writes it.
    let unsorted = [0x01, 0x00, 0x00, 0x02, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00];
    // Version 7 as a two-byte varint.
    let overlong = [0x01, 0x00, 0x87, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00];
    let bad_utf8 = [
        0x01, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x01, 0x02, 0xff, 0xfe, 0x00,
    ];
    // One voter, then metadata for node 1: key "Bad" (upper case), value "v".
    let bad_key = [
        0x01, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0x03, b'B', b'a', b'd',
        0x01, b'v',
    ];
    // One voter, then metadata for node 1 with no entry: decodes, but this
    // build never writes an empty entry.
    let empty_entry = [
        0x01, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00,
    ];
    // The version-2 sample under version 3: the metadata count is missing.
    let v2_sample = SAMPLE_V2_MEMBERSHIP_BYTES;
    // Claims a billion voters in a few bytes.
    let huge_count = [0x01, 0x00, 0x00, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0x01];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "length over the maximum",
            with_len((1 << 20) + 1, sample),
            "more than the maximum 1048576",
        ),
        (
            "length u32::MAX",
            with_len(u32::MAX, sample),
            "more than the maximum",
        ),
        (
            "length beyond the payload",
            with_len(len(sample) + 1, sample),
            "but the payload holds",
        ),
        (
            "length short of the payload",
            with_len(len(sample) - 1, sample),
            "but the payload holds",
        ),
        (
            "no length field",
            envelope(2, &hard_state_bytes(&state)),
            "fixed fields",
        ),
        ("empty membership", with_len(0, &[]), "does not decode"),
        ("bad option tag", with_len(1, &[0x02]), "does not decode"),
        (
            "cut inside",
            with_len(len(sample) - 3, &sample[..sample.len() - 3]),
            "does not decode",
        ),
        (
            "bad UTF-8",
            with_len(len(&bad_utf8), &bad_utf8),
            "does not decode",
        ),
        (
            "count beyond the bytes",
            with_len(len(&huge_count), &huge_count),
            "does not decode",
        ),
        (
            "bytes after it",
            with_len(3, &[0x00, 0x00, 0x00]),
            "2 unused bytes",
        ),
        (
            "invalid metadata",
            with_len(len(&bad_key), &bad_key),
            "invalid metadata: metadata key \"Bad\" must start with a lower-case letter or a digit",
        ),
        (
            "empty metadata entry",
            with_len(len(&empty_entry), &empty_entry),
            "canonical",
        ),
        (
            "a version-2 membership in a version-3 file",
            with_len(len(v2_sample), v2_sample),
            "does not decode",
        ),
        (
            "a version-3 membership in a version-2 file",
            envelope(2, &payload_v2(&state, len(sample), sample)),
            "unused bytes",
        ),
        ("unsorted", with_len(len(&unsorted), &unsorted), "canonical"),
        (
            "overlong varint",
            with_len(len(&overlong), &overlong),
            "canonical",
        ),
        (
            "bad vote in a v2 file",
            envelope(2, &[payload_v1(4, 2, 1), vec![1, 0, 0, 0, 0]].concat()),
            "presence byte",
        ),
        (
            "header length u32::MAX",
            {
                let mut bytes = encode_v4(&state, None, None);
                bytes[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
                bytes
            },
            "truncated",
        ),
    ];
    for (name, bytes, expected) in cases {
        std::fs::write(&path, &bytes).unwrap();
        assert_corrupt_because(storage.load_membership().await, &path, name, expected);
        assert_corrupt_because(storage.load().await, &path, name, expected);
    }
    // The unsorted bytes are a membership; only their form is wrong.
    let decoded: Option<Membership> = postcard::from_bytes(&unsorted).unwrap();
    assert_eq!(decoded, Some(Membership::new([NodeId(1), NodeId(2)])));
}

/// A save on a storage that has not read the file yet reads it for the other
/// half; if the file is damaged, the save fails and leaves it as it was, so
/// the damage is still there to be seen.
#[tokio::test]
async fn damaged_file_makes_a_first_save_fail_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hardstate");
    let mut damaged = encode_v4(
        &hs(6, Some(2)),
        Some(&sample_membership()),
        Some(&identity("a", 1)),
    );
    damaged[40] ^= 0x10;
    std::fs::write(&path, &damaged).unwrap();
    let mut storage = FileStorage::open(dir.path()).unwrap();
    assert_corrupt(storage.save(&hs(7, Some(1))).await, &path, "save");
    assert_corrupt(
        storage.save_membership(&membership(&[1], &[])).await,
        &path,
        "save_membership",
    );
    assert_eq!(std::fs::read(&path).unwrap(), damaged);
    assert_both_corrupt(&mut storage, "after the saves").await;
}
