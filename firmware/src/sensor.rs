//! The 3-axis sensor driver, generic over `embedded_hal::i2c::I2c`: the same code talks to the
//! simulated sensor under QEMU ([`crate::sim`]) and to a real bus on a board.
//!
//! Register map (LIS3MDL-like, little-endian i16 per axis, 1 LSB = 1 / [`LSB_PER_UNIT`]):
//!
//! | register | bytes | meaning |
//! |---|---|---|
//! | `0x0F` WHO_AM_I | 1 | [`WHO_AM_I_VALUE`] |
//! | `0x28` OUT_X_L .. `0x2D` | 6 | raw x, y, z; reading from `0x28` latches a new sample |
//! | `0x40` REF_X_L .. `0x45` | 6 | the reference (true) x, y, z of the latched sample |
//!
//! The reference registers stand for what a calibration rig provides (a reference instrument or
//! known orientations); without them there is nothing to calibrate against.

use embedded_hal::i2c::I2c;

/// The sensor's 7-bit bus address.
pub const ADDRESS: u8 = 0x1C;
/// Identification register and its value.
pub const WHO_AM_I: u8 = 0x0F;
/// What [`WHO_AM_I`] reads.
pub const WHO_AM_I_VALUE: u8 = 0x3D;
/// First raw output register (x low byte); a read starting here latches a new sample.
pub const OUT_X_L: u8 = 0x28;
/// First reference register (x low byte).
pub const REF_X_L: u8 = 0x40;
/// Counts per unit of the measured quantity: the full scale is +-4 units.
pub const LSB_PER_UNIT: f32 = 8192.0;

/// What can go wrong talking to the sensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SensorError<E> {
    /// The bus failed.
    Bus(E),
    /// WHO_AM_I read this instead of [`WHO_AM_I_VALUE`].
    WrongDevice(u8),
}

impl<E> From<E> for SensorError<E> {
    fn from(e: E) -> Self {
        Self::Bus(e)
    }
}

/// A 3-axis sensor on an I2C bus.
#[derive(Debug)]
pub struct Sensor<I> {
    i2c: I,
}

impl<I: I2c> Sensor<I> {
    /// Checks WHO_AM_I and returns the driver.
    pub fn new(mut i2c: I) -> Result<Self, SensorError<I::Error>> {
        let mut id = [0u8];
        i2c.write_read(ADDRESS, &[WHO_AM_I], &mut id)?;
        match id {
            [WHO_AM_I_VALUE] => Ok(Self { i2c }),
            [other] => Err(SensorError::WrongDevice(other)),
        }
    }

    /// Latches and reads a new raw sample (x, y, z), in counts ([`units`] converts them).
    pub fn read_raw(&mut self) -> Result<[i16; 3], I::Error> {
        self.read_vector(OUT_X_L)
    }

    /// The reference (true) value of the sample latched by the last [`Sensor::read_raw`], in
    /// counts.
    pub fn read_reference(&mut self) -> Result<[i16; 3], I::Error> {
        self.read_vector(REF_X_L)
    }

    fn read_vector(&mut self, register: u8) -> Result<[i16; 3], I::Error> {
        let mut b = [0u8; 6];
        self.i2c.write_read(ADDRESS, &[register], &mut b)?;
        Ok(core::array::from_fn(|i| {
            i16::from_le_bytes([b[2 * i], b[2 * i + 1]])
        }))
    }
}

/// Counts in units of the measured quantity (1 LSB = 1 / [`LSB_PER_UNIT`]).
pub fn units(counts: [i16; 3]) -> [f32; 3] {
    counts.map(|c| f32::from(c) / LSB_PER_UNIT)
}
