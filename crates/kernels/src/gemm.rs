//! A safe, bounds-checked front for `gemm::gemm` on row-major `f32` matrices.

/// A row-major matrix view, optionally read transposed.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    /// Values between the starts of two rows: `cols`, or more for a matrix interleaved with others.
    row_stride: usize,
    transposed: bool,
}

impl<'a> Mat<'a> {
    /// `data` holds `rows x cols` in row-major order.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "matrix of {rows}x{cols} over {} values", data.len());
        Self { data, rows, cols, row_stride: cols, transposed: false }
    }

    /// `rows x cols` whose row `i` is `data[i·row_stride..][..cols]`.
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        assert!(cols <= row_stride, "rows of {cols} values {row_stride} apart overlap");
        let end = if rows == 0 || cols == 0 { 0 } else { (rows - 1) * row_stride + cols };
        assert!(end <= data.len(), "matrix of {rows}x{cols}, rows {row_stride} apart, over {} values", data.len());
        Self { data, rows, cols, row_stride, transposed: false }
    }

    /// The transpose, without copying.
    pub fn t(self) -> Self {
        Self { transposed: !self.transposed, ..self }
    }

    /// Rows and columns as read.
    fn shape(&self) -> (usize, usize) {
        if self.transposed { (self.cols, self.rows) } else { (self.rows, self.cols) }
    }

    /// Rows as read.
    pub fn rows(&self) -> usize {
        self.shape().0
    }

    /// Columns as read.
    pub fn cols(&self) -> usize {
        self.shape().1
    }

    /// Column and row strides as read.
    fn strides(&self) -> (isize, isize) {
        let stride = self.row_stride as isize;
        if self.transposed { (stride, 1) } else { (1, stride) }
    }
}

/// `dst = a · b`, or `dst += a · b` when `accumulate`; `dst` is row-major `[a rows, b cols]`.
///
/// `threads`: 1 runs on the calling thread (callers parallelise over images, where the work
/// splits evenly); 0 lets the product use every rayon thread.
pub fn matmul(a: Mat, b: Mat, dst: &mut [f32], accumulate: bool, threads: usize) {
    let (m, k) = a.shape();
    let (k2, n) = b.shape();
    assert_eq!(k, k2, "inner dimensions {k} and {k2} differ");
    assert_eq!(dst.len(), m * n, "destination of {} values for a {m}x{n} product", dst.len());
    let (a_cs, a_rs) = a.strides();
    let (b_cs, b_rs) = b.strides();
    // SAFETY: the asserts above and in `Mat::new` and `Mat::strided` make every index the strides
    // reach lie inside its slice (a: m x k, b: k x n, dst: m x n), and `dst` is borrowed mutably,
    // so no alias.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a_cs,
            a_rs,
            b.data.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            if threads == 1 { gemm::Parallelism::None } else { gemm::Parallelism::Rayon(threads) },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        out
    }

    fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        (0..cols).flat_map(|c| (0..rows).map(move |r| x[r * cols + c])).collect()
    }

    #[test]
    fn products_and_transposes_match_the_definition() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let mut got = vec![0.0; m * n];
        matmul(Mat::new(&a, m, k), Mat::new(&b, k, n), &mut got, false, 1);
        assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-5));

        let (at, bt) = (transpose(&a, m, k), transpose(&b, k, n));
        let mut again = vec![1.0; m * n];
        matmul(Mat::new(&at, k, m).t(), Mat::new(&bt, n, k).t(), &mut again, true, 0);
        assert!(again.iter().zip(&want).all(|(g, w)| (g - w - 1.0).abs() < 1e-5), "accumulates onto dst");
    }

    #[test]
    fn strided_rows_skip_the_values_between_them() {
        // Two 2x3 matrices interleaved row by row in one 4x3 array: rows 0 and 2, rows 1 and 3.
        let both: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let ones = [1.0; 3];
        for (first, want) in [(0, [3.0, 21.0]), (3, [12.0, 30.0])] {
            let mut got = [0.0; 2];
            matmul(Mat::strided(&both[first..], 2, 3, 6), Mat::new(&ones, 3, 1), &mut got, false, 1);
            assert_eq!(got, want);
        }
        // Transposed: columns of the 2x3 matrix at rows 0 and 2 summed.
        let mut got = [0.0; 3];
        matmul(Mat::strided(&both, 2, 3, 6).t(), Mat::new(&[1.0, 1.0], 2, 1), &mut got, false, 1);
        assert_eq!(got, [6.0, 8.0, 10.0]);
    }

    #[test]
    #[should_panic(expected = "rows 6 apart, over 8 values")]
    fn a_strided_matrix_past_its_slice_panics() {
        Mat::strided(&[0.0; 8], 2, 3, 6);
    }

    #[test]
    #[should_panic(expected = "inner dimensions")]
    fn mismatched_shapes_panic_before_any_pointer_is_read() {
        let a = [0.0; 6];
        matmul(Mat::new(&a, 2, 3), Mat::new(&a, 2, 3), &mut [0.0; 9], false, 1);
    }
}
