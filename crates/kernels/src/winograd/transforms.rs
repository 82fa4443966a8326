//! The per-tile transforms of F(2x2, 3x3), each one pass over a whole plane's tiles: `Bᵀ·d·B` of
//! the input tiles, `Aᵀ·m·A` back to output tiles, and its adjoint `A·dy·Aᵀ` for the weight
//! gradient. Point `p` of tile `t` lives at `start + p·stride + t` of a points array, tiles in
//! row-major order, so that each point is a row of its GEMM.

use super::POINTS;
use crate::copy_short;

/// A plane, zero-padded by one pixel, as eight `[th + 1, tw]` arrays (`th`, `tw`: tile rows and
/// columns): for each parity of the padded row and each of the four columns a tile reads,
/// `arrays[parity][column][k][q]` is padded pixel `(2k + parity, 2q + column)`. Tile `(ti, q)` then
/// reads row `i` of its 4x4 window from arrays `i % 2` at position `(ti + i / 2, q)`: for a fixed
/// `i`, every tile's values lie in one contiguous run, so each step of the transform is one loop
/// over all the plane's tiles, long enough to vectorise. `even` and `odd` hold the plane's even
/// and odd columns (`[H, tw]`), `widened` the plane with even-length rows when its width is odd.
#[derive(Default)]
pub(super) struct Split {
    arrays: Vec<f32>,
    even: Vec<f32>,
    odd: Vec<f32>,
    widened: Vec<f32>,
}

/// How `Bᵀ` combines a tile's four rows `d`: row `a` is `d[i] + sign · d[j]`.
const B_T: [(usize, usize, f32); 4] = [(0, 2, -1.0), (1, 2, 1.0), (2, 1, -1.0), (1, 3, -1.0)];

/// Writes `V = Bᵀ · d · B` of every 4x4 tile `d` of `plane` (`[H, W]`, zero outside): point `p` of
/// tile `t` to `v[start + p·stride + t]`, tiles in row-major order.
#[inline(always)]
pub(super) fn transform_input(
    plane: &[f32],
    [h, w]: [usize; 2],
    split: &mut Split,
    v: &mut [f32],
    (start, stride): (usize, usize),
) {
    let (th, tw) = (h.div_ceil(2), w.div_ceil(2));
    let (tiles, len) = (th * tw, (th + 1) * tw);
    let Split { arrays, even, odd, widened } = split;
    // The columns are split in one pass over the whole plane: per row, the loop would be shorter
    // than the vectorised loop's body and run scalar.
    even.resize(h * tw, 0.0);
    odd.resize(h * tw, 0.0);
    deinterleave(even_rows(plane, [h, w], widened), even, odd);
    arrays.resize(8 * len, 0.0);
    for padded_row in 0..2 * th + 2 {
        let (parity, k) = (padded_row % 2, padded_row / 2);
        let row = padded_row.checked_sub(1).filter(|&r| r < h).map(|r| (&even[r * tw..][..tw], &odd[r * tw..][..tw]));
        for column in 0..4 {
            // Value q is the row's pixel 2q + column - 1.
            let dst = &mut arrays[(parity * 4 + column) * len + k * tw..][..tw];
            match (row, column) {
                (None, _) => dst.fill(0.0),
                (Some((_, odd)), 0) => {
                    dst[0] = 0.0;
                    copy_short(&mut dst[1..], &odd[..tw - 1]);
                }
                (Some((even, _)), 1) => copy_short(dst, even),
                (Some((_, odd)), 2) => copy_short(dst, odd),
                (Some((even, _)), _) => {
                    copy_short(&mut dst[..tw - 1], &even[1..]);
                    dst[tw - 1] = 0.0;
                }
            }
        }
    }
    let tile_row = |i: usize, column: usize| &arrays[((i % 2) * 4 + column) * len + (i / 2) * tw..][..tiles];
    let mut points = v[start..].chunks_mut(stride);
    let mut points: [&mut [f32]; POINTS] = std::array::from_fn(|_| &mut points.next().expect("16 points")[..tiles]);
    for (a, &(i, j, sign)) in B_T.iter().enumerate() {
        let [p0, p1, p2, p3] = &mut points[4 * a..4 * a + 4] else { unreachable!() };
        let rows = |column| (tile_row(i, column), tile_row(j, column));
        input_row(sign, [rows(0), rows(1), rows(2), rows(3)], [p0, p1, p2, p3]);
    }
}

/// `plane` (`[H, W]`) with rows of even length `2·⌈W/2⌉`: itself, or for an odd width a copy in
/// `widened`, each row ending in a zero.
#[inline(always)]
fn even_rows<'a>(plane: &'a [f32], [h, w]: [usize; 2], widened: &'a mut Vec<f32>) -> &'a [f32] {
    if w % 2 == 0 {
        return &plane[..h * w];
    }
    widened.resize(h * (w + 1), 0.0);
    for (dst, src) in widened.chunks_exact_mut(w + 1).zip(plane.chunks_exact(w)) {
        copy_short(&mut dst[..w], src);
        dst[w] = 0.0;
    }
    widened
}

/// One row `a` of `V` for every tile: the row of `Bᵀ · d` is `d_i + sign · d_j` (`rows[c]` holding
/// column `c` of rows `i` and `j`), then `B` across gives u0 - u2, u1 + u2, u2 - u1, u1 - u3. A
/// function of its own so that its outputs are known not to overlap its inputs.
#[inline(always)]
fn input_row(sign: f32, rows: [(&[f32], &[f32]); 4], [p0, p1, p2, p3]: [&mut [f32]; 4]) {
    let [(a0, b0), (a1, b1), (a2, b2), (a3, b3)] = rows;
    let n = p0.len();
    let (p1, p2, p3) = (&mut p1[..n], &mut p2[..n], &mut p3[..n]);
    let (a0, a1, a2, a3, b0, b1, b2, b3) =
        (&a0[..n], &a1[..n], &a2[..n], &a3[..n], &b0[..n], &b1[..n], &b2[..n], &b3[..n]);
    for t in 0..n {
        let (u0, u1) = (a0[t] + sign * b0[t], a1[t] + sign * b1[t]);
        let (u2, u3) = (a2[t] + sign * b2[t], a3[t] + sign * b3[t]);
        p0[t] = u0 - u2;
        p1[t] = u1 + u2;
        p2[t] = u2 - u1;
        p3[t] = u1 - u3;
    }
}

/// Writes `Aᵀ · m · A`, each tile's 2x2 outputs, into `plane` (`[H, W]`), with point `p` of tile
/// `t` at `m[start + p·stride + t]`; the tiles' parts past an odd side are dropped. `corners` is
/// scratch.
#[inline(always)]
pub(super) fn transform_output(
    m: &[f32],
    (start, stride): (usize, usize),
    plane: &mut [f32],
    [h, w]: [usize; 2],
    corners: &mut Vec<f32>,
) {
    let tw = w.div_ceil(2);
    let tiles = h.div_ceil(2) * tw;
    let mut points = m[start..].chunks(stride);
    let p: [&[f32]; POINTS] = std::array::from_fn(|_| &points.next().expect("16 points")[..tiles]);
    let [y00, y01, y10, y11, rows] = split_scratch(corners, tiles);
    output_tiles(p, [&mut *y00, &mut *y01, &mut *y10, &mut *y11]);
    // The top rows of all tiles, then the bottom rows, each interleaved in one pass.
    for (first, (left, right)) in [(0, (&*y00, &*y01)), (1, (&*y10, &*y11))] {
        interleave(rows, left, right);
        for (ti, row) in rows.chunks_exact(2 * tw).enumerate() {
            if let Some(dst) = plane.get_mut((2 * ti + first) * w..).and_then(|rest| rest.get_mut(..w)) {
                copy_short(dst, &row[..w]);
            }
        }
    }
}

/// Writes `A · dy · Aᵀ` of every 2x2 tile of `plane` (`[H, W]`, the output gradient; zero past an
/// odd side), the adjoint of [`transform_output`]: point `p` of tile `t` to
/// `m[start + p·stride + t]`. `corners` is scratch.
#[inline(always)]
pub(super) fn transform_output_gradient(
    plane: &[f32],
    [h, w]: [usize; 2],
    corners: &mut Vec<f32>,
    m: &mut [f32],
    (start, stride): (usize, usize),
) {
    let tw = w.div_ceil(2);
    let tiles = h.div_ceil(2) * tw;
    let [g00, g01, g10, g11, rows] = split_scratch(corners, tiles);
    for (first, (left, right)) in [(0, (&mut *g00, &mut *g01)), (1, (&mut *g10, &mut *g11))] {
        for (ti, row) in rows.chunks_exact_mut(2 * tw).enumerate() {
            match plane.get((2 * ti + first) * w..).and_then(|rest| rest.get(..w)) {
                Some(src) => {
                    copy_short(&mut row[..w], src);
                    row[w..].fill(0.0);
                }
                None => row.fill(0.0),
            }
        }
        deinterleave(rows, left, right);
    }
    let mut points = m[start..].chunks_mut(stride);
    let [p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13, p14, p15] =
        std::array::from_fn(|_| &mut points.next().expect("16 points")[..tiles]);
    // Column k of every tile's 4x4 result: `A` across makes a row `(l, r)` into l, l + r, l - r, -r.
    let corners = [&*g00, &*g01, &*g10, &*g11];
    output_gradient_column(|l, _| l, corners, [p0, p4, p8, p12]);
    output_gradient_column(|l, r| l + r, corners, [p1, p5, p9, p13]);
    output_gradient_column(|l, r| l - r, corners, [p2, p6, p10, p14]);
    output_gradient_column(|_, r| -r, corners, [p3, p7, p11, p15]);
}

/// One column of `A · dy · Aᵀ` for every tile, `dy` given by its four corners: `across` combines
/// a row's two values, then `A` down makes the top and bottom `(t, b)` into t, t + b, t - b, -b.
#[inline(always)]
fn output_gradient_column(
    across: impl Fn(f32, f32) -> f32,
    [g00, g01, g10, g11]: [&[f32]; 4],
    [p0, p1, p2, p3]: [&mut [f32]; 4],
) {
    let n = p0.len();
    let (g00, g01, g10, g11) = (&g00[..n], &g01[..n], &g10[..n], &g11[..n]);
    let (p1, p2, p3) = (&mut p1[..n], &mut p2[..n], &mut p3[..n]);
    for t in 0..n {
        let (top, bottom) = (across(g00[t], g01[t]), across(g10[t], g11[t]));
        p0[t] = top;
        p1[t] = top + bottom;
        p2[t] = top - bottom;
        p3[t] = -bottom;
    }
}

/// `scratch` as four `tiles`-long arrays, one per corner of a tile, and one of `2·tiles` for the
/// tiles' rows side by side.
#[inline(always)]
fn split_scratch(scratch: &mut Vec<f32>, tiles: usize) -> [&mut [f32]; 5] {
    scratch.resize(6 * tiles, 0.0);
    let (corners, rows) = scratch.split_at_mut(4 * tiles);
    let mut corners = corners.chunks_exact_mut(tiles);
    let mut next = || corners.next().expect("four corners");
    [next(), next(), next(), next(), rows]
}

/// `even[i] = src[2i]` and `odd[i] = src[2i + 1]`: a plain loop, which the compiler vectorises
/// with shuffles when it is long (it stayed scalar over 16-value rows).
#[inline(always)]
fn deinterleave(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
    for ((pair, e), o) in src.chunks_exact(2).zip(even.iter_mut()).zip(odd.iter_mut()) {
        *e = pair[0];
        *o = pair[1];
    }
}

/// `dst[2i] = even[i]` and `dst[2i + 1] = odd[i]`, the inverse of [`deinterleave`].
#[inline(always)]
fn interleave(dst: &mut [f32], even: &[f32], odd: &[f32]) {
    for ((pair, &e), &o) in dst.chunks_exact_mut(2).zip(even).zip(odd) {
        pair[0] = e;
        pair[1] = o;
    }
}

/// `Aᵀ · m · A` for every tile: `p[k]` holds point `k` of each tile, and the four outputs its
/// corners (top left, top right, bottom left, bottom right).
#[inline(always)]
fn output_tiles(p: [&[f32]; POINTS], [y00, y01, y10, y11]: [&mut [f32]; 4]) {
    let n = y00.len();
    let (y01, y10, y11) = (&mut y01[..n], &mut y10[..n], &mut y11[..n]);
    let p: [&[f32]; POINTS] = p.map(|p| &p[..n]);
    for t in 0..n {
        // Aᵀ down the columns: rows m0 + m1 + m2 and m1 - m2 - m3; then A across.
        let top: [f32; 4] = std::array::from_fn(|k| p[k][t] + p[4 + k][t] + p[8 + k][t]);
        let bottom: [f32; 4] = std::array::from_fn(|k| p[4 + k][t] - p[8 + k][t] - p[12 + k][t]);
        y00[t] = top[0] + top[1] + top[2];
        y01[t] = top[1] - top[2] - top[3];
        y10[t] = bottom[0] + bottom[1] + bottom[2];
        y11[t] = bottom[1] - bottom[2] - bottom[3];
    }
}
