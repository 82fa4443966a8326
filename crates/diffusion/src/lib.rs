//! Denoising diffusion after J. Ho, A. Jain and P. Abbeel, "Denoising diffusion probabilistic
//! models", NeurIPS 2020, with the cosine schedule of A. Nichol and P. Dhariwal, "Improved
//! denoising diffusion probabilistic models", ICML 2021, the v-prediction of T. Salimans and
//! J. Ho, "Progressive distillation for fast sampling of diffusion models", ICLR 2022, and the
//! sampler of J. Song, C. Meng and S. Ermon, "Denoising diffusion implicit models", ICLR 2021.
//!
//! - [`NoiseSchedule`]: the forward process q(x_t | x_0) ([`ScheduleKind::Linear`] or
//!   [`ScheduleKind::Cosine`]), the training targets ([`Objective`]) and the x0 / noise
//!   estimates implied by a network output.
//! - [`UNet`]: the noise-prediction network (residual blocks with group norm and the time
//!   embedding, self-attention at the lowest resolution).
//! - [`sample`]: the reverse process with the [`Sampler::Ddpm`] or [`Sampler::Ddim`] sampler.
//!
//! The crate holds the model and its samplers only and names no backend; the training loop and
//! the weight average used for sampling live in the `train` crate.

mod blocks;
mod sampler;
mod schedule;
#[cfg(test)]
mod tests;
mod unet;

pub use blocks::{Attention, ResBlock, timestep_embedding};
pub use sampler::{Sampler, sample};
pub use schedule::{NoiseSchedule, Objective, ScheduleKind};
pub use unet::{UNet, UNetConfig};
