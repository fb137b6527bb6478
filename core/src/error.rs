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
        })
    }
}

impl core::error::Error for Error {}

/// Result with the core's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;
