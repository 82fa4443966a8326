//! The IDX format of the MNIST family (LeCun's `*-idx3-ubyte` and `*-idx1-ubyte` files), raw or
//! gzip-compressed.
//!
//! Layout: two zero bytes, a type byte (0x08 for unsigned bytes, the only type these datasets
//! use), the number of dimensions, one big-endian `u32` per dimension, then the data.

use std::io::Read;
use std::path::Path;

use crate::DataError;

const UBYTE: u8 = 0x08;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// No MNIST-family file decompresses to more than ~50 MB; the cap stops a corrupt or hostile
/// gzip stream from exhausting memory.
const MAX_DECOMPRESSED: u64 = 1 << 30;

/// Images read from an IDX3 file: `count` images of `rows * cols` bytes, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count * rows * cols` pixel bytes.
    pub pixels: Vec<u8>,
}

/// Read a file, decompressing it when it starts with the gzip magic bytes.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 4);
    flate2::read::GzDecoder::new(&raw[..])
        .take(MAX_DECOMPRESSED)
        .read_to_end(&mut out)
        .map_err(|e| DataError::invalid(path, format!("corrupt gzip stream: {e}")))?;
    Ok(out)
}

/// Parse the header and check that exactly the announced number of bytes follow it.
fn parse(path: &Path, bytes: &[u8], want_dims: usize) -> Result<(Vec<usize>, usize), DataError> {
    if bytes.len() < 4 {
        return Err(DataError::invalid(path, format!("truncated: {} bytes, not even an IDX header", bytes.len())));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(DataError::invalid(path, format!("wrong magic number 0x{magic:08x}: not an IDX file")));
    }
    if bytes[2] != UBYTE {
        return Err(DataError::invalid(
            path,
            format!("wrong magic number 0x{magic:08x}: element type 0x{:02x}, expected 0x08 (unsigned byte)", bytes[2]),
        ));
    }
    let ndims = bytes[3] as usize;
    if ndims != want_dims {
        return Err(DataError::invalid(
            path,
            format!("wrong magic number 0x{magic:08x}: {ndims} dimensions, expected {want_dims}"),
        ));
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(DataError::invalid(path, format!("truncated header: {} of {header} bytes", bytes.len())));
    }
    let dims: Vec<usize> =
        (0..ndims).map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize).collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let data = bytes.len() - header;
    match expected {
        Some(n) if n == data => Ok((dims, header)),
        Some(n) if n > data => Err(DataError::invalid(
            path,
            format!("truncated: header announces {dims:?} = {n} data bytes, file has {data}"),
        )),
        Some(n) => Err(DataError::invalid(
            path,
            format!("{} unexpected trailing bytes after the {n} announced by header {dims:?}", data - n),
        )),
        None => Err(DataError::invalid(path, format!("dimensions {dims:?} overflow"))),
    }
}

/// Parse IDX3 image bytes (already decompressed); `path` is only used in errors.
pub fn parse_images(path: &Path, bytes: &[u8]) -> Result<IdxImages, DataError> {
    let (dims, header) = parse(path, bytes, 3)?;
    if dims[1] == 0 || dims[2] == 0 {
        return Err(DataError::invalid(path, format!("images of size {}x{}", dims[1], dims[2])));
    }
    Ok(IdxImages { count: dims[0], rows: dims[1], cols: dims[2], pixels: bytes[header..].to_vec() })
}

/// Parse IDX1 label bytes and check every label is below `num_classes`.
pub fn parse_labels(path: &Path, bytes: &[u8], num_classes: usize) -> Result<Vec<u8>, DataError> {
    let (_, header) = parse(path, bytes, 1)?;
    let labels = &bytes[header..];
    if let Some((i, &label)) = labels.iter().enumerate().find(|(_, l)| **l as usize >= num_classes) {
        return Err(DataError::invalid(
            path,
            format!("label {label} at index {i} is out of range (expected 0..{num_classes})"),
        ));
    }
    Ok(labels.to_vec())
}

/// Read an IDX3 image file (raw or `.gz`).
pub fn read_images(path: &Path) -> Result<IdxImages, DataError> {
    parse_images(path, &read_maybe_gz(path)?)
}

/// Read an IDX1 label file (raw or `.gz`), checking the label range.
pub fn read_labels(path: &Path, num_classes: usize) -> Result<Vec<u8>, DataError> {
    parse_labels(path, &read_maybe_gz(path)?, num_classes)
}

/// Encode images as IDX3 bytes (used by tests and tools that write datasets).
pub fn encode_images(images: &IdxImages) -> Vec<u8> {
    let mut out = vec![0, 0, UBYTE, 3];
    for d in [images.count, images.rows, images.cols] {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(&images.pixels);
    out
}

/// Encode labels as IDX1 bytes.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, UBYTE, 1];
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn images() -> IdxImages {
        IdxImages { count: 2, rows: 2, cols: 3, pixels: (0..12).collect() }
    }

    fn err(result: Result<impl std::fmt::Debug, DataError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn round_trip() {
        let p = Path::new("x");
        assert_eq!(parse_images(p, &encode_images(&images())).unwrap(), images());
        assert_eq!(parse_labels(p, &encode_labels(&[0, 9, 3]), 10).unwrap(), vec![0, 9, 3]);
    }

    #[test]
    fn reads_gzip_and_raw_files() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("a-idx3-ubyte");
        std::fs::write(&raw, encode_images(&images())).unwrap();
        let gz = dir.path().join("a-idx3-ubyte.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&encode_images(&images())).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        assert_eq!(read_images(&raw).unwrap(), images());
        assert_eq!(read_images(&gz).unwrap(), images());
    }

    #[test]
    fn rejects_wrong_magic() {
        let p = Path::new("train-images");
        let mut bytes = encode_images(&images());
        bytes[0] = 0x12;
        assert!(err(parse_images(p, &bytes)).contains("wrong magic number 0x12000803"));
        // A label file where images are expected: one dimension instead of three.
        let labels = encode_labels(&[1, 2]);
        let msg = err(parse_images(p, &labels));
        assert!(msg.starts_with("train-images: wrong magic") && msg.contains("1 dimensions, expected 3"), "{msg}");
        let mut float = encode_images(&images());
        float[2] = 0x0d;
        assert!(err(parse_images(p, &float)).contains("element type 0x0d"));
    }

    #[test]
    fn rejects_truncated_and_trailing_data() {
        let p = Path::new("f");
        let bytes = encode_images(&images());
        assert!(
            err(parse_images(p, &bytes[..bytes.len() - 1]))
                .contains("truncated: header announces [2, 2, 3] = 12 data bytes, file has 11")
        );
        assert!(err(parse_images(p, &bytes[..10])).contains("truncated header"));
        assert!(err(parse_images(p, &bytes[..2])).contains("not even an IDX header"));
        let mut long = bytes.clone();
        long.push(0);
        assert!(err(parse_images(p, &long)).contains("1 unexpected trailing bytes"));
    }

    #[test]
    fn rejects_labels_out_of_range() {
        let msg = err(parse_labels(Path::new("l"), &encode_labels(&[0, 1, 10]), 10));
        assert_eq!(msg, "l: label 10 at index 2 is out of range (expected 0..10)");
    }

    #[test]
    fn rejects_corrupt_gzip_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("bad.gz");
        std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]).unwrap();
        assert!(err(read_images(&gz)).contains("corrupt gzip stream"));
        let missing = dir.path().join("missing");
        assert!(err(read_images(&missing)).contains("cannot read"));
    }
}
