//! NumPy's `.npz` files: a zip archive of `.npy` members, as `numpy.savez` (stored) and
//! `numpy.savez_compressed` (deflated) write them and `numpy.load` reads them. Model files
//! ([`crate::network`]) and data files ([`crate::table`]) are `.npz`.
//!
//! The archive is read by the `zip` crate from bytes already in memory (at most the caller's
//! limit, read from the file with a bound); every member by our own `.npy` reader ([`npy`]).
//! Nothing is allocated from a size the file declares before it is checked against that limit:
//! a member declaring more than the bytes left in the budget is refused before it is inflated,
//! and inflating stops one byte past the declared size, so a deflate bomb cannot fill memory.
//! Each problem is one line naming the file and, where there is one, the member.

use crate::matrix_file::FileError;
use crate::npy;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

/// The most members read: a model of depth 32 has 4 x 32 + 5 (plenty of room for depth 64 and
/// a few extra entries); a crafted central directory of millions of empty names is refused.
pub const MAX_MEMBERS: usize = 1024;

/// A `.npz` file in memory: its members' names (without `.npy`) and `.npy` bytes, in the
/// archive's order.
#[derive(Debug, Clone)]
pub struct Npz {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// (name, bytes of the `.npy` member).
    pub members: Vec<(String, Vec<u8>)>,
}

fn error(path: &Path, problem: impl Into<String>) -> FileError {
    FileError {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// The bytes of `path`, at most `limit` (`what` says what the limit is for, in the message).
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, FileError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(|e| error(path, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(error(
            path,
            format!("larger than {} MiB, the limit for {what}", limit >> 20),
        ));
    }
    Ok(bytes)
}

impl Npz {
    /// Reads `path` (at most `limit` bytes on disk and `limit` bytes inflated, all members
    /// together).
    pub fn read(path: &Path, limit: u64) -> Result<Npz, FileError> {
        let bytes = read_bounded(path, limit, "a .npz file")?;
        Npz::parse(path, &bytes, limit)
    }

    /// Reads the archive in `bytes` (named `path` in messages), inflating at most `limit`
    /// bytes in all.
    pub fn parse(path: &Path, bytes: &[u8], limit: u64) -> Result<Npz, FileError> {
        let zip_error = |e: zip::result::ZipError| match e {
            zip::result::ZipError::Io(e) => format!("not a .npz file (a zip archive): {e}"),
            e => format!("not a readable .npz file: {e}"),
        };
        if bytes.is_empty() {
            return Err(error(path, "empty file (not a .npz file)"));
        }
        let mut archive =
            zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| error(path, zip_error(e)))?;
        if archive.len() > MAX_MEMBERS {
            return Err(error(
                path,
                format!(
                    "{} members, more than the {MAX_MEMBERS} read",
                    archive.len()
                ),
            ));
        }
        let mut budget = limit;
        let mut members = Vec::with_capacity(archive.len());
        for i in 0..archive.len() {
            let mut file = archive.by_index(i).map_err(|e| error(path, zip_error(e)))?;
            let raw_name = file
                .name()
                .map(|n| n.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(file.name_raw()).into_owned());
            let shown = npy::shorten(&raw_name);
            if file.is_dir() {
                return Err(error(
                    path,
                    format!("member '{shown}' is a directory (only .npy members are read)"),
                ));
            }
            let Some(name) = raw_name.strip_suffix(".npy") else {
                return Err(error(
                    path,
                    format!("member '{shown}' is not a .npy file (only .npy members are read)"),
                ));
            };
            let declared = file.size();
            if declared > budget {
                return Err(error(
                    path,
                    format!(
                        "member '{shown}' declares {declared} bytes, more than the {} MiB read \
                         from one .npz file",
                        limit >> 20
                    ),
                ));
            }
            // Capacity from the declared size, which is within the budget; reading stops one
            // byte past it.
            let mut data = Vec::with_capacity(declared as usize);
            (&mut file)
                .take(declared + 1)
                .read_to_end(&mut data)
                .map_err(|e| error(path, format!("member '{shown}': {e}")))?;
            if data.len() as u64 != declared {
                return Err(error(
                    path,
                    format!(
                        "member '{shown}' holds {} bytes, but its header declares {declared}",
                        data.len()
                    ),
                ));
            }
            budget -= declared;
            if members.iter().any(|(n, _): &(String, Vec<u8>)| n == name) {
                return Err(error(path, format!("member '{shown}' appears twice")));
            }
            members.push((name.to_owned(), data));
        }
        Ok(Npz {
            path: path.to_path_buf(),
            members,
        })
    }

    /// The `.npy` bytes of member `name`, if present.
    pub fn member(&self, name: &str) -> Option<&[u8]> {
        self.members
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
    }

    /// The error "FILE: member 'NAME': problem".
    pub fn member_error(&self, name: &str, problem: impl std::fmt::Display) -> FileError {
        error(
            &self.path,
            format!("member '{}': {problem}", npy::shorten(name)),
        )
    }

    /// The error "FILE: problem".
    pub fn error(&self, problem: impl Into<String>) -> FileError {
        error(&self.path, problem)
    }

    /// Member `name` read as a numeric array; `Ok(None)` if absent.
    pub fn array(&self, name: &str) -> Result<Option<npy::Array>, FileError> {
        self.member(name)
            .map(|b| npy::parse_array(b).map_err(|p| self.member_error(name, p)))
            .transpose()
    }
}

/// The bytes of a `.npz` archive of stored (uncompressed) members, as `numpy.savez` writes
/// it: each (name, `.npy` bytes) becomes member `name.npy`.
pub fn npz_bytes(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    for (name, bytes) in members {
        // Writing to memory cannot fail but for sizes beyond 4 GiB, which no model has.
        let ok =
            zip.start_file(format!("{name}.npy"), options).is_ok() && zip.write_all(bytes).is_ok();
        debug_assert!(ok, "writing {name} to memory");
    }
    zip.finish().map(Cursor::into_inner).unwrap_or_default()
}

/// Writes a `.npz` archive ([`npz_bytes`]) to `path`.
pub fn write(path: &Path, members: &[(String, Vec<u8>)]) -> Result<(), FileError> {
    std::fs::write(path, npz_bytes(members)).map_err(|e| error(path, format!("cannot write: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let members = vec![
            ("a.b".to_string(), npy::f32_array_bytes(&[2], &[1.0, 2.0])),
            ("config".to_string(), npy::text_bytes("{}")),
        ];
        let bytes = npz_bytes(&members);
        let path = Path::new("m.npz");
        let npz = Npz::parse(path, &bytes, 1 << 20).unwrap();
        assert_eq!(npz.members, members);
        assert_eq!(npz.array("a.b").unwrap().unwrap().values, vec![1.0, 2.0]);
        assert_eq!(
            npy::parse_text(npz.member("config").unwrap()).unwrap(),
            "{}"
        );
        // A budget smaller than the members: refused before inflating.
        let e = Npz::parse(path, &bytes, 100).unwrap_err();
        assert!(e.problem.contains("declares"), "{e}");
        // Cut anywhere: an error, never a panic.
        for n in 0..bytes.len() {
            let _ = Npz::parse(path, &bytes[..n], 1 << 20);
        }
    }
}
