//! FastCDC 2020 cut points, fed incrementally.

use fastcdc::v2020::{
    FastCDC, AVERAGE_MAX, AVERAGE_MIN, MAXIMUM_MAX, MAXIMUM_MIN, MINIMUM_MAX, MINIMUM_MIN,
};

use crate::error::BaoError;

/// FastCDC 2020 chunk lengths of `data`, in order.
///
/// If `!is_final` the last chunk (which may be cut short by the end of `data`) is omitted, so
/// every returned length is final; the caller keeps the rest and feeds it again with more data.
/// That is sound because a cut depends only on the bytes before it (and a chunk that reached
/// `max` is cut there whatever follows). Chunks other than the last are at most `max` and at
/// least `min` rounded down to even (the crate scans two bytes per step from there).
pub fn cut_lengths(
    data: &[u8],
    min: u32,
    avg: u32,
    max: u32,
    is_final: bool,
) -> Result<Vec<u32>, BaoError> {
    check_sizes(min, avg, max)?;
    let mut lengths: Vec<u32> = FastCDC::new(data, min, avg, max)
        .map(|chunk| chunk.length as u32)
        .collect();
    if !is_final {
        lengths.pop();
    }
    Ok(lengths)
}

fn check_sizes(min: u32, avg: u32, max: u32) -> Result<(), BaoError> {
    let in_range = |name: &str, value: u32, low: u32, high: u32| {
        if (low..=high).contains(&value) {
            Ok(())
        } else {
            Err(BaoError::argument(
                "sizes",
                format!("FastCDC {name} size {value} is out of range: expected {low}..={high}"),
            ))
        }
    };
    in_range("min", min, MINIMUM_MIN, MINIMUM_MAX)?;
    in_range("avg", avg, AVERAGE_MIN, AVERAGE_MAX)?;
    in_range("max", max, MAXIMUM_MIN, MAXIMUM_MAX)?;
    if !(min <= avg && avg <= max) {
        return Err(BaoError::argument(
            "sizes",
            format!(
                "FastCDC sizes must satisfy min <= avg <= max, got min {min}, avg {avg}, max {max}"
            ),
        ));
    }
    Ok(())
}
