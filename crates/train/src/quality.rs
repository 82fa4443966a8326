//! How good is a generator? "LeNet-FID": the Fréchet distance (Heusel et al. 2017's FID, with
//! this project's LeNet-5 in place of Inception) between Gaussian fits of the 84-unit
//! penultimate features of generated and of real images, printed beside the same distance
//! between two real splits (the floor a perfect generator would reach at these sample sizes);
//! plus which classes the generated images look like to that LeNet, and how sure it is.
//!
//! Any generator serves: the score takes images, not a model.

use std::path::Path;

use anyhow::bail;
use burn::tensor::Device;
use burn::tensor::activation::softmax;
use lenet::{FEATURES, LeNet};
use rikai_data::{Batcher, ImageDataset};

use crate::linalg::frechet_distance;
use crate::models::Classifier;
use crate::progress::Progress;
use crate::run_info::{RunInfo, load_classifier};

/// A trained LeNet-5 that judges images.
pub struct Judge {
    model: LeNet,
    info: RunInfo,
    batcher: Batcher,
}

/// What the judge sees in a set of images.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// Images judged.
    pub count: usize,
    /// Mean of the penultimate features.
    pub mean: Vec<f64>,
    /// Their covariance (`FEATURES` x `FEATURES`, row-major, n - 1 denominator).
    pub cov: Vec<f64>,
    /// Images per predicted class.
    pub class_counts: Vec<usize>,
    /// Mean probability of the predicted class.
    pub mean_confidence: f64,
}

/// The full quality report.
#[derive(Clone, Debug)]
pub struct Quality {
    /// LeNet-FID of generated against real training images.
    pub fid: f64,
    /// LeNet-FID of real training against real test images.
    pub floor: f64,
    /// The generated images as judged.
    pub generated: Verdict,
    /// Real training images as judged.
    pub real_train: Verdict,
    /// Real test images as judged.
    pub real_test: Verdict,
}

impl Judge {
    /// Load the LeNet-5 of a `train lenet` run (its best weights).
    pub fn load(checkpoint: &Path, device: &Device) -> anyhow::Result<Judge> {
        let (classifier, info) = load_classifier(checkpoint, "lenet", device)?;
        let Classifier::LeNet(model) = classifier else {
            bail!("{}: not a LeNet-5 checkpoint", checkpoint.display());
        };
        let batcher = Batcher::new(info.normalization.clone(), device.clone());
        Ok(Judge { model, info, batcher })
    }

    /// Class names of the judge's training data.
    pub fn class_names(&self) -> &[String] {
        &self.info.class_names
    }

    /// Judge every image of `images`, which must have the judge's input shape.
    pub fn judge(&self, images: &ImageDataset, label: &str) -> anyhow::Result<Verdict> {
        let spec = &self.info.input;
        if (images.channels, images.height, images.width) != (spec.channels, spec.height, spec.width) {
            bail!(
                "{label}: images of {}x{}x{}, the judging LeNet takes {}x{}x{}",
                images.channels,
                images.height,
                images.width,
                spec.channels,
                spec.height,
                spec.width
            );
        }
        if images.len() < 2 {
            bail!("{label}: at least 2 images are needed to fit a Gaussian, got {}", images.len());
        }
        let mut features: Vec<f64> = Vec::with_capacity(images.len() * FEATURES);
        let mut class_counts = vec![0usize; spec.num_classes];
        let mut confidence = 0.0;
        let indices: Vec<usize> = (0..images.len()).collect();
        let chunks: Vec<&[usize]> = indices.chunks(500).collect();
        let mut progress = Progress::terminal_only(format!("judging {label}"), chunks.len());
        for (step, chunk) in chunks.iter().enumerate() {
            let x = self.batcher.batch(images, chunk).images;
            let f = self.model.features(x.clone());
            features.extend(f.into_data_as::<f32>().iter::<f32>().map(f64::from));
            let probs = softmax(self.model.forward(x), 1).into_data_as::<f32>();
            let probs: Vec<f32> = probs.iter::<f32>().collect();
            for row in probs.chunks(spec.num_classes) {
                let (class, p) =
                    row.iter().enumerate().fold((0, f32::MIN), |b, (i, &p)| if p > b.1 { (i, p) } else { b });
                class_counts[class] += 1;
                confidence += p as f64;
            }
            progress.update(step + 1, String::new);
        }
        progress.finish();
        let (mean, cov) = gaussian_fit(&features, FEATURES);
        Ok(Verdict { count: images.len(), mean, cov, class_counts, mean_confidence: confidence / images.len() as f64 })
    }

    /// Score `generated` against the real training and test images.
    pub fn score(
        &self,
        generated: &ImageDataset,
        real_train: &ImageDataset,
        real_test: &ImageDataset,
    ) -> anyhow::Result<Quality> {
        let generated = self.judge(generated, "generated")?;
        let real_train = self.judge(real_train, "real train")?;
        let real_test = self.judge(real_test, "real test")?;
        let distance = |a: &Verdict, b: &Verdict| frechet_distance(&a.mean, &a.cov, &b.mean, &b.cov);
        Ok(Quality {
            fid: distance(&generated, &real_train),
            floor: distance(&real_train, &real_test),
            generated,
            real_train,
            real_test,
        })
    }
}

/// Mean and covariance (n - 1 denominator) of `rows` of length `dim`.
pub fn gaussian_fit(rows: &[f64], dim: usize) -> (Vec<f64>, Vec<f64>) {
    let n = rows.len() / dim;
    let mut mean = vec![0.0; dim];
    for row in rows.chunks_exact(dim) {
        mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0.0; dim * dim];
    let mut centred = vec![0.0; dim];
    for row in rows.chunks_exact(dim) {
        centred.iter_mut().zip(row.iter().zip(&mean)).for_each(|(c, (x, m))| *c = x - m);
        for i in 0..dim {
            let ci = centred[i];
            for (j, cj) in centred.iter().enumerate().skip(i) {
                cov[i * dim + j] += ci * cj;
            }
        }
    }
    let denominator = (n.max(2) - 1) as f64;
    for i in 0..dim {
        for j in i..dim {
            let v = cov[i * dim + j] / denominator;
            cov[i * dim + j] = v;
            cov[j * dim + i] = v;
        }
    }
    (mean, cov)
}

impl Quality {
    /// The report as printed: distances, per-class shares and confidences.
    pub fn report(&self, class_names: &[String]) -> String {
        let g = &self.generated;
        let shares: Vec<f64> = g.class_counts.iter().map(|&c| c as f64 / g.count as f64).collect();
        let (min, max) = shares.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &s| (lo.min(s), hi.max(s)));
        let mut out = format!(
            "LeNet-FID {:.3} ({} generated vs {} real training images)\nfloor     {:.3} (real training vs {} real test images)\n",
            self.fid, g.count, self.real_train.count, self.floor, self.real_test.count
        );
        out += "class shares of the generated images, as the LeNet judges them:\n";
        for (c, share) in shares.iter().enumerate() {
            // Digits are named by their index; other classes get their name beside it.
            let name = class_names.get(c).filter(|n| **n != c.to_string()).map(String::as_str).unwrap_or("");
            out += &format!("  {c} {name:<12} {:>5.1}%\n", 100.0 * share);
        }
        out += &format!("  smallest {:.1}%, largest {:.1}%\n", 100.0 * min, 100.0 * max);
        out += &format!(
            "mean confidence {:.3} on generated images ({:.3} on real test images)\n",
            g.mean_confidence, self.real_test.mean_confidence
        );
        out
    }

    /// The numbers as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let g = &self.generated;
        serde_json::json!({
            "lenet_fid": self.fid,
            "floor": self.floor,
            "generated": g.count,
            "real_train": self.real_train.count,
            "real_test": self.real_test.count,
            "class_shares": g.class_counts.iter().map(|&c| c as f64 / g.count as f64).collect::<Vec<_>>(),
            "mean_confidence": g.mean_confidence,
            "real_test_confidence": self.real_test.mean_confidence,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_fit_of_known_points() {
        // Points (0, 0), (2, 0), (0, 2), (2, 2): mean (1, 1), variances 4/3, covariance 0.
        let (mean, cov) = gaussian_fit(&[0.0, 0.0, 2.0, 0.0, 0.0, 2.0, 2.0, 2.0], 2);
        assert_eq!(mean, vec![1.0, 1.0]);
        let expected = [4.0 / 3.0, 0.0, 0.0, 4.0 / 3.0];
        assert!(cov.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-12), "{cov:?}");
        // Perfectly correlated coordinates.
        let (_, cov) = gaussian_fit(&[0.0, 0.0, 1.0, 2.0, 2.0, 4.0], 2);
        assert!((cov[1] - 2.0).abs() < 1e-12 && (cov[2] - 2.0).abs() < 1e-12 && (cov[3] - 4.0).abs() < 1e-12);
    }
}
