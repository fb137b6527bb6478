//! Checkpoints in NOR flash that survive power loss: the model file, the optimiser's state
//! (steps, the stochastic-rounding state, the momentum buffer when there is one) and a small
//! payload of the application's own, over the ecosystem's flash trait
//! [`embedded_storage::nor_flash::NorFlash`], without a heap.
//!
//! - [`save`] writes a new checkpoint into a slot that holds nothing newer than the newest
//!   valid checkpoint: it never erases or writes a byte of the newest valid one.
//! - [`restore`] loads the newest valid checkpoint into a network (and velocity and payload),
//!   or returns `Ok(None)` when there is none (an erased chip, or every slot damaged).
//! - [`find`] locates the newest valid checkpoint without a network type: for tools that copy
//!   the model file out of a flash dump ([`Image`]); the stored model file is exactly
//!   [`crate::file::save`]'s bytes.
//!
//! A power cut at any point of a save leaves exactly the old checkpoint or exactly the new
//! one: `core/tests/powercut.rs` cuts a simulated flash at every word write and inside every
//! erase, for a table of geometries. Restoring and training on gives the same weights, to the
//! bit, as never having stopped (`core/tests/checkpoint.rs`).
//!
//! ## Layout
//! The region (a multiple of the erase size) is cut into at least two *blocks* of whole erase
//! units, each holding one or more *slots* ([`Layout`]). Saves fill the slots in order: the
//! next slot of the newest checkpoint's block when it is blank, else the first slot of the
//! next block (wrapping), which is erased first. The newest checkpoint's block is never
//! erased, and with several slots per block (erase units larger than two checkpoints) or more
//! than two blocks, each unit is erased once per [`Layout::saves_per_erase`] saves.
//!
//! A slot, every part starting on a unit u = max(8, `WRITE_SIZE`, `READ_SIZE`) and padded with
//! 0xFF (erased bytes: nothing to program):
//!
//! | offset | bytes | part |
//! |---|---|---|
//! | 0 | 44 | commit record: magic `NRCP`, version 1 (u16), flags (u16: bit 0 velocity), sequence, wear, SGD steps, rounding state, model file bytes, slot bytes (u32 each), payload max, payload length (u16 each), body CRC-32, salt (u32) |
//! | ceil(44, u) | 4 | CRC-32 of the 44 bytes, alone in its unit |
//! | ceil(44, u) + u | n | the model file ([`crate::file`]), then the velocity as a second model file when stored, then the payload: the *body* |
//!
//! All integers little-endian; CRC-32 is ISO-HDLC, the model file's. The body CRC covers the
//! body as stored, padding included.
//!
//! ## Why a cut save can never look valid
//! A save writes the body, reads it back and checks its CRC, then writes the record's fields,
//! then the record's checksum in its own word. NOR writes only clear bits, so a cut leaves
//! every byte it touched between the erased value and the intended one. Before the checksum
//! word is written it reads 0xFFFF_FFFF, which no record uses (the salt is set to 1 where the
//! sum would be that); while it is being written it holds a strict superset of the intended
//! one bits, so it differs from the sum of the (by then complete) fields. A record that checks
//! out therefore has a complete body behind it, and the body CRC catches later damage (a bit
//! flip, a cut erase of an older block). This holds deterministically, not with probability
//! 2^-32. The sequence number (from 1, +1 per save, compared as an integer: 2^32 saves are
//! centuries at one a second) orders the valid checkpoints.
//!
//! ## Wear
//! Each record carries `wear`, the erases of its own block: +1 when a save erases the block,
//! counted from that block's last valid record (if it has none, from the newest checkpoint's,
//! as blocks are erased in turn). Exact while saves complete; a save cut after its erase
//! leaves that erase uncounted, so after c such cuts it may read up to c too low.
//!
//! ## Why not a storage crate
//! sequential-storage 8.0.1 is async only, serialises each item into a RAM buffer and limits it
//! to one page (a 9 KB checkpoint would need 9 KB of RAM and 16 KiB pages), and had an open bug
//! where an item stored after two interrupted stores was gone after reboot; ekv 1.0.0 is async
//! with its own flash trait and values of at most 1 KiB by default; littlefs2 0.8.0 wraps the C
//! littlefs (a C compiler and bindgen in every build, and a file system's RAM). A checkpoint
//! needs one thing, "the newest complete copy", which two or more erase blocks and a commit
//! word give in a few hundred lines that stream through a 64-byte buffer on the stack (the
//! largest read or write word supported is 64 bytes).
//!
//! ## Example
//! ```
//! use nearid::checkpoint::{self, Checkpoint, Contents, Geometry, Layout, RamFlash, Region};
//! use nearid::file::LossKind;
//! use nearid::{FusedSgd, ResNet, Rng, Sgd};
//! type Net = ResNet<f32, 3, 4, 2>;
//! let mut chip = [0xFFu8; 4096];
//! let mut flash = RamFlash::<4, 1024>(&mut chip);
//! let layout = Layout::new(
//!     Geometry::of::<RamFlash<4, 1024>>(),
//!     Region { start: 0, len: 4096 },
//!     Contents::of::<f32, Net>(false, 8),
//! )?;
//! let net = Net::identity_init(&mut Rng::new(1), 0.5);
//! let sgd = FusedSgd::<f32, Net, 1>::new(Sgd::new(0.01))?;
//! let counters = 7u64.to_le_bytes();
//! let cp = Checkpoint { net: &net, loss: LossKind::Quadratic, sgd: sgd.state(), velocity: None, payload: &counters };
//! checkpoint::save(&mut flash, &layout, &cp)?;
//! // After a reset: fresh objects, resumed.
//! let (mut back, mut payload) = (Net::identity(), [0u8; 8]);
//! let found = checkpoint::restore(&mut flash, &layout, &mut back, None, &mut payload)?.unwrap();
//! assert_eq!((back, found.sgd, payload), (net, sgd.state(), counters));
//! # Ok::<(), nearid::Error>(())
//! ```

mod image;
mod layout;
mod record;
mod stream;

pub use image::{Image, RamFlash};
pub use layout::{Contents, Geometry, Layout, Region};

use core::marker::PhantomData;

use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};

use crate::error::{FileError, FlashError};
use crate::file::{self, Architecture, Header, LossKind, Stored};
use crate::model::{Name, ZipVisitor};
use crate::{Error, Matrix, Result, SgdState, Trainable};
use layout::FIELDS;
use record::{Read, Record};
use stream::{CRC, Reader, Writer};

/// What [`save`] stores: borrowed, so nothing is copied.
#[derive(Clone, Copy, Debug)]
pub struct Checkpoint<'a, N> {
    /// The network.
    pub net: &'a N,
    /// The loss it trains with (recorded in the model file).
    pub loss: LossKind,
    /// The optimiser's steps and rounding state ([`crate::FusedSgd::state`],
    /// [`crate::BufferedSgd::state`]).
    pub sgd: SgdState,
    /// The momentum buffer ([`crate::BufferedSgd::velocity`]) when the layout stores one.
    pub velocity: Option<&'a N>,
    /// The application's own bytes, at most the layout's `payload_max`.
    pub payload: &'a [u8],
}

/// What a save did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Saved {
    /// The slot written.
    pub slot: u32,
    /// Its sequence number (the newest's + 1).
    pub sequence: u32,
    /// Erases of the slot's block so far.
    pub wear: u32,
    /// Whether this save erased the block.
    pub erased: bool,
}

/// Bytes of flash: `len` from offset `offset` of the flash driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Span {
    /// The first byte.
    pub offset: u32,
    /// Bytes.
    pub len: u32,
}

/// The newest valid checkpoint: where it is and what its record says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Found {
    /// Its slot.
    pub slot: u32,
    /// Its sequence number.
    pub sequence: u32,
    /// Erases of its block when it was saved.
    pub wear: u32,
    /// The optimiser state saved with it ([`crate::FusedSgd::set_state`]).
    pub sgd: SgdState,
    /// The loss its model file records.
    pub loss: LossKind,
    /// The model file: exactly [`crate::file::save`]'s bytes.
    pub model: Span,
    /// The velocity's model file, when stored.
    pub velocity: Option<Span>,
    /// The payload.
    pub payload: Span,
}

/// Saves `checkpoint` in the next slot (see the module docs). On `Ok` it is the newest valid
/// checkpoint; on `Err` the newest valid one before the call is untouched, and it or the new
/// one is what [`restore`] finds. Errors, before anything is written: [`Error::NonFinite`]
/// for a network or velocity that is not finite, [`Error::OutOfRange`] for a payload longer
/// than the layout's `payload_max` (or a shape the model file cannot describe, or 2^32 - 1
/// saves), [`FlashError::Layout`] for a layout of another flash or other contents; after:
/// [`FlashError::Read`], [`FlashError::Erase`], [`FlashError::Write`] from the flash, and
/// [`FlashError::Verify`] when the body does not read back as written.
///
/// Cost: it reads every slot's record and the newest checkpoint's body (to find it), checks
/// that the next slot is blank when it shares a block, erases at most one block, writes the
/// checkpoint, reads it back once.
pub fn save<F, T, N>(
    flash: &mut F,
    layout: &Layout,
    checkpoint: &Checkpoint<'_, N>,
) -> Result<Saved>
where
    F: NorFlash,
    T: Stored,
    N: Trainable<T> + Architecture,
{
    if Geometry::of::<F>() != layout.geometry || !fits_in(flash, layout) {
        return Err(Error::Flash(FlashError::Layout));
    }
    let contents = layout.contents;
    let velocity = checkpoint.velocity;
    if Contents::of::<T, N>(velocity.is_some(), contents.payload_max) != contents {
        return Err(Error::Flash(FlashError::Layout));
    }
    let payload = checkpoint.payload;
    if payload.len() > usize::from(contents.payload_max) || N::SHAPE.params() != Some(N::PARAMS) {
        return Err(Error::OutOfRange);
    }
    if !checkpoint.net.is_finite() || velocity.is_some_and(|v| !v.is_finite()) {
        return Err(Error::NonFinite);
    }
    let newest = newest(flash, layout, &Any)?.map(|(i, r, _)| (i, r));
    let sequence = match newest {
        Some((_, r)) => r.sequence.checked_add(1).ok_or(Error::OutOfRange)?,
        None => 1,
    };
    let (slot, erase, wear) = target(flash, layout, newest)?;
    if erase {
        let at = layout.block_address(slot / layout.slots_per_block);
        flash
            .erase(at, at + layout.block_bytes)
            .map_err(|_| Error::Flash(FlashError::Erase))?;
    }
    let body_crc = write_body(flash, layout, slot, checkpoint)?;
    let record = Record {
        sequence,
        wear,
        sgd: checkpoint.sgd,
        model_bytes: contents.model_bytes,
        velocity: contents.velocity,
        slot_bytes: layout.slot_bytes,
        payload_max: contents.payload_max,
        // At most payload_max, a u16.
        payload_len: payload.len() as u16,
        body_crc,
    };
    // Commit only to what the flash really holds.
    let body = layout.slot_address(slot) + layout.record_bytes;
    if body_crc_of(flash, body, body_bytes(layout, &record))? != body_crc {
        return Err(Error::Flash(FlashError::Verify));
    }
    commit(flash, layout, slot, &record)?;
    Ok(Saved {
        slot,
        sequence,
        wear,
        erased: erase,
    })
}

/// The slot the next save writes, whether its block must be erased first, and the wear its
/// record will carry (see the module docs).
#[inline(never)]
fn target<F: ReadNorFlash>(
    flash: &mut F,
    layout: &Layout,
    newest: Option<(u32, Record)>,
) -> Result<(u32, bool, u32)> {
    let per = layout.slots_per_block;
    let next_in_block = newest.and_then(|(i, _)| (i % per + 1 < per).then_some(i + 1));
    if let (Some(j), Some((_, r))) = (next_in_block, newest)
        && blank(flash, layout, j)?
    {
        return Ok((j, false, r.wear));
    }
    let block = newest.map_or(0, |(i, _)| (i / per + 1) % layout.blocks);
    let slot = block * per;
    let mut before = None;
    for j in slot..slot + per {
        if let Read::Valid(r) = read_record(flash, layout, j)? {
            before = Some(before.map_or(r.wear, |w: u32| w.max(r.wear)));
        }
    }
    // A block without a valid record (never used, or its records lost): blocks are erased in
    // turn, so it has been erased as often as the newest's block, or once less when it comes
    // later in the first lap.
    let estimate = match newest {
        Some((i, r)) if block > i / per => r.wear.saturating_sub(1),
        Some((_, r)) => r.wear,
        None => 0,
    };
    Ok((slot, true, before.unwrap_or(estimate).saturating_add(1)))
}

/// Writes the model file, the velocity's and the payload into slot `slot`'s body (erased) and
/// returns their CRC-32 as written.
#[inline(never)]
fn write_body<F: NorFlash, T: Stored, N: Trainable<T> + Architecture>(
    flash: &mut F,
    layout: &Layout,
    slot: u32,
    checkpoint: &Checkpoint<'_, N>,
) -> Result<u32> {
    let body = layout.slot_address(slot) + layout.record_bytes;
    let mut writer = Writer::new(flash, body, layout.unit);
    for net in core::iter::once(checkpoint.net).chain(checkpoint.velocity) {
        file::stream(net, checkpoint.loss, &mut |bytes| writer.put(bytes))?;
        writer.pad();
    }
    writer.put(checkpoint.payload);
    writer.finish()
}

/// The CRC-32 of `len` bytes of flash from `at`, read back.
#[inline(never)]
fn body_crc_of<F: ReadNorFlash>(flash: &mut F, at: u32, len: u32) -> Result<u32> {
    let mut back = Reader::new(flash, at, at + len);
    back.skip(len as usize).map_err(Error::Flash)?;
    Ok(back.crc())
}

/// Writes slot `slot`'s record: the fields, then the checksum in a word of its own.
#[inline(never)]
fn commit<F: NorFlash>(flash: &mut F, layout: &Layout, slot: u32, record: &Record) -> Result<()> {
    let at = layout.slot_address(slot);
    let (fields, crc) = record.encode();
    let mut writer = Writer::new(flash, at, layout.unit);
    writer.put(&fields);
    // The checksum's unit follows the fields' padding, in a write of its own after theirs.
    writer.sync();
    writer.put(&crc.to_le_bytes());
    writer.finish().map(|_| ())
}

/// The newest valid checkpoint of `layout`, or `None`: every slot's record, then the newest's
/// body (its CRC, both model files' headers and checksums); a slot that fails is passed over
/// for the next newest. Reads only; [`FlashError::Read`] if a read fails,
/// [`FlashError::Layout`] for a layout of another read size or beyond the flash.
pub fn find<F: ReadNorFlash>(flash: &mut F, layout: &Layout) -> Result<Option<Found>> {
    if layout.geometry.read != F::READ_SIZE as u32 || !fits_in(flash, layout) {
        return Err(Error::Flash(FlashError::Layout));
    }
    Ok(newest(flash, layout, &Any)?.map(|(slot, r, model)| found(layout, slot, &r, model.loss)))
}

/// Loads the newest valid checkpoint ([`find`]) into `net`, `velocity` (when given; `None`
/// skips a stored one) and `payload[..len]`, and returns what its record says, or `Ok(None)`
/// when no slot holds a valid checkpoint, with nothing written.
///
/// Everything is checked before anything is written: the slot as in [`find`], then that it
/// holds a network of type N in format T ([`crate::file::fits`]: [`Error::File`] with
/// [`FileError::Format`], [`FileError::Activation`] or [`FileError::Shape`]) with finite
/// values, and that `payload` can take the payload ([`FileError::BufferTooSmall`]).
/// [`FlashError::Layout`] for a layout of another read size or contents, or a `velocity` the
/// layout does not store. A read that fails while copying, after all that, is
/// [`FlashError::ReadDuringCopy`]: then (only then) the outputs are partly overwritten.
pub fn restore<F, T, N>(
    flash: &mut F,
    layout: &Layout,
    net: &mut N,
    velocity: Option<&mut N>,
    payload: &mut [u8],
) -> Result<Option<Found>>
where
    F: ReadNorFlash,
    T: Stored,
    N: Trainable<T> + Architecture,
{
    let stored_velocity = layout.contents.velocity;
    let ours = Contents::of::<T, N>(stored_velocity, layout.contents.payload_max);
    if layout.geometry.read != F::READ_SIZE as u32
        || !fits_in(flash, layout)
        || ours != layout.contents
        || (velocity.is_some() && !stored_velocity)
    {
        return Err(Error::Flash(FlashError::Layout));
    }
    let Some((slot, record, model)) = newest(flash, layout, &Typed::<T, N>(PhantomData))? else {
        return Ok(None);
    };
    let Some(payload) = payload.get_mut(..usize::from(record.payload_len)) else {
        return Err(Error::File(FileError::BufferTooSmall));
    };
    copy(flash, layout, slot, &record, net, velocity, payload)?;
    // A network that grows resumes at the depth it was saved at (`fits` checked the depth).
    net.set_active_depth(usize::from(model.active_depth))?;
    Ok(Some(found(layout, slot, &record, model.loss)))
}

/// The copying pass of [`restore`], over a slot [`newest`] checked.
#[inline(never)]
fn copy<F: ReadNorFlash, T: Stored, N: Trainable<T>>(
    flash: &mut F,
    layout: &Layout,
    slot: u32,
    record: &Record,
    net: &mut N,
    velocity: Option<&mut N>,
    payload: &mut [u8],
) -> Result<()> {
    let body = layout.slot_address(slot) + layout.record_bytes;
    let len = body_bytes(layout, record);
    let during_copy = |_| Error::Flash(FlashError::ReadDuringCopy);
    let mut reader = Reader::new(flash, body, body + len);
    copy_file(&mut reader, layout, Some(net)).map_err(during_copy)?;
    if record.velocity {
        copy_file(&mut reader, layout, velocity).map_err(during_copy)?;
    }
    reader.take(payload).map_err(during_copy)?;
    let n = payload.len() as u32;
    reader
        .skip((layout.up(n) - n) as usize)
        .map_err(during_copy)?;
    if reader.crc() != record.body_crc {
        // The flash read differently from the check a moment ago.
        return Err(Error::Flash(FlashError::ReadDuringCopy));
    }
    Ok(())
}

/// Whether the region lies within the flash.
fn fits_in<F: ReadNorFlash>(flash: &F, layout: &Layout) -> bool {
    let end = u64::from(layout.region.start) + u64::from(layout.region.len);
    end <= flash.capacity() as u64
}

/// Bytes of a slot's body as written: the model file(s) and the payload, each padded.
fn body_bytes(layout: &Layout, r: &Record) -> u32 {
    let files = if r.velocity { 2 } else { 1 };
    files * layout.up(r.model_bytes) + layout.up(u32::from(r.payload_len))
}

fn found(layout: &Layout, slot: u32, r: &Record, loss: LossKind) -> Found {
    let body = layout.slot_address(slot) + layout.record_bytes;
    let model = layout.up(r.model_bytes);
    let files = if r.velocity { 2 } else { 1 };
    Found {
        slot,
        sequence: r.sequence,
        wear: r.wear,
        sgd: r.sgd,
        loss,
        model: Span {
            offset: body,
            len: r.model_bytes,
        },
        velocity: r.velocity.then_some(Span {
            offset: body + model,
            len: r.model_bytes,
        }),
        payload: Span {
            offset: body + files * model,
            len: u32::from(r.payload_len),
        },
    }
}

/// The record of slot `i`.
#[inline(never)]
fn read_record<F: ReadNorFlash>(flash: &mut F, layout: &Layout, i: u32) -> Result<Read> {
    let at = layout.slot_address(i);
    let pad = layout.up(FIELDS) - FIELDS;
    let mut fields = [0u8; FIELDS as usize];
    let mut crc = [0u8; 4];
    let mut reader = Reader::new(flash, at, at + layout.record_bytes);
    reader.take(&mut fields).map_err(Error::Flash)?;
    reader.skip(pad as usize).map_err(Error::Flash)?;
    reader.take(&mut crc).map_err(Error::Flash)?;
    Ok(Record::decode(&fields, u32::from_le_bytes(crc), layout))
}

/// Whether every byte of slot `i` is erased.
fn blank<F: ReadNorFlash>(flash: &mut F, layout: &Layout, i: u32) -> Result<bool> {
    let at = layout.slot_address(i);
    let mut erased = true;
    Reader::new(flash, at, at + layout.slot_bytes)
        .each(layout.slot_bytes as usize, |piece| {
            erased &= piece.iter().all(|&b| b == 0xFF)
        })
        .map_err(Error::Flash)?;
    Ok(erased)
}

/// What a reader expects of the model files beyond their own consistency.
trait Expect {
    /// Whether the header suits (else the error to report).
    fn header(&self, header: &Header) -> Result<()>;
    /// Whether every value in `piece` (whole values, of a header [`Expect::header`] accepted)
    /// is usable.
    fn values(&self, piece: &[u8]) -> bool;
}

/// Any model file.
struct Any;

impl Expect for Any {
    fn header(&self, _: &Header) -> Result<()> {
        Ok(())
    }
    fn values(&self, _: &[u8]) -> bool {
        true
    }
}

/// A model file of a network N in format T, with finite values.
struct Typed<T, N>(PhantomData<(T, N)>);

impl<T: Stored, N: Architecture> Expect for Typed<T, N> {
    fn header(&self, header: &Header) -> Result<()> {
        file::fits::<T, N>(header)
    }
    fn values(&self, piece: &[u8]) -> bool {
        piece.chunks_exact(T::BYTES).all(|v| T::get(v).is_some())
    }
}

/// The valid slot with the highest (sequence, slot), its record and its model file's header. A slot whose record
/// checks out but whose body does not is passed over; one whose body checks out but does not
/// suit `expect` is an error (the newest checkpoint is of another network).
fn newest<F: ReadNorFlash, E: Expect>(
    flash: &mut F,
    layout: &Layout,
    expect: &E,
) -> Result<Option<(u32, Record, Header)>> {
    let mut below: Option<(u32, u32)> = None;
    loop {
        let mut best: Option<(u32, u32, Record)> = None;
        for i in 0..layout.slots() {
            if let Read::Valid(r) = read_record(flash, layout, i)? {
                let key = (r.sequence, i);
                if below.is_none_or(|b| key < b) && best.is_none_or(|(s, j, _)| key > (s, j)) {
                    best = Some((r.sequence, i, r));
                }
            }
        }
        let Some((sequence, i, r)) = best else {
            return Ok(None);
        };
        if let Some(model) = verify(flash, layout, i, &r, expect)? {
            return Ok(Some((i, r, model)));
        }
        below = Some((sequence, i));
    }
}

/// Reads slot `i`'s body: `Some(model header)` if it checks out (body CRC, each model file's header,
/// length and checksum, the velocity's header equal to the model's), `None` if not, and the
/// error of `expect` only for a body that checks out.
fn verify<F: ReadNorFlash, E: Expect>(
    flash: &mut F,
    layout: &Layout,
    i: u32,
    r: &Record,
    expect: &E,
) -> Result<Option<Header>> {
    let body = layout.slot_address(i) + layout.record_bytes;
    let len = body_bytes(layout, r);
    let mut reader = Reader::new(flash, body, body + len);
    let mut unsuitable = None;
    let Some(model) = check_file(&mut reader, layout, expect, &mut unsuitable)? else {
        return Ok(None);
    };
    if r.velocity {
        let velocity = check_file(&mut reader, layout, expect, &mut unsuitable)?;
        // A buffer's active depth is its own; the rest of its header is the network's.
        let active_depth = model.active_depth;
        if velocity.map(|v| Header { active_depth, ..v }) != Some(model) {
            return Ok(None);
        }
    }
    let payload = layout.up(u32::from(r.payload_len));
    reader.skip(payload as usize).map_err(Error::Flash)?;
    if reader.crc() != r.body_crc {
        return Ok(None);
    }
    match unsuitable {
        Some(e) => Err(e),
        None => Ok(Some(model)),
    }
}

/// Reads one model file and its padding: its header if it is consistent (header, length,
/// checksum), noting in `unsuitable` the first complaint of `expect`.
fn check_file<F: ReadNorFlash, E: Expect>(
    reader: &mut Reader<'_, F>,
    layout: &Layout,
    expect: &E,
    unsuitable: &mut Option<Error>,
) -> Result<Option<Header>> {
    let n = layout.contents.model_bytes;
    let mut h = [0u8; file::HEADER_BYTES];
    reader.take(&mut h).map_err(Error::Flash)?;
    let Ok(header) = file::parse_header(&h) else {
        return Ok(None);
    };
    if header.file_bytes() != Some(n as usize) {
        return Ok(None);
    }
    if let Err(e) = expect.header(&header) {
        unsuitable.get_or_insert(e);
    }
    let check_values = unsuitable.is_none();
    let mut digest = CRC.digest();
    digest.update(&h);
    let mut usable = true;
    let values = n as usize - file::HEADER_BYTES - file::CRC_BYTES;
    // The values start at offset 24 of a file that starts on a unit: each lies at a multiple
    // of its width from the reader's start, so no piece splits one.
    reader
        .each(values, |piece| {
            digest.update(piece);
            if check_values {
                usable &= expect.values(piece);
            }
        })
        .map_err(Error::Flash)?;
    let mut stored = [0u8; 4];
    reader.take(&mut stored).map_err(Error::Flash)?;
    if digest.finalize() != u32::from_le_bytes(stored) {
        return Ok(None);
    }
    if !usable {
        unsuitable.get_or_insert(Error::NonFinite);
    }
    reader
        .skip((layout.up(n) - n) as usize)
        .map_err(Error::Flash)?;
    Ok(Some(header))
}

/// Reads one model file (already checked) and its padding into `net`, or past it for `None`.
fn copy_file<F: ReadNorFlash, T: Stored, N: Trainable<T>>(
    reader: &mut Reader<'_, F>,
    layout: &Layout,
    net: Option<&mut N>,
) -> core::result::Result<(), FlashError> {
    let n = layout.contents.model_bytes;
    let Some(net) = net else {
        return reader.skip(layout.up(n) as usize);
    };
    reader.skip(file::HEADER_BYTES)?;
    struct Load<'r, 'f, F> {
        reader: &'r mut Reader<'f, F>,
        failed: Option<FlashError>,
    }
    impl<T: Stored, F: ReadNorFlash> ZipVisitor<T, 1> for Load<'_, '_, F> {
        fn tensors<const R: usize, const C: usize>(
            &mut self,
            _: Name,
            [t]: [&mut Matrix<T, R, C>; 1],
        ) {
            for v in t.iter_mut() {
                let mut bytes = [0u8; 8];
                let bytes = &mut bytes[..T::BYTES.min(8)];
                if self.failed.is_some() {
                    return;
                }
                match self.reader.take(bytes) {
                    // Checked finite before the copy began.
                    Ok(()) => *v = T::get(bytes).unwrap_or(T::ZERO),
                    Err(e) => self.failed = Some(e),
                }
            }
        }
    }
    let mut load = Load {
        reader: &mut *reader,
        failed: None,
    };
    N::visit_zip([net], &mut load);
    if let Some(e) = load.failed {
        return Err(e);
    }
    reader.skip(file::CRC_BYTES + (layout.up(n) - n) as usize)
}
