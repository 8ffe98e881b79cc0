//! Pipeline analytics over a store's recorded history (`docs/metrics.md`).

mod compute;
pub mod html;
pub mod model;
pub mod svg;
pub mod text;

pub use compute::{
    compute, money, policy_at, wilson, Options, Quarter, ReportError, CALIBRATION_MIN,
};
pub use model::*;
