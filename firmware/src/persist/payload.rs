//! What a checkpoint of the calibration app holds besides the network and the optimiser: the
//! app's own counters (the checkpoint's *payload*), and the flash image of each emulated board.
//! Plain Rust without dependencies, shared by `#[path]` with xtask (`cargo xtask pull` and
//! `cargo xtask powercut` read the images the firmware writes), so the two cannot disagree.
//!
//! Payload layout (little-endian, 48 bytes): the tag `NCAL`, then u32 step, u32 samples, f32
//! learning rate, u32 rollbacks, f32 best window loss, u32 x 6 fault counts (retried,
//! unreadable, stuck, railed, failed steps, saturations).

/// Bytes each slot keeps for the payload (the counters take [`COUNTERS_BYTES`]).
pub const PAYLOAD_MAX: u16 = 64;
/// Bytes of [`Counters::encode`].
pub const COUNTERS_BYTES: usize = 48;
/// The first four bytes of the payload: which app wrote it.
const TAG: [u8; 4] = *b"NCAL";

/// The app's state at a checkpoint, beyond the weights and the optimiser's state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Counters {
    /// Training steps run (the loop's step; a rollback does not turn it back).
    pub step: u32,
    /// Samples read from the sensor so far (the ring's first fill included).
    pub samples: u32,
    /// The learning rate in force (lowered by each rollback).
    pub learning_rate: f32,
    /// Rollbacks so far.
    pub rollbacks: u32,
    /// The lowest mean training loss over a checkpoint interval so far (the divergence test's
    /// reference).
    pub best: f32,
    /// The fault counts: sensor reads retried, samples unreadable, stuck and railed readings,
    /// training steps failed, fixed-point saturations.
    pub faults: [u32; 6],
}

impl Counters {
    /// The payload bytes.
    pub fn encode(&self) -> [u8; COUNTERS_BYTES] {
        let mut out = [0u8; COUNTERS_BYTES];
        let words = [
            u32::from_le_bytes(TAG),
            self.step,
            self.samples,
            self.learning_rate.to_bits(),
            self.rollbacks,
            self.best.to_bits(),
        ]
        .into_iter()
        .chain(self.faults);
        for (chunk, word) in out.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// The counters in `bytes`, or `None` if they are not [`Counters::encode`]'s (another
    /// length or tag).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != COUNTERS_BYTES {
            return None;
        }
        let mut words = [0u32; COUNTERS_BYTES / 4];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        let [tag, step, samples, rate, rollbacks, best, faults @ ..] = words;
        (tag.to_le_bytes() == TAG).then_some(Self {
            step,
            samples,
            learning_rate: f32::from_bits(rate),
            rollbacks,
            best: f32::from_bits(best),
            faults,
        })
    }
}

/// An emulated board's flash: a file on the host, read and written through semihosting
/// (`src/flash/host.rs`), holding the checkpoint region alone (offset 0 is the region's start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostImage {
    /// The board (its Cargo feature).
    pub board: &'static str,
    /// The driver's `WRITE_SIZE`.
    pub write: u32,
    /// The driver's `ERASE_SIZE`.
    pub erase: u32,
    /// Bytes of the image: the region.
    pub len: u32,
    /// Bytes of the board's model file (`nearid::file::file_bytes` of its network; the firmware
    /// checks it at compile time): what a reader of the image needs to know its layout.
    pub model_bytes: u32,
}

/// The emulated boards' images. micro:bit: the nRF51's NVMC geometry (32-bit word writes, 1 KiB
/// pages), two blocks of ten pages for its 9,304-byte slot; mps2-an386 (no flash controller):
/// word writes and 4 KiB sectors like the RP2040's, three blocks of one slot.
pub const HOST_IMAGES: [HostImage; 2] = [
    HostImage {
        board: "mps2-an386",
        write: 4,
        erase: 4096,
        len: 3 * 4096,
        // ResNet<f32, 3, 16, 8>: 24 + 920 x 4 + 4.
        model_bytes: 3708,
    },
    HostImage {
        board: "microbit",
        write: 4,
        erase: 1024,
        len: 2 * 10 * 1024,
        // ResNet<Q4.12, 3, 16, 40>: 24 + 4600 x 2 + 4.
        model_bytes: 9228,
    },
];

/// The image of `board`, if it is an emulated board (xtask's: the firmware names its own).
#[allow(dead_code)]
pub fn host_image(board: &str) -> Option<HostImage> {
    HOST_IMAGES.into_iter().find(|i| i.board == board)
}

/// The exit code of a run that the flash driver cut (a simulated power cut), as QEMU returns it.
#[allow(dead_code)] // the emulated boards' and xtask's
pub const CUT_EXIT_CODE: i32 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_round_trip_and_other_bytes_are_refused() {
        let c = Counters {
            step: 250,
            samples: 314,
            learning_rate: 0.02,
            rollbacks: 1,
            best: 7.5e-5,
            faults: [1, 2, 3, 4, 5, 6],
        };
        let bytes = c.encode();
        assert_eq!(Counters::decode(&bytes), Some(c));
        assert_eq!(Counters::decode(&bytes[..40]), None);
        let mut other = bytes;
        other[0] = b'X';
        assert_eq!(Counters::decode(&other), None);
    }
}
