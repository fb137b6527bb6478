//! Flash drivers for the checkpoints ([`crate::persist`]), one per kind of board, each an
//! `embedded_storage::nor_flash::NorFlash` over the board's checkpoint region:
//!
//! | board | driver | erase unit | write word | region |
//! |---|---|---|---|---|
//! | mps2-an386, micro:bit (QEMU) | [`host::HostFlash`]: a host file over semihosting, NOR semantics modelled | 4 KiB, 1 KiB (nRF51 page) | 4 B | the file, `payload::HOST_IMAGES` |
//! | NUCLEO-F411RE | `stm32f4`: stm32f4xx-hal's flash | 128 KiB sector | 1 B | sectors 6-7, `memory/nucleo-f411re.x` |
//! | Pico | `rp2040`: the boot ROM's flash functions, run from RAM | 4 KiB sector | 4 B (padded to the 256 B page) | the last 64 KiB, `memory/pico.x` |
//!
//! Without the `checkpoint` feature (the default emulated builds) there is no driver and
//! [`Storage`] is implemented by `()`.

#[cfg(all(feature = "checkpoint", feature = "qemu"))]
pub mod host;
#[cfg(all(feature = "checkpoint", feature = "pico"))]
pub mod rp2040;
#[cfg(all(feature = "checkpoint", feature = "nucleo-f411re"))]
pub mod stm32f4;

/// What the run was told on its command line (emulated boards; nothing on a real board).
#[cfg(feature = "checkpoint")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// A power cut just before this training step (emulated boards).
    #[cfg_attr(not(feature = "qemu"), allow(dead_code))]
    pub cut_step: Option<u32>,
    /// The learning rate instead of the board's.
    pub learning_rate: Option<f32>,
}

/// A board's checkpoint flash: a NOR flash, and what the emulated boards add to it.
#[cfg(feature = "checkpoint")]
pub trait Storage: embedded_storage::nor_flash::NorFlash {
    /// The run's options.
    fn options(&self) -> Options {
        Options::default()
    }
    /// Erases and writes so far (logged at the end, so a power-cut test knows where to cut).
    fn operations(&self) -> u32;
    /// Keeps one held-out sample of the final evaluation (raw x, y, z, then true x, y, z) for
    /// the host (`cargo xtask pull`'s check); nothing on a real board.
    fn held_out(&mut self, _sample: &[f64; 6]) {}
}

/// No flash: the builds without checkpoints.
#[cfg(not(feature = "checkpoint"))]
pub trait Storage {}

#[cfg(not(feature = "checkpoint"))]
impl Storage for () {}

/// A real board's power cut is a real one.
#[cfg(all(feature = "checkpoint", feature = "qemu"))]
pub use host::power_cut;
