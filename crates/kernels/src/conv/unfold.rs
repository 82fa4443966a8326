//! Unfolding an image into its column matrix (im2col) and folding one back (col2im).

use super::Geometry;
use std::borrow::Cow;
use std::ops::Range;

impl Geometry {
    /// Calls `f(row, c, i, j, rows, cols)` for every column-matrix row `row`: channel `c`, kernel
    /// tap `(i, j)`, and the output rows and columns whose input lies inside the image.
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize, usize, usize, Range<usize>, Range<usize>)) {
        let [ho, wo] = self.output();
        let [kh, kw] = self.kernel;
        for c in 0..self.in_channels {
            for i in 0..kh {
                let rows = self.valid(0, i, ho);
                for j in 0..kw {
                    f((c * kh + i) * kw + j, c, i, j, rows.clone(), self.valid(1, j, wo));
                }
            }
        }
    }

    /// Calls `f(row, at, oh, j, valid)` for every output row `oh` of every column-matrix row `row`
    /// (kernel column `j`) that reads the image: `at` is the offset of the image row it reads,
    /// `valid` the output columns inside the image; the others read padding.
    fn for_each_row(&self, mut f: impl FnMut(usize, usize, usize, usize, Range<usize>)) {
        let [h, w] = self.input;
        self.for_each_tap(|row, c, i, j, rows, cols| {
            for oh in rows {
                let ih = oh * self.stride[0] + i * self.dilation[0] - self.padding[0].0;
                f(row, (c * h + ih) * w, oh, j, cols.clone());
            }
        });
    }

    /// The input column that output column `ow` reads at kernel column `j` (inside `valid`).
    fn input_column(&self, ow: usize, j: usize) -> usize {
        ow * self.stride[1] + j * self.dilation[1] - self.padding[1].0
    }

    /// Whether each column-matrix row is a shifted copy of one stride phase of its channel:
    /// dilation 1, sides divisible by the strides, and an output as wide as a phase ("same"
    /// padding across, any padding down), as in every 3x3 convolution of ResNet and the UNet and
    /// the kernel-4 stride-2 layers of DCGAN. The phase `(a, b)` of a channel holds its pixels
    /// `(s·r + a, s·q + b)` (the whole channel at stride 1); output position `q` then reads phase
    /// position `q + offset`, except in the columns that wrap around a row's end, which read padding.
    fn shifts_rows(&self) -> bool {
        let ([h, w], [sh, sw]) = (self.input, self.stride);
        self.dilation == [1, 1] && h % sh == 0 && w % sw == 0 && self.output()[1] == w / sw
    }

    /// For each column-matrix row of a [`Geometry::shifts_rows`] convolution: `f(row, dst, src,
    /// wrapped)`, where `dst` is the row's run of output positions that read inside the image
    /// vertically (as a range of the row), `src` the positions they read in the image split into
    /// phases ([`Geometry::phases`]; the same length, possibly starting before the phase or ending
    /// after it by less than a row), and `wrapped` the output columns that read padding.
    fn for_each_shift(&self, mut f: impl FnMut(usize, Range<usize>, Range<isize>, [Range<usize>; 2])) {
        let [sh, sw] = self.stride.map(|s| s as isize);
        let [hp, wp] = [self.input[0] as isize / sh, self.input[1] as isize / sw];
        let wo = self.output()[1];
        let [top, left] = [self.padding[0].0 as isize, self.padding[1].0 as isize];
        self.for_each_tap(|row, c, i, j, rows, valid| {
            // Tap (i, j) reads pixel (s·o + i - top) of each dimension: phase (i - top) mod s, at
            // o plus the quotient.
            let (di, dj) = (i as isize - top, j as isize - left);
            let phase = (c as isize * sh + di.rem_euclid(sh)) * sw + dj.rem_euclid(sw);
            let offset = di.div_euclid(sh) * wp + dj.div_euclid(sw);
            let start = (phase * hp + rows.start as isize) * wp + offset;
            let dst = rows.start * wo..rows.end * wo;
            f(row, dst.clone(), start..start + dst.len() as isize, [0..valid.start, valid.end..wo]);
        });
    }

    /// The image with each channel split into its stride phases, `[C, SH, SW, H/SH, W/SW]`: the
    /// image itself at stride 1.
    fn phases<'a>(&self, image: &'a [f32]) -> Cow<'a, [f32]> {
        if self.stride == [1, 1] {
            return Cow::Borrowed(image);
        }
        let mut phases = vec![0.0; image.len()];
        self.for_each_phase_run(|at, step, run| {
            for (d, s) in phases[run].iter_mut().zip(image[at..].iter().step_by(step)) {
                *d = *s;
            }
        });
        Cow::Owned(phases)
    }

    /// Calls `f(at, step, run)` for each row of each phase: `run` is its range in the phases, and
    /// it holds the image's values from `at` on, `step` apart.
    fn for_each_phase_run(&self, mut f: impl FnMut(usize, usize, Range<usize>)) {
        let ([h, w], [sh, sw]) = (self.input, self.stride);
        let [hp, wp] = [h / sh, w / sw];
        for c in 0..self.in_channels {
            for r in 0..h {
                for b in 0..sw {
                    let phase = (c * sh + r % sh) * sw + b;
                    let start = (phase * hp + r / sh) * wp;
                    f((c * h + r) * w + b, sw, start..start + wp);
                }
            }
        }
    }

    /// Unfolds one image into its column matrix `[patch_len, positions]`, written from the start
    /// of `cols` with its rows `width` values apart: images unfolded side by side make one wide
    /// matrix.
    pub(super) fn im2col(&self, image: &[f32], cols: &mut [f32], width: usize) {
        if self.shifts_rows() {
            // One copy per row: its vertical padding zeroed, the rest copied from the shifted
            // phase, and the columns that wrapped around zeroed.
            let (positions, wo, phases) = (self.positions(), self.output()[1], self.phases(image));
            self.for_each_shift(|row, dst, src, wrapped| {
                let row = &mut cols[row * width..][..positions];
                row[..dst.start].fill(0.0);
                row[dst.end..].fill(0.0);
                let (dst, src) = clip(dst, src, phases.len());
                row[dst].copy_from_slice(&phases[src]);
                zero_columns(row, wo, &wrapped);
            });
            return;
        }
        // Padding is rare next to the interior, so zero everything once and copy the interior.
        let (positions, wo, w) = (self.positions(), self.output()[1], self.input[1]);
        cols.chunks_mut(width).take(self.patch_len()).for_each(|row| row[..positions].fill(0.0));
        let stride = self.stride[1];
        self.for_each_row(|row, at, oh, j, valid| {
            let src = &image[at..at + w];
            let dst = &mut cols[row * width + oh * wo..][..wo];
            let first = self.input_column(valid.start, j);
            if stride == 1 {
                dst[valid.clone()].copy_from_slice(&src[first..first + valid.len()]);
            } else {
                for (d, s) in dst[valid].iter_mut().zip(src[first..].iter().step_by(stride)) {
                    *d = *s;
                }
            }
        });
    }

    /// Adds a column matrix, laid out as [`Geometry::im2col`] writes it, back onto the image it
    /// was unfolded from (the adjoint of `im2col`); `cols` is scratch, and its entries that read
    /// padding are overwritten.
    pub(super) fn col2im(&self, cols: &mut [f32], width: usize, image: &mut [f32]) {
        if self.shifts_rows() {
            // The entries that read padding get no gradient: zeroed, so that each row can be
            // added onto its shifted phase in one run. Strided, the sums go to zeroed phases,
            // whose interleaving then writes every pixel of the image.
            let (positions, wo) = (self.positions(), self.output()[1]);
            let strided = self.stride != [1, 1];
            let mut scratch = if strided { vec![0.0; image.len()] } else { Vec::new() };
            let phases: &mut [f32] = if strided {
                &mut scratch
            } else {
                image.fill(0.0);
                image
            };
            self.for_each_shift(|row, dst, src, wrapped| {
                let row = &mut cols[row * width..][..positions];
                zero_columns(row, wo, &wrapped);
                let (dst, src) = clip(dst, src, phases.len());
                for (d, s) in phases[src].iter_mut().zip(&row[dst]) {
                    *d += *s;
                }
            });
            if strided {
                self.for_each_phase_run(|at, step, run| {
                    for (d, s) in image[at..].iter_mut().step_by(step).zip(&scratch[run]) {
                        *d = *s;
                    }
                });
            }
            return;
        }
        image.fill(0.0);
        let (wo, w) = (self.output()[1], self.input[1]);
        let stride = self.stride[1];
        self.for_each_row(|row, at, oh, j, valid| {
            let src = &cols[row * width + oh * wo..][..wo];
            let first = self.input_column(valid.start, j);
            let dst = &mut image[at..at + w];
            if stride == 1 {
                for (d, s) in dst[first..first + valid.len()].iter_mut().zip(&src[valid]) {
                    *d += *s;
                }
            } else {
                for (d, s) in dst[first..].iter_mut().step_by(stride).zip(&src[valid]) {
                    *d += *s;
                }
            }
        });
    }
}

/// Zeroes `columns` of every line of `width` values in `row`.
fn zero_columns(row: &mut [f32], width: usize, columns: &[Range<usize>]) {
    // Column by column: a kernel wraps only a few columns, and a fill per line of a narrow image
    // (8 values at ResNet-20's third stage) costs a call each.
    for column in columns.iter().flat_map(Clone::clone) {
        row[column..].iter_mut().step_by(width).for_each(|v| *v = 0.0);
    }
}

/// `dst` and `src` (equal lengths) cut to where `src` lies in `0..len`: the ends cut off are
/// wrapped columns, zeroed separately.
fn clip(dst: Range<usize>, src: Range<isize>, len: usize) -> (Range<usize>, Range<usize>) {
    let start = src.start.clamp(0, len as isize);
    let end = src.end.clamp(start, len as isize);
    let skip = ((start - src.start) as usize).min(dst.len());
    let keep = ((end - src.start) as usize).clamp(skip, dst.len());
    (dst.start + skip..dst.start + keep, start as usize..start as usize + (keep - skip))
}
