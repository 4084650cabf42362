//! Windows as NumPy `.npy` files (format 1.0, little-endian f32, C order), so the Python reference
//! quantizer and this crate calibrate and score on exactly the same data. The format is a
//! 10-byte preamble and a Python-dict header; a dependency for it would pull in ndarray.

use std::io::Read;
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Why an `.npy` file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The file cannot be read or written.
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// The bytes are not a little-endian f32 C-order `.npy` array.
    #[error("{path} is not a float32 .npy array: {reason}")]
    Format { path: String, reason: String },
}

/// Writes `data` with `shape` atomically.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), NpyError> {
    let dims = shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
    let dims = if shape.len() == 1 { format!("{dims},") } else { dims };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    // Pad so the data starts on a 64-byte boundary, header ending with a newline (the format's rule).
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut bytes = Vec::with_capacity(unpadded + 64 + data.len() * 4);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    data.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
    crate::fsutil::write_atomic(path, &bytes)
        .map_err(|source| NpyError::Io { path: path.display().to_string(), source })
}

/// Reads a float32 array: its shape and values.
pub fn read_f32(path: &Path) -> Result<(Vec<usize>, Vec<f32>), NpyError> {
    let p = path.display().to_string();
    let bad = |reason: &str| NpyError::Format { path: p.clone(), reason: reason.to_string() };
    let mut f = std::fs::File::open(path).map_err(|source| NpyError::Io { path: p.clone(), source })?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(|source| NpyError::Io { path: p.clone(), source })?;
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("no .npy magic"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(bad(&format!("unsupported version {v}"))),
    };
    let header = bytes.get(start..start + header_len).ok_or_else(|| bad("truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
    if !header.contains("'descr': '<f4'") {
        return Err(bad("dtype is not little-endian float32 ('<f4')"));
    }
    if header.contains("'fortran_order': True") {
        return Err(bad("Fortran order"));
    }
    let shape_text = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split('(').nth(1))
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape"))?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad("shape is not whole numbers")))
        .collect::<Result<Vec<_>, _>>()?;
    let n: usize = shape.iter().product();
    let body = &bytes[start + header_len..];
    if body.len() != n * 4 {
        return Err(bad(&format!("{} data bytes for shape {shape:?} (expected {})", body.len(), n * 4)));
    }
    let data = body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok((shape, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_round_trip_and_the_header_is_aligned() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.npy");
        let data: Vec<f32> = (0..2 * 4 * 20).map(|i| i as f32 * 0.5 - 3.0).collect();
        write_f32(&p, &[2, 4, 20], &data).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!((bytes.len() - data.len() * 4) % 64, 0);
        assert_eq!(read_f32(&p).unwrap(), (vec![2, 4, 20], data));
        write_f32(&p, &[3], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(read_f32(&p).unwrap(), (vec![3], vec![1.0, 2.0, 3.0]));
    }

    #[test]
    fn other_files_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npy");
        std::fs::write(&p, b"not numpy at all").unwrap();
        assert!(read_f32(&p).unwrap_err().to_string().contains("no .npy magic"));
        write_f32(&p, &[2], &[1.0, 2.0]).unwrap();
        let len = std::fs::read(&p).unwrap().len();
        std::fs::write(&p, &std::fs::read(&p).unwrap()[..len - 1]).unwrap();
        assert!(read_f32(&p).unwrap_err().to_string().contains("data bytes"));
        write_f32(&p, &[2], &[1.0, 2.0]).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        let at = bytes.windows(3).position(|w| w == b"<f4").unwrap() + 2;
        bytes[at] = b'8';
        std::fs::write(&p, &bytes).unwrap();
        assert!(read_f32(&p).unwrap_err().to_string().contains("float32"));
    }
}
