//! Arbitrary (mostly nonsensical) arguments never panic: they give an error or a result.

mod support;

use baostore_core::{coarsen, convert_format, outboard_size, BaoFormat, Verifier};
use proptest::prelude::*;
use support::{cuts, format, split};

/// Sizes from tiny to absurd, shifts including out-of-range ones.
fn size() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..100_000, any::<u64>(), Just(u64::MAX)]
}

fn any_shift() -> impl Strategy<Value = u8> {
    prop_oneof![0u8..=8, any::<u8>()]
}

/// Random bao bytes, sometimes of exactly the length the other arguments need.
fn bao(size: u64, shift: u8, format: BaoFormat) -> impl Strategy<Value = Vec<u8>> {
    let exact = outboard_size(size, shift, format)
        .ok()
        .filter(|&len| len <= 200_000)
        .map(|len| len as usize);
    let len = match exact {
        Some(len) => prop_oneof![Just(len), 0usize..4096].boxed(),
        None => (0usize..4096).boxed(),
    };
    len.prop_flat_map(|len| proptest::collection::vec(any::<u8>(), len))
}

fn case() -> impl Strategy<Value = (u64, u8, BaoFormat, Vec<u8>)> {
    (size(), any_shift(), format()).prop_flat_map(|(size, shift, format)| {
        (
            Just(size),
            Just(shift),
            Just(format),
            bao(size, shift, format),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn verifier_never_panics(
        (size, shift, format, bao) in case(),
        root: [u8; 32],
        start in prop_oneof![Just(0u64), any::<u64>()],
        end in proptest::option::of(any::<u64>()),
        data in proptest::collection::vec(any::<u8>(), 0..5000),
        cuts in cuts(),
    ) {
        if let Ok(mut verifier) = Verifier::new(&root, size, &bao, shift, format, start, end) {
            let mut out = Vec::new();
            for piece in split(&data, &cuts) {
                let _ = verifier.update(piece, &mut out);
            }
            let _ = verifier.finalize();
            prop_assert!(out.len() as u64 == verifier.released());
        }
    }

    #[test]
    fn coarsen_never_panics(
        (size, from_shift, format, bao) in case(), to_shift in any_shift(),
    ) {
        let _ = coarsen(&bao, size, from_shift, to_shift, format);
    }

    #[test]
    fn convert_format_never_panics((size, shift, from, bao) in case(), to in format()) {
        let _ = convert_format(&bao, size, shift, from, to);
    }
}
