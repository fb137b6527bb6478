//! A matrix from a file, as the command-line tool reads it: `.npy` when the file starts with
//! NumPy's magic or is named `*.npy`, CSV text otherwise; at most [`MAX_FILE_BYTES`] are read.

use crate::{csv, npy};
use nalgebra::DMatrix;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest file read. The tool factorises D x D matrices with D <= 16: a float64 `.npy` of
/// one is 2,176 bytes and a CSV of one at full precision about 7 KB, so 1 MiB leaves room for
/// comments while a wrong path (a disk image, `/dev/zero`) is refused after reading 1 MiB
/// instead of being read whole.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

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

/// Read a matrix from `path` (see the module doc for the formats).
pub fn read_matrix(path: &Path) -> Result<DMatrix<f64>, FileError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| error(path, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(error(
            path,
            "larger than 1 MiB, far more than a matrix of D <= 16 needs",
        ));
    }
    let is_npy = bytes.starts_with(npy::MAGIC)
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if is_npy {
        npy::parse_npy(&bytes).map_err(|p| error(path, p))
    } else {
        let text = String::from_utf8(bytes).map_err(|_| {
            error(
                path,
                "not UTF-8 text (CSV expected; use .npy for NumPy files)",
            )
        })?;
        csv::parse_csv(&text).map_err(|p| error(path, p))
    }
}
