#[global_allocator]
static ALLOCATOR: train::Allocator = train::Allocator;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;

fn main() {
    train::keep_freed_memory();
    // (cin, cout, size, kernel, stride, calls per step)
    let shapes: &[(usize, usize, usize, usize, usize, usize)] = &[
        (1, 16, 28, 3, 1, 1),
        (16, 16, 28, 3, 1, 7),
        (16, 16, 28, 3, 2, 1),
        (16, 32, 14, 3, 1, 1),
        (32, 32, 14, 3, 1, 6),
        (16, 32, 14, 1, 1, 1),
        (32, 32, 14, 3, 2, 1),
        (32, 64, 7, 3, 1, 1),
        (64, 64, 7, 3, 1, 10),
        (32, 64, 7, 1, 1, 1),
        (64, 192, 7, 1, 1, 6),
        (64, 64, 7, 1, 1, 6),
        (128, 64, 7, 3, 1, 2),
        (128, 64, 7, 1, 1, 2),
        (96, 64, 7, 3, 1, 1),
        (96, 64, 7, 1, 1, 1),
        (64, 64, 14, 3, 1, 1),
        (96, 32, 14, 3, 1, 1),
        (96, 32, 14, 1, 1, 1),
        (64, 32, 14, 3, 1, 1),
        (64, 32, 14, 1, 1, 1),
        (48, 32, 14, 3, 1, 1),
        (48, 32, 14, 1, 1, 1),
        (32, 32, 28, 3, 1, 1),
        (48, 16, 28, 3, 1, 1),
        (48, 16, 28, 1, 1, 1),
        (32, 16, 28, 3, 1, 2),
        (32, 16, 28, 1, 1, 2),
        (16, 1, 28, 3, 1, 1),
        // ResNet-20 (29..) and ResNet-18 (32..)
        (16, 16, 32, 3, 1, 7),
        (32, 32, 16, 3, 1, 5),
        (64, 64, 8, 3, 1, 5),
        (64, 64, 32, 3, 1, 4),
        (128, 128, 16, 3, 1, 3),
        (256, 256, 8, 3, 1, 3),
        (512, 512, 4, 3, 1, 3),
    ];
    let only: Option<usize> = std::env::args().nth(1).map(|s| s.parse().unwrap());
    train::on_pool(|| {
        let device = Device::flex();
        let ad = device.clone().autodiff();
        let mut total = 0.0;
        for (i, &(ci, co, s, k, st, calls)) in shapes.iter().enumerate() {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            let x: Tensor<4> = Tensor::random([128, ci, s, s], Distribution::Normal(0., 1.), &ad).require_grad();
            let w: Tensor<4> = Tensor::random([co, ci, k, k], Distribution::Normal(0., 1.), &ad).require_grad();
            let b: Tensor<1> = Tensor::random([co], Distribution::Normal(0., 1.), &ad).require_grad();
            let opt = ConvOptions::new([st, st], [k / 2, k / 2], [1, 1], 1);
            let mode = std::env::var("MODE").unwrap_or_default();
            let (xi, wi, bi) = (x.clone().inner(), w.clone().inner(), b.clone().inner());
            let step = || match mode.as_str() {
                "fwd" => drop(kernels::conv2d(xi.clone(), wi.clone(), Some(bi.clone()), opt.clone())),
                "inp" => drop(
                    kernels::conv2d(x.clone(), w.clone().detach(), Some(b.clone().detach()), opt.clone())
                        .sum()
                        .backward(),
                ),
                "wgt" => {
                    drop(kernels::conv2d(x.clone().detach(), w.clone(), Some(b.clone()), opt.clone()).sum().backward())
                }
                _ => drop(kernels::conv2d(x.clone(), w.clone(), Some(b.clone()), opt.clone()).sum().backward()),
            };
            for _ in 0..3 {
                step();
            }
            let mut v = vec![];
            for _ in 0..7 {
                let n = 5;
                let t = Instant::now();
                for _ in 0..n {
                    step();
                }
                v.push(t.elapsed().as_secs_f64() * 1000.0 / n as f64);
            }
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let ms = v[3];
            total += ms * calls as f64;
            println!(
                "{i:2} {ci:3}->{co:3} @{s:2} k{k} s{st} x{calls:2}: {ms:8.3} ms  (step {:7.2})",
                ms * calls as f64
            );
        }
        println!("total {total:.1} ms");
        Ok::<(), anyhow::Error>(())
    })
    .unwrap();
}
