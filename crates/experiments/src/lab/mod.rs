//! The experiments, one file each.

pub mod adversarial;
pub mod batchnorm;
pub mod landscape;
pub mod memorization;
pub mod pruning;
pub mod sharpness;
pub mod skip_connections;
