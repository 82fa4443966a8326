//! LeNet-5, after Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "Gradient-based learning applied
//! to document recognition", Proc. IEEE 86(11), 1998, as it is commonly run today: max pooling,
//! ReLU and a plain linear classifier instead of the RBF output layer.
//!
//! The crate holds the architecture only; `train` trains it and `infer` runs it. It depends on
//! burn alone and names no backend: the device of the input picks one at run time.
//!
//! The configuration exposes the knobs the theory experiments turn (activation, pooling,
//! batch norm, dropout); [`LeNetConfig::new`] with defaults is the classic network with
//! 61,706 parameters for 10 classes.

mod model;

pub use model::{Activation, FEATURES, LeNet, LeNetConfig, Pooling};
