//! The commit record at the start of every slot: what makes a slot a checkpoint. It is
//! written last, its checksum last of all, so a slot whose record checks out was written to
//! the end (see the module docs of [`super`] for why a cut record can never check out).

use super::layout::{FIELDS, Layout};
use super::stream::CRC;
use crate::SgdState;

/// The record's first four bytes.
pub(crate) const MAGIC: [u8; 4] = *b"NRCP";
/// The version of the slot layout this build writes and reads.
pub(crate) const VERSION: u16 = 1;
/// A checksum never equals this: it is what an unwritten checksum reads.
pub(crate) const ERASED: u32 = u32::MAX;

/// The fields of a commit record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub sequence: u32,
    pub wear: u32,
    pub sgd: SgdState,
    pub model_bytes: u32,
    pub velocity: bool,
    pub slot_bytes: u32,
    pub payload_max: u16,
    pub payload_len: u16,
    pub body_crc: u32,
}

/// What a slot's record says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// A record that checks out, for this layout.
    Valid(Record),
    /// A record that checks out, of another layout (another network or payload size).
    Foreign,
    /// No record that checks out: erased, cut, or damaged.
    Invalid,
}

impl Record {
    /// The fields and the checksum to write after them. The salt field is 0, or 1 where 0
    /// would give the checksum [`ERASED`].
    pub(crate) fn encode(&self) -> ([u8; FIELDS as usize], u32) {
        let mut f = [0u8; FIELDS as usize];
        f[0..4].copy_from_slice(&MAGIC);
        f[4..6].copy_from_slice(&VERSION.to_le_bytes());
        f[6..8].copy_from_slice(&u16::from(self.velocity).to_le_bytes());
        for (at, v) in [
            (8, self.sequence),
            (12, self.wear),
            (16, self.sgd.steps),
            (20, self.sgd.rounding),
            (24, self.model_bytes),
            (28, self.slot_bytes),
            (36, self.body_crc),
        ] {
            f[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        f[32..34].copy_from_slice(&self.payload_max.to_le_bytes());
        f[34..36].copy_from_slice(&self.payload_len.to_le_bytes());
        let mut crc = CRC.checksum(&f);
        if crc == ERASED {
            // CRC-32 detects every change confined to 32 bits, so the salted sum differs.
            f[40] = 1;
            crc = CRC.checksum(&f);
        }
        (f, crc)
    }

    /// The record in `fields` with checksum `crc`, judged against `layout`.
    pub(crate) fn decode(fields: &[u8; FIELDS as usize], crc: u32, layout: &Layout) -> Read {
        let u16_at = |i: usize| u16::from_le_bytes([fields[i], fields[i + 1]]);
        let u32_at =
            |i: usize| u32::from_le_bytes([fields[i], fields[i + 1], fields[i + 2], fields[i + 3]]);
        let sound = fields[0..4] == MAGIC
            && u16_at(4) == VERSION
            && u16_at(6) <= 1
            && u32_at(40) <= 1
            && crc != ERASED
            && CRC.checksum(fields) == crc
            && u16_at(34) <= u16_at(32);
        if !sound {
            return Read::Invalid;
        }
        let record = Record {
            sequence: u32_at(8),
            wear: u32_at(12),
            sgd: SgdState {
                steps: u32_at(16),
                rounding: u32_at(20),
            },
            model_bytes: u32_at(24),
            velocity: u16_at(6) == 1,
            slot_bytes: u32_at(28),
            payload_max: u16_at(32),
            payload_len: u16_at(34),
            body_crc: u32_at(36),
        };
        let c = &layout.contents;
        let ours = record.model_bytes == c.model_bytes
            && record.velocity == c.velocity
            && record.payload_max == c.payload_max
            && record.slot_bytes == layout.slot_bytes;
        if ours {
            Read::Valid(record)
        } else {
            Read::Foreign
        }
    }
}
