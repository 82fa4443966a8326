//! `--device`: pick one of the backends compiled into this binary.
//!
//! The backends are cargo features of `train` and `infer` (`flex`, the default, `ndarray`,
//! `wgpu`, `vulkan`, `cuda`); model code is the same for all of them.

use anyhow::bail;
use burn::tensor::Device;

/// Names `--device` accepts in this build, in the order a default is chosen: GPUs first.
pub fn compiled() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "cuda") {
        names.push("cuda");
    }
    if cfg!(feature = "vulkan") {
        names.push("vulkan");
    }
    if cfg!(feature = "wgpu") {
        names.push("wgpu");
    }
    if cfg!(feature = "flex") {
        names.push("flex");
    }
    if cfg!(feature = "ndarray") {
        names.push("ndarray");
    }
    names
}

/// The device named by `spec` (`flex`, `ndarray`, `wgpu`, `vulkan`, `cuda`, `cuda:N`), or the
/// first compiled backend when `spec` is `None`.
pub fn parse(spec: Option<&str>) -> anyhow::Result<Device> {
    let available = compiled();
    let spec = match spec {
        Some(s) => s.trim().to_ascii_lowercase(),
        None => match available.first() {
            Some(name) => name.to_string(),
            None => bail!("no backend compiled in: build with --features flex (or ndarray, wgpu, vulkan, cuda)"),
        },
    };
    let (kind, index) = match spec.split_once(':') {
        Some((kind, index)) => match index.parse::<usize>() {
            Ok(i) => (kind.to_string(), i),
            Err(_) => bail!("--device {spec}: '{index}' is not a device index"),
        },
        None => (spec.clone(), 0),
    };
    if !["flex", "ndarray", "wgpu", "vulkan", "cuda"].contains(&kind.as_str()) {
        bail!("--device {spec}: unknown backend (this build has: {})", available.join(", "));
    }
    if !available.contains(&kind.as_str()) {
        bail!(
            "--device {spec}: backend '{kind}' is not compiled in (this build has: {}); rebuild with --features {kind}",
            available.join(", ")
        );
    }
    make(&kind, index)
}

#[allow(unused_variables, unreachable_code)]
fn make(kind: &str, index: usize) -> anyhow::Result<Device> {
    #[cfg(feature = "flex")]
    if kind == "flex" {
        return Ok(Device::flex());
    }
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    if kind == "ndarray" {
        return Ok(Device::ndarray());
    }
    #[cfg(feature = "cuda")]
    if kind == "cuda" {
        return Ok(Device::cuda(index));
    }
    #[cfg(feature = "vulkan")]
    if kind == "vulkan" {
        return Ok(Device::vulkan(gpu_kind(index)));
    }
    #[cfg(feature = "wgpu")]
    if kind == "wgpu" {
        return Ok(Device::wgpu(gpu_kind(index)));
    }
    bail!("backend '{kind}' is not compiled in")
}

#[cfg(any(feature = "wgpu", feature = "vulkan"))]
fn gpu_kind(index: usize) -> burn::tensor::DeviceKind {
    if index == 0 { burn::tensor::DeviceKind::default() } else { burn::tensor::DeviceKind::DiscreteGpu(index) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_build_offers_flex_and_rejects_the_rest_clearly() {
        assert!(compiled().contains(&"flex"));
        assert!(parse(Some("flex")).is_ok());
        assert!(parse(None).is_ok());
        if !cfg!(feature = "cuda") {
            let msg = parse(Some("cuda:0")).unwrap_err().to_string();
            assert!(msg.contains("backend 'cuda' is not compiled in") && msg.contains("--features cuda"), "{msg}");
        }
        assert!(parse(Some("tpu")).unwrap_err().to_string().contains("unknown backend"));
        assert!(parse(Some("cuda:x")).unwrap_err().to_string().contains("not a device index"));
    }
}
