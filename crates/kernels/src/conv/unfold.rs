//! Unfolding an image into its column matrix (im2col) and folding one back (col2im).

use super::Geometry;
use crate::{copy_short, vectorized};
use std::borrow::Cow;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

/// The most geometries [`Geometry::taps`] keeps (a UNet has a few dozen); past it, it starts over.
const MAX_KEPT: usize = 256;

impl Geometry {
    /// Calls `f(row, c, i, j, rows, cols)` for every column-matrix row `row`: channel `c`, kernel
    /// tap `(i, j)`, and the output rows and columns whose input lies inside the image.
    #[inline(always)]
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
    /// `valid` the output columns inside the image; the others read padding. Inlined: a call per
    /// row of LeNet's conv2 (10 values) cost a quarter of its training step.
    #[inline(always)]
    fn for_each_row(&self, mut f: impl FnMut(usize, usize, usize, usize, Range<usize>)) {
        let [h, w] = self.input;
        self.for_each_tap(|row, c, i, j, rows, cols| {
            for oh in rows {
                f(row, (c * h + self.input_at(0, oh, i)) * w, oh, j, cols.clone());
            }
        });
    }

    /// Whether each column-matrix row is a shifted copy of one stride phase of its channel:
    /// dilation 1, sides divisible by the strides, and an output the size of a phase ("same"
    /// padding), as in every 3x3 convolution of ResNet and the UNet and the kernel-4 stride-2
    /// layers of DCGAN. The phase `(a, b)` of a channel holds its pixels `(s·r + a, s·q + b)` (the
    /// whole channel at stride 1); output position `q` then reads phase position `q + offset`,
    /// except where the kernel overhangs the image, which reads padding. With the phases of a
    /// group's images end to end ([`Geometry::by_phase`]), the shift holds across the images too,
    /// so that each row of a group's column matrix is one copy, whatever the number of images.
    fn shifts_rows(&self) -> bool {
        let ([h, w], [sh, sw]) = (self.input, self.stride);
        self.dilation == [1, 1] && h % sh == 0 && w % sw == 0 && self.output() == [h / sh, w / sw]
    }

    /// The shift of each kernel tap of a [`Geometry::shifts_rows`] convolution, for groups of up
    /// to `images` images. Its masks are as large as a channel's column matrix, so they are made
    /// once per geometry and kept: made per group, and then per convolution, they cost LeNet-5's
    /// training step a quarter and then 3% (page faults on the fresh allocations).
    pub(super) fn taps(&self, images: usize) -> Arc<Taps> {
        static KEPT: Mutex<Vec<(Geometry, usize, Arc<Taps>)>> = Mutex::new(Vec::new());
        let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((.., taps)) = kept.iter().find(|(g, n, _)| g == self && *n == images) {
            return Arc::clone(taps);
        }
        if kept.len() == MAX_KEPT {
            kept.clear();
        }
        let taps = Arc::new(self.make_taps(images));
        kept.push((*self, images, Arc::clone(&taps)));
        taps
    }

    /// See [`Geometry::taps`].
    fn make_taps(&self, images: usize) -> Taps {
        if !self.shifts_rows() || self.is_pointwise() {
            return Taps(Vec::new());
        }
        let [sh, sw] = self.stride.map(|s| s as isize);
        let [hp, wp] = [self.input[0] as isize / sh, self.input[1] as isize / sw];
        let [ho, wo] = self.output();
        let [top, left] = [self.padding[0].0 as isize, self.padding[1].0 as isize];
        let mut taps = Vec::with_capacity(self.kernel[0] * self.kernel[1]);
        for i in 0..self.kernel[0] {
            let rows = self.valid(0, i, ho);
            for j in 0..self.kernel[1] {
                // Tap (i, j) reads pixel (s·o + i - top) of each dimension: phase (i - top) mod
                // s, at o plus the quotient.
                let (di, dj) = (i as isize - top, j as isize - left);
                let columns = self.valid(1, j, wo);
                let mut mask = vec![0; images * ho * wo];
                for (r, line) in mask.chunks_mut(wo).enumerate() {
                    if rows.contains(&(r % ho)) {
                        line[columns.clone()].fill(u32::MAX);
                    }
                }
                taps.push(Shift {
                    phase: ((di.rem_euclid(sh) * sw + dj.rem_euclid(sw)) * hp * wp) as usize,
                    offset: di.div_euclid(sh) * wp + dj.div_euclid(sw),
                    mask,
                });
            }
        }
        Taps(taps)
    }

    /// A group of images (`[N, C, H, W]`) with each channel split into its stride phases and the
    /// images' phases end to end, `[C, SH·SW, N, H/SH, W/SW]`: the image itself for one image at
    /// stride 1.
    fn by_phase<'a>(&self, images: &'a [f32]) -> Cow<'a, [f32]> {
        if self.stride == [1, 1] && images.len() == self.image_len() {
            return Cow::Borrowed(images);
        }
        let mut phases = vec![0.0; images.len()];
        self.gather(images, &mut phases);
        Cow::Owned(phases)
    }

    /// Writes a group of images into `phases` as [`Geometry::by_phase`] lays them out.
    fn gather(&self, images: &[f32], phases: &mut [f32]) {
        self.for_each_phase_run(images.len() / self.image_len(), |at, step, run| {
            if step == 1 {
                phases[run.clone()].copy_from_slice(&images[at..at + run.len()]);
                return;
            }
            for (d, s) in phases[run].iter_mut().zip(images[at..].iter().step_by(step)) {
                *d = *s;
            }
        });
    }

    /// Writes [`Geometry::by_phase`]'s layout of a group of images back into `images`.
    fn scatter(&self, phases: &[f32], images: &mut [f32]) {
        self.for_each_phase_run(images.len() / self.image_len(), |at, step, run| {
            if step == 1 {
                images[at..at + run.len()].copy_from_slice(&phases[run]);
                return;
            }
            for (d, s) in images[at..].iter_mut().step_by(step).zip(&phases[run]) {
                *d = *s;
            }
        });
    }

    /// Calls `f(at, step, run)` for each run of [`Geometry::by_phase`]'s values over `images`
    /// images: `run` is its range there, and it holds the images' values from `at` on, `step`
    /// apart (a whole channel at stride 1, a row of a phase otherwise).
    fn for_each_phase_run(&self, images: usize, mut f: impl FnMut(usize, usize, Range<usize>)) {
        let ([h, w], [sh, sw]) = (self.input, self.stride);
        let [hp, wp] = [h / sh, w / sw];
        for n in 0..images {
            let image = n * self.image_len();
            for c in 0..self.in_channels {
                if self.stride == [1, 1] {
                    let start = (c * images + n) * h * w;
                    f(image + c * h * w, 1, start..start + h * w);
                    continue;
                }
                for r in 0..h {
                    for b in 0..sw {
                        let phase = (c * sh + r % sh) * sw + b;
                        let start = ((phase * images + n) * hp + r / sh) * wp;
                        f(image + (c * h + r) * w + b, sw, start..start + wp);
                    }
                }
            }
        }
    }

    /// Whether the kernel is 1x1, unpadded and of stride 1: each image is its own column matrix,
    /// and a group's is [`Geometry::by_phase`]'s layout of it.
    pub(super) fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [(0, 0), (0, 0)]
    }

    /// Unfolds a group of images (`[N, C, H, W]`) side by side into their column matrix
    /// `[patch_len, N·positions]`, which `cols` holds exactly; `taps` from [`Geometry::taps`] for
    /// at least `N` images.
    pub(super) fn im2col(&self, images: &[f32], cols: &mut [f32], taps: &Taps) {
        let count = images.len() / self.image_len();
        let (positions, width) = (self.positions(), cols.len() / self.patch_len());
        if self.is_pointwise() {
            return self.gather(images, cols);
        }
        if self.shifts_rows() {
            // One masked copy per row: the padding it reads is zeroed on the way.
            let phases = self.by_phase(images);
            let rows = taps.rows(count, width, self.input[0] * self.input[1], phases.len());
            vectorized(
                #[inline(always)]
                || {
                    for (row, (dst, src, mask)) in cols.chunks_mut(width).zip(rows) {
                        row[..dst.start].fill(0.0);
                        row[dst.end..].fill(0.0);
                        let values = row[dst].iter_mut().zip(&phases[src]).zip(mask);
                        values.for_each(|((d, s), m)| *d = f32::from_bits(s.to_bits() & m));
                    }
                },
            );
            return;
        }
        if self.is_unpadded_unit() {
            return self.for_each_unpadded_run(count, width, |entries, values| {
                copy_short(&mut cols[entries], &images[values])
            });
        }
        // Padding is rare next to the interior, so zero everything once and copy the interior.
        cols.fill(0.0);
        let (wo, w, stride) = (self.output()[1], self.input[1], self.stride[1]);
        for (n, image) in images.chunks(self.image_len()).enumerate() {
            self.for_each_row(|row, at, oh, j, valid| {
                let src = &image[at..at + w];
                let dst = &mut cols[row * width + n * positions + oh * wo..][..wo];
                let first = self.input_at(1, valid.start, j);
                if stride == 1 {
                    copy_short(&mut dst[valid.clone()], &src[first..first + valid.len()]);
                } else {
                    for (d, s) in dst[valid].iter_mut().zip(src[first..].iter().step_by(stride)) {
                        *d = *s;
                    }
                }
            });
        }
    }

    /// Adds a group's column matrix, laid out as [`Geometry::im2col`] writes it, back onto the
    /// images it was unfolded from (the adjoint of `im2col`): `images` must arrive zeroed, as
    /// `in_pieces` hands its pieces over (zeroing them again here was a second `memset`).
    pub(super) fn col2im(&self, cols: &[f32], images: &mut [f32], taps: &Taps) {
        let count = images.len() / self.image_len();
        let (positions, width) = (self.positions(), cols.len() / self.patch_len());
        if self.is_pointwise() {
            return self.scatter(cols, images);
        }
        if self.shifts_rows() {
            // Each row is added onto the shifted phases in one run, its entries that read padding
            // masked to zero (they get no gradient). Unless the phases are the image itself,
            // the sums go to zeroed phases, whose interleaving then writes every pixel.
            let direct = self.stride == [1, 1] && count == 1;
            let mut scratch = if direct { Vec::new() } else { vec![0.0; images.len()] };
            let phases: &mut [f32] = if direct { images } else { &mut scratch };
            let rows = taps.rows(count, width, self.input[0] * self.input[1], phases.len());
            vectorized(
                #[inline(always)]
                || {
                    for (row, (dst, src, mask)) in cols.chunks(width).zip(rows) {
                        let values = phases[src].iter_mut().zip(&row[dst]).zip(mask);
                        values.for_each(|((d, s), m)| *d += f32::from_bits(s.to_bits() & m));
                    }
                },
            );
            if !direct {
                self.scatter(&scratch, images);
            }
            return;
        }
        if self.is_unpadded_unit() {
            return self.for_each_unpadded_run(count, width, |entries, values| {
                for (d, s) in images[values].iter_mut().zip(&cols[entries]) {
                    *d += *s;
                }
            });
        }
        let (wo, w, stride) = (self.output()[1], self.input[1], self.stride[1]);
        for (n, image) in images.chunks_mut(self.image_len()).enumerate() {
            self.for_each_row(|row, at, oh, j, valid| {
                let src = &cols[row * width + n * positions + oh * wo..][..wo];
                let first = self.input_at(1, valid.start, j);
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

    /// Whether the convolution reads no padding, at stride and dilation 1, as LeNet-5's conv2:
    /// every output row of a column-matrix row is one run of the image, copied whole.
    fn is_unpadded_unit(&self) -> bool {
        self.padding == [(0, 0), (0, 0)] && self.stride == [1, 1] && self.dilation == [1, 1]
    }

    /// Calls `f(entries, values)` for every output row of every column-matrix row of a group of
    /// `images` images (rows `width` values long) of an [`Geometry::is_unpadded_unit`]
    /// convolution: the row's entries and the run of image values they read. A plain loop: the
    /// general one's per-row bookkeeping cost more than copying LeNet's 10-value runs.
    #[inline(always)]
    fn for_each_unpadded_run(&self, images: usize, width: usize, mut f: impl FnMut(Range<usize>, Range<usize>)) {
        let ([h, w], [kh, kw], [ho, wo]) = (self.input, self.kernel, self.output());
        for n in 0..images {
            for c in 0..self.in_channels {
                let plane = (n * self.in_channels + c) * h * w;
                for i in 0..kh {
                    for j in 0..kw {
                        let row = ((c * kh + i) * kw + j) * width + n * ho * wo;
                        for oh in 0..ho {
                            let at = plane + (oh + i) * w + j;
                            f(row + oh * wo..row + (oh + 1) * wo, at..at + wo);
                        }
                    }
                }
            }
        }
    }
}

/// The kernel taps of a [`Geometry::shifts_rows`] convolution, in row-major order ([`Geometry::taps`]).
pub(super) struct Taps(Vec<Shift>);

/// Where a kernel tap of a [`Geometry::shifts_rows`] convolution reads a group's values.
struct Shift {
    /// Where the tap's stride phase starts in one image's channel ([`Geometry::by_phase`] puts
    /// the group's images end to end within each phase).
    phase: usize,
    /// The position in the phase that output position 0 reads (negative above or left of it).
    offset: isize,
    /// `u32::MAX` over the row's entries that read inside an image, 0 over those that read
    /// padding, as bits to AND with the values; a group of fewer images uses its start.
    mask: Vec<u32>,
}

impl Taps {
    /// For each column-matrix row of a group of `images` images (rows `width` values long, in
    /// order), over [`Geometry::by_phase`]'s `len` values with `plane` values per image and
    /// channel: the row's entries that read those values, the values they read, and the tap's
    /// mask over the entries. The entries left out read before the values or past their end,
    /// which is padding.
    #[inline(always)]
    fn rows(
        &self,
        images: usize,
        width: usize,
        plane: usize,
        len: usize,
    ) -> impl Iterator<Item = (Range<usize>, Range<usize>, &[u32])> + '_ {
        let Taps(taps) = self;
        (0..).map(move |k| {
            let (c, shift) = (k / taps.len(), &taps[k % taps.len()]);
            let start = (c * images * plane + shift.phase * images) as isize + shift.offset;
            let (dst, src) = clip(0..width, start..start + width as isize, len);
            (dst.clone(), src, &shift.mask[dst])
        })
    }
}

/// `dst` and `src` (equal lengths) cut to where `src` lies in `0..len`: the ends cut off read
/// padding.
fn clip(dst: Range<usize>, src: Range<isize>, len: usize) -> (Range<usize>, Range<usize>) {
    let start = src.start.clamp(0, len as isize);
    let end = src.end.clamp(start, len as isize);
    let skip = ((start - src.start) as usize).min(dst.len());
    let keep = ((end - src.start) as usize).clamp(skip, dst.len());
    (dst.start + skip..dst.start + keep, start as usize..start as usize + (keep - skip))
}
