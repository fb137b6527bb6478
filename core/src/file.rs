//! The model file (`.nid`): a network's architecture and every parameter, in one little-endian
//! byte layout that the device and the desktop read alike, without a heap.
//!
//! [`save`] writes into a caller's `&mut [u8]` ([`file_bytes`] says how many bytes), [`load`]
//! reads from `&[u8]` (a firmware can start from `include_bytes!("model.nid")`). A wrong magic,
//! version, format, shape, length or checksum is an [`Error::File`] naming which, and a failed
//! load leaves the network untouched: everything is checked before the first parameter is
//! written.
//!
//! ## Layout (version 1)
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 4 | magic `NRID` |
//! | 4 | 2 | version, 1 |
//! | 6 | 1 | number format: 1 f32, 2 f64, 3 Q16.16 (i32 raw), 4 Q4.12 (i16 raw) |
//! | 7 | 1 | activation: 1 ReLU, 2 tanh, 3 softplus, 4 identity (0 for a linear network) |
//! | 8 | 1 | loss it was trained with: 1 quadratic, 2 softmax cross-entropy |
//! | 9 | 1 | kind: 1 residual network ([`crate::ResNet`], [`crate::Net`]), 2 linear residual network ([`crate::LinearResNet`]) |
//! | 10 | 1 | layers: bit 0 an input layer, bit 1 an output layer (else the identity) |
//! | 11 | 1 | reserved, 0 |
//! | 12 | 2 | D_in, inputs |
//! | 14 | 2 | D, the blocks' width |
//! | 16 | 2 | H, hidden width (0 for a linear network) |
//! | 18 | 2 | M, blocks or factors |
//! | 20 | 2 | m <= M, blocks in use (a network that grows runs the first m; M otherwise) |
//! | 22 | 2 | D_out, outputs |
//! | 24 | n | the parameters, in the network's order ([`crate::Trainable::visit`]), each matrix column-major: the input layer's W (D, D_in) and b (D); each block's W1 (H, D), b1 (H), W2 (D, H), b2 (D); the output layer's W (D_out, D) and b (D_out); a linear network's A_1 .. A_M (D, D) |
//! | 24 + n | 4 | CRC-32 (ISO-HDLC, zlib's `crc32`) of every byte before it |
//!
//! Each parameter takes its format's width (4, 8, 4, 2 bytes), little-endian; fixed point
//! stores the raw integer.

use crate::error::FileError;
use crate::fixed::{Q12, Q16};
use crate::model::{Name, Trainable, Visitor, ZipVisitor};
use crate::{Activation, Dense, Error, LinearResNet, Matrix, Net, ResNet, Result, Scalar, Skip};

/// The first four bytes of every model file.
pub const MAGIC: [u8; 4] = *b"NRID";
/// The version this build writes and reads.
pub const VERSION: u16 = 1;
/// Bytes before the parameters.
pub const HEADER_BYTES: usize = 24;
/// Bytes of the checksum after them.
pub const CRC_BYTES: usize = 4;

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// A number type a model file can hold: its format code and little-endian encoding.
pub trait Stored: Scalar {
    /// The format code in the header.
    const FORMAT: u8;
    /// Bytes per value.
    const BYTES: usize;
    /// Writes the value into `out[..BYTES]`.
    fn put(self, out: &mut [u8]);
    /// The value in `bytes[..BYTES]`, or `None` if it is not a usable value (NaN, infinite).
    fn get(bytes: &[u8]) -> Option<Self>;
}

macro_rules! stored {
    ($t:ty, $code:expr, $n:expr, $to:expr, $from:expr) => {
        impl Stored for $t {
            const FORMAT: u8 = $code;
            const BYTES: usize = $n;
            fn put(self, out: &mut [u8]) {
                if let Some(out) = out.get_mut(..$n) {
                    out.copy_from_slice(&$to(self));
                }
            }
            fn get(bytes: &[u8]) -> Option<Self> {
                let raw: [u8; $n] = bytes.get(..$n)?.try_into().ok()?;
                let v: $t = $from(raw);
                v.is_finite().then_some(v)
            }
        }
    };
}
stored!(f32, 1, 4, f32::to_le_bytes, f32::from_le_bytes);
stored!(f64, 2, 8, f64::to_le_bytes, f64::from_le_bytes);
stored!(Q16, 3, 4, |q: Q16| q.to_bits().to_le_bytes(), |b| {
    Q16::from_bits(i32::from_le_bytes(b))
});
stored!(Q12, 4, 2, |q: Q12| q.to_bits().to_le_bytes(), |b| {
    Q12::from_bits(i16::from_le_bytes(b))
});

/// The loss a model was trained with, as its file records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LossKind {
    /// [`crate::Quadratic`].
    Quadratic = 1,
    /// [`crate::CrossEntropy`].
    CrossEntropy = 2,
}

/// Which kind of network a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Kind {
    /// Residual blocks, with or without input and output layers.
    Residual = 1,
    /// A linear residual network (I + A_M) ... (I + A_1).
    Linear = 2,
}

/// A network's architecture, as the header records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Shape {
    /// Residual or linear.
    pub kind: Kind,
    /// Activation code (see the module docs; 0 for a linear network).
    pub activation: u8,
    /// Whether there is an input layer (else the identity, D_in = D).
    pub input_layer: bool,
    /// Whether there is an output layer (else the identity, D_out = D).
    pub output_layer: bool,
    /// D_in.
    pub inputs: u16,
    /// D.
    pub width: u16,
    /// H (0 for a linear network).
    pub hidden: u16,
    /// M.
    pub depth: u16,
    /// D_out.
    pub outputs: u16,
}

impl Shape {
    /// The number of parameters a network of this shape has, or `None` if it overflows.
    pub fn params(&self) -> Option<usize> {
        let [i, d, h, m, o] = [
            self.inputs,
            self.width,
            self.hidden,
            self.depth,
            self.outputs,
        ]
        .map(usize::from);
        match self.kind {
            Kind::Linear => d.checked_mul(d)?.checked_mul(m),
            Kind::Residual => {
                let block = 2 * d * h + d + h;
                let input = if self.input_layer { d * i + d } else { 0 };
                let output = if self.output_layer { o * d + o } else { 0 };
                block.checked_mul(m)?.checked_add(input + output)
            }
        }
    }
}

/// What a model file's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// The number format code.
    pub format: u8,
    /// The architecture.
    pub shape: Shape,
    /// The loss it was trained with.
    pub loss: LossKind,
    /// Blocks in use (the depth, for a network of fixed depth).
    pub active_depth: u16,
}

impl Header {
    /// The whole file's length in bytes, or `None` for an unknown format or an overflow.
    pub fn file_bytes(&self) -> Option<usize> {
        let width = match self.format {
            1 | 3 => 4,
            2 => 8,
            4 => 2,
            _ => return None,
        };
        self.shape
            .params()?
            .checked_mul(width)?
            .checked_add(HEADER_BYTES + CRC_BYTES)
    }
}

/// A network whose architecture a model file can describe.
pub trait Architecture {
    /// Its shape.
    const SHAPE: Shape;

    /// Whether a network of this type can use only its first blocks (a network that grows).
    const GROWS: bool = false;

    /// Blocks in use (those of a network that grows; the depth otherwise).
    fn active_depth(&self) -> usize {
        usize::from(Self::SHAPE.depth)
    }

    /// Uses the first m blocks ([`Error::OutOfRange`] past the depth, or below it for a
    /// network that does not grow).
    fn set_active_depth(&mut self, m: usize) -> Result<()> {
        if m == usize::from(Self::SHAPE.depth) {
            Ok(())
        } else {
            Err(Error::OutOfRange)
        }
    }
}

impl<T: Scalar, const D: usize, const H: usize, const M: usize, S: Activation> Architecture
    for ResNet<T, D, H, M, S>
{
    const SHAPE: Shape = residual(S::ID, false, false, [D, D, H, M, D]);
    const GROWS: bool = true;

    fn active_depth(&self) -> usize {
        ResNet::active_depth(self)
    }

    fn set_active_depth(&mut self, m: usize) -> Result<()> {
        ResNet::set_active_depth(self, m)
    }
}

impl<T: Scalar, const D: usize, const M: usize> Architecture for LinearResNet<T, D, M> {
    const SHAPE: Shape = Shape {
        kind: Kind::Linear,
        activation: 0,
        input_layer: false,
        output_layer: false,
        inputs: D as u16,
        width: D as u16,
        hidden: 0,
        depth: M as u16,
        outputs: D as u16,
    };
}

impl<T, const I: usize, const D: usize, const H: usize, const M: usize, const O: usize, S, P, Q>
    Architecture for Net<T, I, D, H, M, O, S, P, Q>
where
    T: Scalar,
    S: Activation,
    P: EndLayer,
    Q: EndLayer,
{
    const SHAPE: Shape = residual(S::ID, P::PRESENT, Q::PRESENT, [I, D, H, M, O]);
    const GROWS: bool = true;

    fn active_depth(&self) -> usize {
        self.blocks.active_depth()
    }

    fn set_active_depth(&mut self, m: usize) -> Result<()> {
        self.blocks.set_active_depth(m)
    }
}

/// An input or output layer: present ([`Dense`]) or the identity ([`Skip`]).
pub trait EndLayer {
    /// Whether it has parameters.
    const PRESENT: bool;
}

impl<T: Scalar, const I: usize, const O: usize> EndLayer for Dense<T, I, O> {
    const PRESENT: bool = true;
}

impl EndLayer for Skip {
    const PRESENT: bool = false;
}

const fn residual(activation: u8, input: bool, output: bool, dims: [usize; 5]) -> Shape {
    let [i, d, h, m, o] = dims;
    Shape {
        kind: Kind::Residual,
        activation,
        input_layer: input,
        output_layer: output,
        inputs: i as u16,
        width: d as u16,
        hidden: h as u16,
        depth: m as u16,
        outputs: o as u16,
    }
}

/// The length of the model file of a network of type N in format T.
pub const fn file_bytes<T: Stored, N: Trainable<T>>() -> usize {
    HEADER_BYTES + N::PARAMS * T::BYTES + CRC_BYTES
}

/// Writes `net` (trained with `loss`) into `out`, and returns the bytes written
/// ([`file_bytes`]); [`FileError::BufferTooSmall`] if `out` is shorter, and
/// [`Error::OutOfRange`] if a width does not fit the header's 16 bits.
pub fn save<T, N>(net: &N, loss: LossKind, out: &mut [u8]) -> Result<usize>
where
    T: Stored,
    N: Trainable<T> + Architecture,
{
    let n = file_bytes::<T, N>();
    let Some(mut out) = out.get_mut(..n) else {
        return Err(Error::File(FileError::BufferTooSmall));
    };
    stream(net, loss, &mut |piece: &[u8]| {
        // The pieces add up to n bytes: every split succeeds.
        if let Some((here, rest)) = core::mem::take(&mut out).split_at_mut_checked(piece.len()) {
            here.copy_from_slice(piece);
            out = rest;
        }
    })
}

/// The bytes of [`save`], handed to `emit` in order in pieces of at most [`HEADER_BYTES`]
/// (the header, then one piece per parameter, then the checksum), without a buffer: for
/// writers that cannot hold the whole file (a checkpoint in flash, [`crate::checkpoint`]).
/// Returns the length, [`file_bytes`]; [`Error::OutOfRange`] (before anything is emitted) if
/// a width does not fit the header's 16 bits.
pub fn stream<T, N>(net: &N, loss: LossKind, emit: &mut impl FnMut(&[u8])) -> Result<usize>
where
    T: Stored,
    N: Trainable<T> + Architecture,
{
    let shape = N::SHAPE;
    if shape.params() != Some(N::PARAMS) {
        // A width or depth above 65535 does not fit the header.
        return Err(Error::OutOfRange);
    }
    let header = header_bytes(&Header {
        format: T::FORMAT,
        shape,
        loss,
        // At most the depth (every setter keeps it so): fits the header's 16 bits.
        active_depth: net.active_depth().min(usize::from(shape.depth)) as u16,
    });
    let mut digest = CRC.digest();
    digest.update(&header);
    emit(&header);
    struct Emit<'a, 'c, E> {
        emit: &'a mut E,
        digest: &'a mut crc::Digest<'c, u32>,
    }
    impl<T: Stored, E: FnMut(&[u8])> Visitor<T> for Emit<'_, '_, E> {
        fn tensor<const R: usize, const C: usize>(&mut self, _: Name, t: &Matrix<T, R, C>) {
            for &v in t.iter() {
                let mut bytes = [0u8; 8];
                let bytes = &mut bytes[..T::BYTES.min(8)];
                v.put(bytes);
                self.digest.update(bytes);
                (self.emit)(bytes);
            }
        }
    }
    net.visit(&mut Emit {
        emit: &mut *emit,
        digest: &mut digest,
    });
    emit(&digest.finalize().to_le_bytes());
    Ok(file_bytes::<T, N>())
}

/// Reads a model file into `net` and returns its header. Checks, in order: magic, version,
/// the length the header implies, the checksum, the number format, the architecture, the
/// activation, the loss code and every value (finite); on any error `net` is unchanged.
pub fn load<T, N>(net: &mut N, bytes: &[u8]) -> Result<Header>
where
    T: Stored,
    N: Trainable<T> + Architecture,
{
    let header = read_header(bytes)?;
    fits::<T, N>(&header)?;
    let body = &bytes[HEADER_BYTES..bytes.len() - CRC_BYTES];
    if body.chunks_exact(T::BYTES).any(|v| T::get(v).is_none()) {
        return Err(Error::NonFinite);
    }
    struct Read<'a>(&'a [u8]);
    impl<T: Stored> ZipVisitor<T, 1> for Read<'_> {
        fn tensors<const R: usize, const C: usize>(
            &mut self,
            _: Name,
            [t]: [&mut Matrix<T, R, C>; 1],
        ) {
            for v in t.iter_mut() {
                if let (Some(x), Some(rest)) = (T::get(self.0), self.0.get(T::BYTES..)) {
                    *v = x;
                    self.0 = rest;
                }
            }
        }
    }
    N::visit_zip([net], &mut Read(body));
    // `fits` checked the active depth.
    net.set_active_depth(usize::from(header.active_depth))?;
    Ok(header)
}

/// [`Error::File`] unless a file with this header holds a network of type N in format T:
/// the number format ([`FileError::Format`]), the activation ([`FileError::Activation`]),
/// the rest of the architecture ([`FileError::Shape`]), checked in that order.
pub fn fits<T: Stored, N: Architecture>(header: &Header) -> Result<()> {
    if header.format != T::FORMAT {
        return Err(Error::File(FileError::Format));
    }
    let expected = N::SHAPE;
    let shape = header.shape;
    if shape.activation != expected.activation {
        return Err(Error::File(FileError::Activation));
    }
    let same_but_activation = Shape {
        activation: expected.activation,
        ..shape
    };
    if same_but_activation != expected {
        return Err(Error::File(FileError::Shape));
    }
    // The header's active depth is at most its depth (read_header); one below it needs a
    // network that grows.
    if !N::GROWS && header.active_depth != shape.depth {
        return Err(Error::File(FileError::Shape));
    }
    Ok(())
}

/// The header of a model file, after checking the magic, the version, the length it implies
/// and the checksum (but not that it fits any particular network).
pub fn read_header(bytes: &[u8]) -> Result<Header> {
    let file = |e| Err(Error::File(e));
    let Some(h) = bytes.get(..HEADER_BYTES) else {
        return if bytes.get(..4).is_some_and(|m| m != MAGIC) {
            file(FileError::Magic)
        } else {
            file(FileError::Length)
        };
    };
    let header = decode_header(h)?;
    let Some(n) = header.file_bytes() else {
        return file(FileError::Format);
    };
    if bytes.len() != n {
        return file(FileError::Length);
    }
    let stored = u32::from_le_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]);
    if CRC.checksum(&bytes[..n - CRC_BYTES]) != stored {
        return file(FileError::Crc);
    }
    if header.active_depth > header.shape.depth {
        return file(FileError::Shape);
    }
    Ok(header)
}

/// The header in the first [`HEADER_BYTES`] of a model file, for readers that see the file
/// piece by piece: the checks of [`read_header`] but the length and the checksum, which the
/// caller does once it has the rest.
pub fn parse_header(h: &[u8; HEADER_BYTES]) -> Result<Header> {
    let header = decode_header(h)?;
    if header.file_bytes().is_none() {
        return Err(Error::File(FileError::Format));
    }
    if header.active_depth > header.shape.depth {
        return Err(Error::File(FileError::Shape));
    }
    Ok(header)
}

/// Magic, version and the codes of the kind, loss and layers; `h` holds at least
/// [`HEADER_BYTES`] bytes.
fn decode_header(h: &[u8]) -> Result<Header> {
    let file = |e| Err(Error::File(e));
    let Some(h) = h.get(..HEADER_BYTES) else {
        return file(FileError::Length);
    };
    if h[0..4] != MAGIC {
        return file(FileError::Magic);
    }
    let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
    if u16_at(4) != VERSION {
        return file(FileError::Version);
    }
    let kind = match h[9] {
        1 => Kind::Residual,
        2 => Kind::Linear,
        _ => return file(FileError::Shape),
    };
    let loss = match h[8] {
        1 => LossKind::Quadratic,
        2 => LossKind::CrossEntropy,
        _ => return file(FileError::Loss),
    };
    if h[10] > 3 || h[11] != 0 {
        return file(FileError::Shape);
    }
    Ok(Header {
        format: h[6],
        shape: Shape {
            kind,
            activation: h[7],
            input_layer: h[10] & 1 != 0,
            output_layer: h[10] & 2 != 0,
            inputs: u16_at(12),
            width: u16_at(14),
            hidden: u16_at(16),
            depth: u16_at(18),
            outputs: u16_at(22),
        },
        loss,
        active_depth: u16_at(20),
    })
}

/// The header bytes of a file with this header: for tools that write the parameters
/// themselves (the host's converters, for shapes no compiled network type has).
pub fn header_bytes(header: &Header) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    write_header(&mut h, header);
    h
}

/// The file's checksum of `bytes` (CRC-32, ISO-HDLC): what the last four bytes of a model file
/// hold, little-endian, for the bytes before them.
pub fn checksum(bytes: &[u8]) -> u32 {
    CRC.checksum(bytes)
}

fn write_header(h: &mut [u8], header: &Header) {
    let s = &header.shape;
    h.fill(0);
    h[0..4].copy_from_slice(&MAGIC);
    h[4..6].copy_from_slice(&VERSION.to_le_bytes());
    h[6] = header.format;
    h[7] = s.activation;
    h[8] = header.loss as u8;
    h[9] = s.kind as u8;
    h[10] = u8::from(s.input_layer) | (u8::from(s.output_layer) << 1);
    for (at, v) in [
        (12, s.inputs),
        (14, s.width),
        (16, s.hidden),
        (18, s.depth),
        (20, header.active_depth),
        (22, s.outputs),
    ] {
        h[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CrossEntropy, Rng};

    type Small = Net<f32, 2, 3, 4, 2, 5>;

    fn saved<T: Stored, N: Trainable<T> + Architecture>(net: &N) -> std::vec::Vec<u8> {
        let mut buf = std::vec![0u8; file_bytes::<T, N>()];
        assert_eq!(save(net, LossKind::CrossEntropy, &mut buf), Ok(buf.len()));
        buf
    }

    #[test]
    fn a_saved_network_loads_back_exactly() {
        let net = Small::init(&mut Rng::new(1), 0.5);
        let bytes = saved(&net);
        let mut back = Small::zeros();
        let header = load(&mut back, &bytes).unwrap();
        assert_eq!(back, net);
        assert_eq!(header.loss, LossKind::CrossEntropy);
        let _ = CrossEntropy;
        let fixed: ResNet<Q12, 3, 4, 2> = ResNet::random(&mut Rng::new(2), 0.5);
        let mut back = ResNet::<Q12, 3, 4, 2>::zeros();
        load(&mut back, &saved(&fixed)).unwrap();
        assert_eq!(back, fixed);
    }

    #[test]
    fn every_kind_of_damage_is_named_and_loses_nothing() {
        let net = Small::init(&mut Rng::new(1), 0.5);
        let good = saved(&net);
        let start = Small::zeros();
        let cases: [(&str, std::vec::Vec<u8>, Error); 6] = [
            (
                "magic",
                {
                    let mut b = good.clone();
                    b[0] = b'X';
                    b
                },
                Error::File(FileError::Magic),
            ),
            (
                "version",
                {
                    let mut b = good.clone();
                    b[4] = 9;
                    b
                },
                Error::File(FileError::Version),
            ),
            (
                "truncated",
                good[..good.len() - 1].to_vec(),
                Error::File(FileError::Length),
            ),
            (
                "a flipped bit",
                {
                    let mut b = good.clone();
                    b[40] ^= 4;
                    b
                },
                Error::File(FileError::Crc),
            ),
            (
                "empty",
                std::vec::Vec::new(),
                Error::File(FileError::Length),
            ),
            (
                "longer",
                [good.clone(), std::vec![0]].concat(),
                Error::File(FileError::Length),
            ),
        ];
        for (what, bytes, error) in cases {
            let mut n = start;
            assert_eq!(load(&mut n, &bytes), Err(error), "{what}");
            assert_eq!(n, start, "{what}: the network changed");
        }
        // Right file, wrong network: format, shape.
        let mut other = ResNet::<f32, 3, 4, 2>::zeros();
        assert_eq!(load(&mut other, &good), Err(Error::File(FileError::Shape)));
        let mut q = Net::<Q16, 2, 3, 4, 2, 5>::zeros();
        assert_eq!(load(&mut q, &good), Err(Error::File(FileError::Format)));
        let mut tanh = Net::<f32, 2, 3, 4, 2, 5, crate::Tanh>::zeros();
        assert_eq!(
            load(&mut tanh, &good),
            Err(Error::File(FileError::Activation))
        );
        let mut short = [0u8; 10];
        assert_eq!(
            save(&net, LossKind::Quadratic, &mut short),
            Err(Error::File(FileError::BufferTooSmall))
        );
    }
}
