//! Where the slots of a checkpoint region lie: the flash's geometry, the region, what one
//! checkpoint holds, and the sizes that follow from them.
//!
//! ```text
//! region  = blocks x block          block = ceil(slot / ERASE_SIZE) erase units, >= 2 blocks
//! block   = slots_per_block x slot  (a block larger than a slot holds several, filled in order)
//! slot    = record | model file | velocity file (with momentum) | payload, each part padded
//!           with 0xFF to the unit = max(8, WRITE_SIZE, READ_SIZE)
//! ```

use embedded_storage::nor_flash::NorFlash;

use crate::error::FlashError;
use crate::file::{self, Stored};
use crate::{Error, Result, Trainable};

/// The largest read or write word supported, and the size of the buffers the checkpoint
/// code streams through (on the stack).
pub(crate) const CHUNK: usize = 64;

/// Bytes of the commit record's fields (before its checksum; see [`super`]).
pub(crate) const FIELDS: u32 = 44;

/// A flash's sizes, as its [`NorFlash`] driver states them: reads and writes happen in whole
/// words of `read` and `write` bytes, erases in units of `erase` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Geometry {
    /// `READ_SIZE`.
    pub read: u32,
    /// `WRITE_SIZE`.
    pub write: u32,
    /// `ERASE_SIZE`.
    pub erase: u32,
}

impl Geometry {
    /// The geometry of the flash driver F.
    pub const fn of<F: NorFlash>() -> Self {
        Self {
            read: F::READ_SIZE as u32,
            write: F::WRITE_SIZE as u32,
            erase: F::ERASE_SIZE as u32,
        }
    }
}

/// The part of the flash reserved for checkpoints, as offsets of the flash driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Region {
    /// The first byte; a multiple of the erase size.
    pub start: u32,
    /// Its length in bytes; a multiple of the erase size.
    pub len: u32,
}

/// What one checkpoint holds: a model file of `model_bytes` ([`file::file_bytes`]), the
/// momentum buffer as a second model file of the same size when `velocity`, and up to
/// `payload_max` bytes of the application's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Contents {
    /// Bytes of the model file.
    pub model_bytes: u32,
    /// Whether a velocity (momentum buffer) is stored.
    pub velocity: bool,
    /// Largest payload in bytes.
    pub payload_max: u16,
}

impl Contents {
    /// The contents of a checkpoint of a network N in format T.
    pub const fn of<T: Stored, N: Trainable<T>>(velocity: bool, payload_max: u16) -> Self {
        Self {
            model_bytes: file::file_bytes::<T, N>() as u32,
            velocity,
            payload_max,
        }
    }
}

/// The slots of a region: made once from the geometry, the region and the contents, and
/// handed to [`super::save`], [`super::find`] and [`super::restore`].
///
/// Slots are numbered 0 .. [`Layout::slots`] in the order saves fill them: block 0's slots,
/// then block 1's, and so on, then block 0 again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Layout {
    /// The flash's sizes.
    pub geometry: Geometry,
    /// The region.
    pub region: Region,
    /// What a checkpoint holds.
    pub contents: Contents,
    pub(crate) unit: u32,
    pub(crate) record_bytes: u32,
    pub(crate) slot_bytes: u32,
    pub(crate) block_bytes: u32,
    pub(crate) slots_per_block: u32,
    pub(crate) blocks: u32,
}

impl Layout {
    /// The layout, or [`FlashError::Layout`] when the sizes cannot work: a read or write size
    /// that is zero, not a power of two or above 64 bytes, an erase size that is zero or not a
    /// multiple of the write size, a region not aligned to the erase size or beyond 32-bit
    /// offsets, or one that holds fewer than two blocks of one slot each.
    pub fn new(geometry: Geometry, region: Region, contents: Contents) -> Result<Self> {
        Self::compute(geometry, region, contents).ok_or(Error::Flash(FlashError::Layout))
    }

    fn compute(geometry: Geometry, region: Region, contents: Contents) -> Option<Self> {
        let Geometry { read, write, erase } = geometry;
        let word = |w: u32| w.is_power_of_two() && w as usize <= CHUNK;
        if !word(read) || !word(write) || erase == 0 || !erase.is_multiple_of(write) {
            return None;
        }
        if !region.start.is_multiple_of(erase) || !region.len.is_multiple_of(erase) {
            return None;
        }
        region.start.checked_add(region.len)?;
        // Every part starts and ends on a unit: a whole number of read and write words.
        let unit = 8u32.max(read).max(write);
        if !region.start.is_multiple_of(unit) {
            return None;
        }
        let up = |n: u32| n.checked_next_multiple_of(unit);
        let record_bytes = up(FIELDS)? + unit;
        let model = up(contents.model_bytes)?;
        let files = if contents.velocity {
            model.checked_mul(2)?
        } else {
            model
        };
        let slot_bytes = record_bytes
            .checked_add(files)?
            .checked_add(up(u32::from(contents.payload_max))?)?;
        // Whole erase units, and a whole number of units so every slot stays aligned.
        let align = (erase / gcd(erase, unit)).checked_mul(unit)?;
        let block_bytes = slot_bytes.checked_next_multiple_of(align)?;
        let blocks = region.len / block_bytes;
        if contents.model_bytes < (file::HEADER_BYTES + file::CRC_BYTES) as u32 || blocks < 2 {
            return None;
        }
        Some(Self {
            geometry,
            region,
            contents,
            unit,
            record_bytes,
            slot_bytes,
            block_bytes,
            slots_per_block: block_bytes / slot_bytes,
            blocks,
        })
    }

    /// Bytes of flash one checkpoint takes (its slot).
    pub fn slot_bytes(&self) -> u32 {
        self.slot_bytes
    }

    /// Bytes of one erase block: the erase units a save erases together.
    pub fn block_bytes(&self) -> u32 {
        self.block_bytes
    }

    /// Erase blocks in the region (at least 2).
    pub fn blocks(&self) -> u32 {
        self.blocks
    }

    /// Slots in one block (more than one when an erase unit holds several checkpoints).
    pub fn slots_per_block(&self) -> u32 {
        self.slots_per_block
    }

    /// Slots in the region.
    pub fn slots(&self) -> u32 {
        self.blocks * self.slots_per_block
    }

    /// Saves between two erases of the same block, when no save is cut: every block is erased
    /// once per this many checkpoints, so a flash rated for C erase cycles per unit takes
    /// C times this many checkpoints.
    pub fn saves_per_erase(&self) -> u32 {
        self.slots()
    }

    /// The flash offset of slot `i` (< [`Layout::slots`]).
    pub fn slot_address(&self, i: u32) -> u32 {
        let (block, within) = (i / self.slots_per_block, i % self.slots_per_block);
        self.region.start + block * self.block_bytes + within * self.slot_bytes
    }

    /// The flash offset of block `b` (< [`Layout::blocks`]).
    pub(crate) fn block_address(&self, b: u32) -> u32 {
        self.region.start + b * self.block_bytes
    }

    /// `n` rounded up to the unit (n within a slot, so it cannot overflow).
    pub(crate) fn up(&self, n: u32) -> u32 {
        n.next_multiple_of(self.unit)
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
