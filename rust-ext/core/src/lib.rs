//! baostore's bao core, free of Python: BLAKE3 outboards ("baos") at any chunk-group shift in
//! two formats, a streaming verifier, coarsening and format conversion without the data, proofs
//! of windows (from a whole bao, or planned over a stored post-order bao), and FastCDC cut
//! points.
//!
//! A chunk group is `1024 << shift` bytes starting on a group boundary: a complete subtree of
//! BLAKE3's tree, so pruning the tree at groups still yields the plain `blake3(data)` root.

mod coarsen;
mod codec;
mod error;
mod file;
mod format;
mod hashing;
mod levels;
mod outboard;
mod plan;
mod post_order;
mod tree;
mod verifier;
pub mod window;

pub mod cdc;

pub use coarsen::{coarsen, convert_format};
pub use error::{BaoError, ErrorKind};
pub use file::{decode_bao_cli_outboard, encode_bao_cli_outboard, hash_file};
pub use format::{group_len, BaoFormat, Hash, Layout, MAX_SHIFT};
pub use hashing::{hash, Hasher};
pub use outboard::{outboard, outboard_size, OutboardBuilder};
pub use plan::{window_proof, ProofPlan};
pub use post_order::{post_order_to_pre_order, pre_order_to_post_order, PostOrderBuilder};
pub use verifier::Verifier;
pub use window::{proof_size, window};
