//! rikai's theory lab: small experiments that reproduce central empirical claims of
//! deep-learning theory with the project's own models and training loop.
//!
//! | experiment | paper |
//! |---|---|
//! | `skip-connections` | He, Zhang, Ren & Sun, *Deep residual learning for image recognition*, CVPR 2016; Li et al. 2018; Furusho & Ikeda, *Theoretical analysis of skip connections and batch normalization from generalization and optimization perspectives*, APSIPA 2020 |
//! | `landscape` | Li, Xu, Taylor, Studer & Goldstein, *Visualizing the loss landscape of neural nets*, NeurIPS 2018 |
//! | `sharpness` | Keskar, Mudigere, Nocedal, Smelyanskiy & Tang, *On large-batch training for deep learning: generalization gap and sharp minima*, ICLR 2017 |
//! | `memorization` | Zhang, Bengio, Hardt, Recht & Vinyals, *Understanding deep learning requires rethinking generalization*, ICLR 2017 |
//! | `batchnorm` | Ioffe & Szegedy, *Batch normalization*, ICML 2015; Yang et al., *A mean field theory of batch normalization*, ICLR 2019; De & Smith, *Batch normalization biases residual blocks towards the identity function in deep networks*, NeurIPS 2020; Furusho & Ikeda 2020 |
//! | `pruning` | Suzuki et al., *Spectral pruning: compressing deep neural networks via spectral analysis and its generalization error*, IJCAI 2020 |
//! | `adversarial` | Goodfellow, Shlens & Szegedy, *Explaining and harnessing adversarial examples*, ICLR 2015 |
//!
//! Each experiment trains through `train` (the same loop, optimizers and checkpoints as the
//! `train` binary), writes CSV tables, PNG plots and a markdown report into its run directory,
//! and prints its headline numbers. `--quick` shrinks every size so a run takes seconds.

pub mod cli;
pub mod ctx;
pub mod fit;
pub mod hessian;
pub mod lab;
pub mod params;
pub mod plots;
pub mod slices;

use ctx::Ctx;

/// One experiment of the lab.
pub struct Experiment {
    /// Name on the command line.
    pub name: &'static str,
    /// What it shows, in a sentence.
    pub summary: &'static str,
    /// The papers it reproduces.
    pub papers: &'static str,
    /// Run it; returns the headline lines it prints.
    pub run: fn(&Ctx) -> anyhow::Result<Vec<String>>,
}

/// Every experiment, in the order `all` runs them.
pub const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        name: "skip-connections",
        summary: "ResNet-20/56 plain, 1-skip and 2-skip: training curves, generalisation gap, loss slices",
        papers: "He et al. 2016; Li et al. 2018; Furusho & Ikeda 2019/2020",
        run: lab::skip_connections::run,
    },
    Experiment {
        name: "landscape",
        summary: "1-D and 2-D filter-normalised slices of the training loss through a trained network (--checkpoint: any classifier run)",
        papers: "Li et al. 2018",
        run: lab::landscape::run,
    },
    Experiment {
        name: "sharpness",
        summary: "LeNet with small and large batches: Hessian top eigenvalue, ε-sharpness, slices, weight norm, test gap",
        papers: "Keskar et al. 2017; Dinh et al. 2017",
        run: lab::sharpness::run,
    },
    Experiment {
        name: "memorization",
        summary: "LeNet fits random labels to 100%; fitting noise is slower and test accuracy falls as (1-p)·clean + p·chance",
        papers: "Zhang et al. 2017",
        run: lab::memorization::run,
    },
    Experiment {
        name: "batchnorm",
        summary: "with and without batch norm: largest stable learning rate; Fisher eigenvalue at init against depth, plain and residual",
        papers: "Ioffe & Szegedy 2015; Yang et al. 2019; De & Smith 2020; Furusho & Ikeda 2020",
        run: lab::batchnorm::run,
    },
    Experiment {
        name: "pruning",
        summary: "spectral pruning of LeNet's penultimate layer with reconstruction, against magnitude and random pruning",
        papers: "Suzuki et al. 2020",
        run: lab::pruning::run,
    },
    Experiment {
        name: "adversarial",
        summary: "FGSM fools a trained LeNet with invisible perturbations; one round of adversarial training resists",
        papers: "Goodfellow et al. 2015",
        run: lab::adversarial::run,
    },
];
