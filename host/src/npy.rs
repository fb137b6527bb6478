//! Just enough of NumPy's `.npy` format (versions 1-3) and of CSV for the command-line tool:
//! read a 2-D float or integer array, write an (M, D, D) little-endian f64 array.

use nalgebra::DMatrix;
use std::path::{Path, PathBuf};

/// A file the tool could not use, and why: shown as "FILE: problem".
#[derive(Debug, Clone, PartialEq)]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

impl std::error::Error for FileError {}

fn error(path: &Path, problem: impl Into<String>) -> FileError {
    FileError {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// Read a matrix from `.npy` (by extension) or CSV (anything else): comma-, semicolon- or
/// whitespace-separated numbers, one row per line; blank lines and lines starting with `#` are
/// skipped.
pub fn read_matrix(path: &Path) -> Result<DMatrix<f64>, FileError> {
    let bytes = std::fs::read(path).map_err(|e| error(path, format!("cannot read: {e}")))?;
    let is_npy = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if is_npy {
        parse_npy(&bytes).map_err(|p| error(path, p))
    } else {
        let text = String::from_utf8(bytes).map_err(|_| {
            error(
                path,
                "not UTF-8 text (CSV expected; use .npy for NumPy files)",
            )
        })?;
        parse_csv(&text).map_err(|p| error(path, p))
    }
}

/// Parse CSV text into a matrix.
pub fn parse_csv(text: &str) -> Result<DMatrix<f64>, String> {
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let row = line
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<f64>()
                    .map_err(|_| format!("line {}: {s:?} is not a number", n + 1))
            })
            .collect::<Result<Vec<f64>, String>>()?;
        if let Some(first) = rows.first()
            && first.len() != row.len()
        {
            return Err(format!(
                "line {}: {} values, but the first row has {}",
                n + 1,
                row.len(),
                first.len()
            ));
        }
        rows.push(row);
    }
    let cols = rows.first().map_or(0, Vec::len);
    if rows.is_empty() || cols == 0 {
        return Err("no numbers found".into());
    }
    Ok(DMatrix::from_fn(rows.len(), cols, |i, j| rows[i][j]))
}

/// Parse the bytes of a `.npy` file holding a 2-D array of f8/f4/i8/i4 (either byte order,
/// C or Fortran order).
pub fn parse_npy(bytes: &[u8]) -> Result<DMatrix<f64>, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(format!("unsupported .npy version {major}")),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let descr = field(header, "descr").ok_or("header has no 'descr'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = field(header, "fortran_order")
        .ok_or("header has no 'fortran_order'")?
        .starts_with("True");
    let shape = field(header, "shape").ok_or("header has no 'shape'")?;
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("bad shape {shape}")))
        .collect::<Result<_, _>>()?;
    let (rows, cols) = match dims[..] {
        [r, c] => (r, c),
        _ => return Err(format!("a 2-D array is needed, found shape {shape}")),
    };
    let little = !descr.starts_with('>');
    let kind = descr.trim_start_matches(['<', '>', '=', '|']);
    let size = match kind {
        "f8" | "i8" => 8,
        "f4" | "i4" => 4,
        _ => {
            return Err(format!(
                "dtype {descr} not supported (use float64, float32, int64 or int32)"
            ));
        }
    };
    let count = rows.checked_mul(cols).ok_or("shape too large")?;
    let data = &bytes[start + header_len..];
    if data.len() != count * size {
        return Err(format!(
            "{} data bytes for shape ({rows}, {cols}) of {descr}: expected {}",
            data.len(),
            count * size
        ));
    }
    let values: Vec<f64> = data
        .chunks_exact(size)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..size].copy_from_slice(c);
            if !little {
                b[..size].reverse();
            }
            match kind {
                "f8" => f64::from_le_bytes(b),
                "i8" => i64::from_le_bytes(b) as f64,
                "f4" => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
                _ => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            }
        })
        .collect();
    Ok(if fortran {
        DMatrix::from_column_slice(rows, cols, &values)
    } else {
        DMatrix::from_row_slice(rows, cols, &values)
    })
}

/// The text after `'key':` in a header dict, up to the next top-level comma.
fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[at + key.len() + 2..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')').map(|i| i + 1)?
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

/// The bytes of a `.npy` (version 1.0) file holding `matrices` as one little-endian f64 array of
/// shape (M, D, D), C order: element [i, r, c] is row r, column c of matrix i.
pub fn npy_bytes(matrices: &[DMatrix<f64>], d: usize) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, {d}, {d}), }}",
        matrices.len()
    );
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + matrices.len() * d * d * 8);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for m in matrices {
        for r in 0..d {
            for c in 0..d {
                out.extend_from_slice(&m[(r, c)].to_le_bytes());
            }
        }
    }
    out
}

/// Parse an (M, D, D) f64 array written by [`npy_bytes`] back (for tests and round trips).
pub fn parse_npy_stack(bytes: &[u8]) -> Result<Vec<DMatrix<f64>>, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file".into());
    }
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(bytes.get(10..10 + header_len).ok_or("truncated")?)
        .map_err(|_| "header is not text")?;
    let shape = field(header, "shape").ok_or("no shape")?;
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| "bad shape".to_string()))
        .collect::<Result<_, _>>()?;
    let [m, d, d2] = dims[..] else {
        return Err(format!("3-D shape expected, found {shape}"));
    };
    if d != d2 {
        return Err("matrices are not square".into());
    }
    let data = &bytes[10 + header_len..];
    if data.len() != m * d * d * 8 {
        return Err("wrong data length".into());
    }
    let values: Vec<f64> = data
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    Ok(values
        .chunks_exact((d * d).max(1))
        .take(m)
        .map(|c| DMatrix::from_row_slice(d, d, c))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let a = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
        let b = -a.clone();
        let bytes = npy_bytes(&[a.clone(), b.clone()], 2);
        assert_eq!((bytes.len() - 128) % 8, 0);
        assert_eq!(parse_npy_stack(&bytes).unwrap(), vec![a.clone(), b]);
        // A 2-D file as NumPy writes it.
        let mut two = npy_bytes(std::slice::from_ref(&a), 2);
        let text = String::from_utf8_lossy(&two[10..]).replace("(1, 2, 2)", "(2, 2)   ");
        two.truncate(10);
        two.extend_from_slice(text.as_bytes());
        // (the data bytes were not UTF-8-safe to round-trip; rebuild them)
        let header_len = u16::from_le_bytes([two[8], two[9]]) as usize;
        two.truncate(10 + header_len);
        for v in [1.0f64, 2.0, 3.0, 4.0] {
            two.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(parse_npy(&two).unwrap(), a);
        assert!(parse_npy(b"hello").unwrap_err().contains("magic"));
        assert_eq!(parse_csv("1, 2\n3 4\n").unwrap(), a);
        assert!(parse_csv("1, 2\n3\n").unwrap_err().contains("line 2"));
        assert!(parse_csv("1, x\n").unwrap_err().contains("not a number"));
        assert!(parse_csv("# nothing\n").is_err());
    }
}
