//! The one error type of the core: small, `Copy`, and without strings, so firmware can log it.

/// Why a core operation refused its input. Every public training, inference and decomposition
/// function returns it instead of panicking; when it does, the model's weights are unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// An input, target, weight, gradient or loss was NaN or infinite.
    NonFinite,
    /// det R <= 0: no product of near-identity factors (each with det > 0) can equal R.
    NonPositiveDeterminant,
    /// The matrix is numerically singular (its smallest singular value is zero at this precision).
    Singular,
    /// An iterative solver (SVD, Schur form, Newton) did not converge.
    NoConvergence,
    /// A value would leave its format's range: a fixed-point value (inputs outside a declared
    /// range, or a result that would saturate where saturation is not allowed), or a float
    /// result of finite input above T::MAX (a singular value, a determinant, a solution).
    Overflow,
    /// A hyper-parameter, size or index is out of its documented range.
    OutOfRange,
    /// A model file could not be read or written: the reason says which part ([`FileError`]).
    File(FileError),
    /// Checkpoint storage failed: the flash, its geometry or what was read back ([`FlashError`]).
    Flash(FlashError),
}

/// Why a checkpoint could not be saved or restored ([`crate::checkpoint`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FlashError {
    /// The flash geometry or the region does not fit: sizes that are zero, not powers of two or
    /// above the largest word supported, a region not aligned to the erase size or outside
    /// 32-bit offsets, or too small for two erase blocks of this checkpoint.
    Layout,
    /// A read failed; nothing was written into the network, the velocity or the payload.
    Read,
    /// A read failed while copying a verified checkpoint into the network: the network,
    /// velocity and payload are partly overwritten (restore again, or start afresh).
    ReadDuringCopy,
    /// A write failed; the checkpoint was not committed, the newest valid one is untouched.
    Write,
    /// An erase failed; the newest valid checkpoint is untouched.
    Erase,
    /// What was read back after writing is not what was written (a write that did not take,
    /// or a region that was not erased); the checkpoint was not committed.
    Verify,
}

/// What is wrong with a model file ([`crate::file`]), or why one cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FileError {
    /// It does not start with the model file's magic bytes: not a model file.
    Magic,
    /// A version of the format this build does not read.
    Version,
    /// Its number format (f32, f64, Q16.16, Q4.12) is not the network's.
    Format,
    /// Its architecture (kind, widths, depth, which layers) is not the network's.
    Shape,
    /// Its activation is not the network's.
    Activation,
    /// An unknown loss code.
    Loss,
    /// Shorter or longer than its header says: truncated, or not one file.
    Length,
    /// The checksum does not match: the file was corrupted.
    Crc,
    /// The buffer to write into is smaller than the file.
    BufferTooSmall,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::NonFinite => "a value was NaN or infinite",
            Error::NonPositiveDeterminant => {
                "det <= 0: no real factorisation into near-identity factors exists"
            }
            Error::Singular => "the matrix is numerically singular",
            Error::NoConvergence => "the solver did not converge",
            Error::Overflow => "a value would leave its format's range",
            Error::OutOfRange => "a parameter, size or index is out of range",
            Error::File(e) => match e {
                FileError::Magic => "not a nearid model file (wrong magic bytes)",
                FileError::Version => "a model file version this build does not read",
                FileError::Format => "the model file's number format is not the network's",
                FileError::Shape => "the model file's architecture is not the network's",
                FileError::Activation => "the model file's activation is not the network's",
                FileError::Loss => "the model file names an unknown loss",
                FileError::Length => "the model file is truncated or has extra bytes",
                FileError::Crc => "the model file's checksum does not match: it is corrupted",
                FileError::BufferTooSmall => "the buffer is too small for the model file",
            },
            Error::Flash(e) => match e {
                FlashError::Layout => "the flash geometry or region cannot hold two checkpoints",
                FlashError::Read => "a flash read failed",
                FlashError::ReadDuringCopy => {
                    "a flash read failed while restoring: the network is partly overwritten"
                }
                FlashError::Write => "a flash write failed: the checkpoint was not committed",
                FlashError::Erase => "a flash erase failed",
                FlashError::Verify => "the flash did not read back what was written",
            },
        })
    }
}

impl core::error::Error for Error {}

/// Result with the core's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;
