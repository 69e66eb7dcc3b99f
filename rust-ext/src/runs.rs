//! The bytes one `Verifier.update` released, kept as ranges of the fed buffer where they are
//! pieces of it, so that building the returned `bytes` copies each byte once (or not at all).

use std::ops::Range;

/// Copied bytes beyond this are not kept for the next call (one huge unaligned feed).
const MAX_KEPT_COPIED: usize = 16 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Run {
    /// A range of the fed buffer.
    Fed(Range<usize>),
    /// A range of `ReleasedRuns::copied`: a group the core completed in its own buffer.
    Copied(Range<usize>),
}

#[derive(Default)]
pub struct ReleasedRuns {
    runs: Vec<Run>,
    copied: Vec<u8>,
    len: usize,
}

impl ReleasedRuns {
    /// Notes the next released `run`; `fed` is the buffer passed to this `update`.
    pub fn record(&mut self, fed: &[u8], run: &[u8]) {
        if run.is_empty() {
            return;
        }
        let fed_range = fed.as_ptr_range();
        let run_range = run.as_ptr_range();
        let next = if fed_range.start <= run_range.start && run_range.end <= fed_range.end {
            let start = run_range.start as usize - fed_range.start as usize;
            Run::Fed(start..start + run.len())
        } else {
            let start = self.copied.len();
            self.copied.extend_from_slice(run);
            Run::Copied(start..self.copied.len())
        };
        self.len += run.len();
        match (self.runs.last_mut(), next) {
            (Some(Run::Fed(last)), Run::Fed(next)) if last.end == next.start => last.end = next.end,
            (Some(Run::Copied(last)), Run::Copied(next)) if last.end == next.start => {
                last.end = next.end
            }
            (_, next) => self.runs.push(next),
        }
    }

    /// Total bytes released.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the released bytes are all of `fed`, in one piece.
    pub fn is_all_of(&self, fed: &[u8]) -> bool {
        !fed.is_empty() && self.runs == [Run::Fed(0..fed.len())]
    }

    /// Writes the released bytes into `out`, which is exactly `len()` long.
    pub fn write_to(&self, fed: &[u8], out: &mut [u8]) {
        let mut at = 0;
        for run in &self.runs {
            let bytes = match run {
                Run::Fed(range) => &fed[range.clone()],
                Run::Copied(range) => &self.copied[range.clone()],
            };
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        }
    }

    /// Forgets the runs, keeping the space for the next call unless it grew huge.
    pub fn clear(&mut self) {
        self.runs.clear();
        self.copied.clear();
        self.len = 0;
        if self.copied.capacity() > MAX_KEPT_COPIED {
            self.copied = Vec::new();
        }
    }
}
