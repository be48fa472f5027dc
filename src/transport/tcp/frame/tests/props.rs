//! The codec, fuzzed directly: random bytes in any chunking, huge length
//! prefixes and round trips of any message.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

use super::super::*;
use crate::core::Message;
use crate::sim::strategy::arb_message;

/// Random bytes, mostly shaped like frames (plausible length prefixes with
/// bodies of random, possibly mismatched, length), so that the decoder gets
/// past the prefix check and hands out bodies too.
fn noise() -> impl Strategy<Value = Vec<u8>> {
    let framed = (0u32..300, vec(any::<u8>(), 0..300)).prop_map(|(len, body)| {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend(body);
        bytes
    });
    let raw = vec(any::<u8>(), 0..64);
    vec(prop_oneof![4 => framed, 1 => raw], 0..16).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decoder_survives_random_bytes_in_any_chunking(
        bytes in noise(),
        chunk in 1usize..97,
    ) {
        let mut decoder = FrameDecoder::new();
        'feed: for piece in bytes.chunks(chunk) {
            let mut input = piece;
            loop {
                let done = decoder.decode(&mut input);
                prop_assert!(decoder.buffer_capacity() <= MAX_FRAME_LEN);
                match done {
                    Ok(true) => {
                        prop_assert!(decoder.frame().len() <= MAX_FRAME_LEN);
                        // Whatever the body, decoding it is a value or a typed error.
                        let _: Result<Message, FrameError> = decode_body(decoder.frame());
                    }
                    Ok(false) => {
                        prop_assert!(input.is_empty());
                        break;
                    }
                    Err(e) => {
                        prop_assert!(matches!(e, FrameError::Oversized { .. }), "{e:?}");
                        break 'feed;
                    }
                }
            }
        }
    }

    #[test]
    fn huge_length_prefixes_are_refused_before_allocating(
        len in (MAX_FRAME_LEN as u32 + 1)..=u32::MAX,
        tail in vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend(tail);
        let mut decoder = FrameDecoder::new();
        let mut input = &bytes[..];
        let refused = matches!(
            decoder.decode(&mut input),
            Err(FrameError::Oversized { len: l, .. }) if l == u64::from(len)
        );
        prop_assert!(refused);
        prop_assert_eq!(decoder.buffer_capacity(), 0);
        let split_refused = matches!(split_frame(&bytes), Err(FrameError::Oversized { .. }));
        prop_assert!(split_refused);
    }

    // Any message: the simulator's generator, the crate's one.
    #[test]
    fn frames_round_trip_in_any_chunking(
        msgs in vec(arb_message(), 0..20),
        chunk in 1usize..17,
    ) {
        let mut buf = Vec::new();
        for msg in &msgs {
            encode_frame(msg, &mut buf).expect("messages are small");
        }
        let mut decoder = FrameDecoder::new();
        let mut decoded = Vec::new();
        for piece in buf.chunks(chunk) {
            let mut input = piece;
            while decoder.decode(&mut input).expect("valid frames") {
                decoded.push(decode_body::<Message>(decoder.frame()).expect("valid body"));
            }
        }
        prop_assert_eq!(&decoded, &msgs);
        // The one-shot splitter agrees.
        let mut rest = &buf[..];
        for msg in &msgs {
            let (body, used) = split_frame(rest).expect("valid").expect("whole frame");
            prop_assert_eq!(&decode_body::<Message>(body).expect("valid body"), msg);
            rest = &rest[used..];
        }
        prop_assert!(rest.is_empty());
    }

    #[test]
    fn random_bodies_decode_to_a_value_or_a_typed_error(body in vec(any::<u8>(), 0..64)) {
        match decode_body::<Message>(&body) {
            Ok(_) | Err(FrameError::Decode(_) | FrameError::TrailingBytes(_)) => {}
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }
}
