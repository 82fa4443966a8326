//! A network's learned parameters as plain vectors: what loss-landscape slices, Hessian
//! estimates and pruning perturb. Batch norm's running statistics are buffers, not parameters,
//! and are left out.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};
use rikai_data::Rng;

/// One learned tensor: its path in the module tree (`LeNet.conv1.weight`), shape and values.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamTensor {
    /// Dotted path of field names.
    pub path: String,
    /// Shape; the first dimension indexes output filters or units.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

impl ParamTensor {
    /// A weight with one row per output filter or unit (convolutions, linear layers): what
    /// filter normalisation rescales. Biases and batch-norm scales and shifts are 1-D.
    pub fn is_filter_weight(&self) -> bool {
        self.shape.len() >= 2
    }

    /// Values grouped by filter: burn stores linear weights as `[in, out]`, so a linear layer's
    /// unit is a column, while a convolution's filter is a leading slice `[out, in, k, k]`.
    pub fn filters(&self) -> Vec<Vec<usize>> {
        let n = self.values.len();
        if self.shape.len() == 2 {
            let (rows, cols) = (self.shape[0], self.shape[1]);
            (0..cols).map(|c| (0..rows).map(|r| r * cols + c).collect()).collect()
        } else {
            let per = n / self.shape[0].max(1);
            (0..self.shape[0]).map(|f| (f * per..(f + 1) * per).collect()).collect()
        }
    }
}

/// Every learned tensor of a network, in visiting order.
pub type Params = Vec<ParamTensor>;

fn is_buffer(path: &str) -> bool {
    path.ends_with("running_mean") || path.ends_with("running_var")
}

struct Collect<'a> {
    path: Vec<String>,
    grads: Option<&'a GradientsParams>,
    out: Params,
}

impl ModuleVisitor for Collect<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.path.join(".");
        if is_buffer(&path) {
            return;
        }
        let value = param.val();
        let shape = value.dims().to_vec();
        let tensor = match self.grads {
            // A parameter the loss does not reach has a zero gradient.
            Some(grads) => match grads.get::<D>(param.id) {
                Some(g) => g,
                None => value.zeros_like(),
            },
            None => value,
        };
        let values = tensor.into_data().iter::<f32>().collect();
        self.out.push(ParamTensor { path, shape, values });
    }
}

/// The learned parameters of `model`.
pub fn collect<M: Module>(model: &M) -> Params {
    let mut c = Collect { path: Vec::new(), grads: None, out: Vec::new() };
    model.visit(&mut c);
    c.out
}

/// The gradient `grads` holds for each learned parameter of `model`, shaped as [`collect`]'s.
pub fn gradients<M: Module>(model: &M, grads: &GradientsParams) -> Params {
    let mut c = Collect { path: Vec::new(), grads: Some(grads), out: Vec::new() };
    model.visit(&mut c);
    c.out
}

struct Assign<'a> {
    path: Vec<String>,
    next: std::slice::Iter<'a, ParamTensor>,
}

impl ModuleMapper for Assign<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if is_buffer(&self.path.join(".")) {
            return param;
        }
        let p = self.next.next().expect("parameters come from a network of the same architecture");
        param.map(|t| {
            assert_eq!(t.dims().as_slice(), p.shape.as_slice(), "{}: shape differs", p.path);
            // A fresh leaf: it must track gradients exactly when the tensor it replaces did.
            let tracked = t.is_require_grad();
            Tensor::from_data(TensorData::new(p.values.clone(), p.shape.clone()), &t.device()).set_require_grad(tracked)
        })
    }
}

/// `model` with its learned parameters replaced by `params` (from the same architecture);
/// parameters stay trainable if they were.
pub fn assign<M: Module>(model: M, params: &Params) -> M {
    model.map(&mut Assign { path: Vec::new(), next: params.iter() })
}

/// `base + Σ coefficient·direction`, tensor by tensor.
pub fn combine(base: &Params, terms: &[(f32, &Params)]) -> Params {
    let mut out = base.clone();
    for (c, dir) in terms {
        for (o, d) in out.iter_mut().zip(dir.iter()) {
            for (x, y) in o.values.iter_mut().zip(&d.values) {
                *x += c * y;
            }
        }
    }
    out
}

/// Euclidean inner product of two parameter sets.
pub fn dot(a: &Params, b: &Params) -> f64 {
    a.iter().zip(b).flat_map(|(x, y)| x.values.iter().zip(&y.values)).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Euclidean norm of a parameter set.
pub fn norm(a: &Params) -> f64 {
    dot(a, a).sqrt()
}

/// `a` scaled to unit norm.
pub fn normalized(a: &Params) -> Params {
    let n = norm(a).max(1e-12) as f32;
    combine(&zeros_like(a), &[(1.0 / n, a)])
}

/// A parameter set of zeros shaped like `a`.
pub fn zeros_like(a: &Params) -> Params {
    a.iter().map(|p| ParamTensor { values: vec![0.0; p.values.len()], ..p.clone() }).collect()
}

/// A standard normal direction shaped like `a`.
pub fn gaussian_like(a: &Params, rng: &mut Rng) -> Params {
    a.iter().map(|p| ParamTensor { values: rng.normals(p.values.len()), ..p.clone() }).collect()
}

/// Li et al. (2018)'s filter-normalised random direction: a Gaussian direction whose every
/// filter (output unit) is rescaled to the norm of the same filter of `weights`, so a step of
/// 1 along it changes each filter by as much as the filter itself, whatever the layer's scale.
/// Biases and batch-norm parameters get a zero component, as in the paper.
pub fn filter_normalized_direction(weights: &Params, rng: &mut Rng) -> Params {
    let mut dir = gaussian_like(weights, rng);
    for (d, w) in dir.iter_mut().zip(weights) {
        if !w.is_filter_weight() {
            d.values.iter_mut().for_each(|x| *x = 0.0);
            continue;
        }
        for filter in w.filters() {
            let wn: f64 = filter.iter().map(|&i| (w.values[i] as f64).powi(2)).sum::<f64>().sqrt();
            let dn: f64 = filter.iter().map(|&i| (d.values[i] as f64).powi(2)).sum::<f64>().sqrt();
            let scale = (wn / dn.max(1e-12)) as f32;
            for &i in &filter {
                d.values[i] *= scale;
            }
        }
    }
    dir
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;
    use lenet::LeNetConfig;

    use super::*;

    #[test]
    fn collects_learned_tensors_and_assigns_them_back() {
        let d = Device::flex();
        let model = LeNetConfig::new().with_batch_norm(true).init(&d);
        let p = collect(&model);
        let paths: Vec<&str> = p.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(paths[0], "conv1.weight");
        assert!(paths.contains(&"bn1.gamma") && paths.contains(&"fc3.bias"), "{paths:?}");
        assert!(!paths.iter().any(|p| p.contains("running")), "running statistics are not parameters");
        let doubled = combine(&p, &[(1.0, &p)]);
        let back = collect(&assign(model, &doubled));
        assert_eq!(back, doubled);
    }

    #[test]
    fn filter_normalisation_gives_each_filter_its_weights_norm() {
        let d = Device::flex();
        let w = collect(&LeNetConfig::new().init(&d));
        let dir = filter_normalized_direction(&w, &mut Rng::new(3));
        let norm_of =
            |t: &ParamTensor, f: &[usize]| f.iter().map(|&i| (t.values[i] as f64).powi(2)).sum::<f64>().sqrt();
        let mut checked = 0;
        for (wt, dt) in w.iter().zip(&dir) {
            if !wt.is_filter_weight() {
                assert!(dt.values.iter().all(|&x| x == 0.0), "{}: biases are not perturbed", wt.path);
                continue;
            }
            for f in wt.filters() {
                let (a, b) = (norm_of(wt, &f), norm_of(dt, &f));
                assert!((a - b).abs() < 1e-4 * a.max(1e-6), "{}: {a} vs {b}", wt.path);
                checked += 1;
            }
        }
        // conv1 6 filters, conv2 16, fc1 120 units, fc2 84, fc3 10.
        assert_eq!(checked, 6 + 16 + 120 + 84 + 10);
        // A direction, not a copy of the weights.
        assert!(dot(&normalized(&w), &normalized(&dir)).abs() < 0.2);
    }
}
