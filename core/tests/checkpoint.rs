//! Checkpoints in flash (`nearid::checkpoint`): resuming from one trains on to the same bits
//! as never stopping; the stored model file is `file::save`'s bytes; erased, garbage and
//! damaged flash gives the other slot or none, never a panic; a flash whose operations fail
//! leaves the newest slot intact; wear is counted; bad arguments are typed errors that write
//! nothing. (Power cuts: `powercut.rs`.)

mod common;
mod flash;

use embedded_storage::nor_flash::NorFlash;
use flash::{Op, SimFlash, bits};
use nearid::checkpoint::{
    self, Checkpoint, Contents, Found, Geometry, Image, Layout, RamFlash, Region,
};
use nearid::file::{self, Architecture, LossKind, Stored};
use nearid::fixed::{Q12, Q16, Rounding};
use nearid::{
    BufferedSgd, CrossEntropy, Error, FileError, FlashError, FusedSgd, LinearTask, Model, Net,
    ResNet, Rng, Scalar, Sgd, SgdState, Tanh, Trainable, Vector,
};

/// The firmware's networks: the mps2-an386's and the micro:bit's.
type M4f = ResNet<f32, 3, 16, 8>;
type Microbit = ResNet<Q12, 3, 16, 40>;

fn layout<F: NorFlash, T: Stored, N: Trainable<T>>(
    len: usize,
    velocity: bool,
    payload_max: u16,
) -> Layout {
    Layout::new(
        Geometry::of::<F>(),
        Region {
            start: 0,
            len: len as u32,
        },
        Contents::of::<T, N>(velocity, payload_max),
    )
    .unwrap()
}

/// One sample (batch of 1): the input and the target.
type Sample<T, const I: usize, Target> = ([Vector<T, I>; 1], [Target; 1]);

/// The optimiser under test, either kind.
enum Opt<T: Scalar, N: Trainable<T>, L> {
    Fused(FusedSgd<T, N, 1, L>),
    Buffered(BufferedSgd<T, N, 1, L>),
}

impl<T: Scalar, N: Trainable<T>, L> Opt<T, N, L> {
    fn new(config: Sgd<T>) -> Self {
        if config.momentum == T::ZERO {
            Opt::Fused(FusedSgd::new(config).unwrap())
        } else {
            Opt::Buffered(BufferedSgd::new(config).unwrap())
        }
    }
    fn state(&self) -> SgdState {
        match self {
            Opt::Fused(o) => o.state(),
            Opt::Buffered(o) => o.state(),
        }
    }
    fn velocity(&self) -> Option<&N> {
        match self {
            Opt::Fused(_) => None,
            Opt::Buffered(o) => Some(o.velocity()),
        }
    }
    fn resume(&mut self, state: SgdState, velocity: N) {
        match self {
            Opt::Fused(o) => o.set_state(state),
            Opt::Buffered(o) => o.set_state(state, velocity),
        }
    }
}

/// Trains `steps` steps of the stream from its start-th batch on.
fn train<T, N, L, const I: usize, const O: usize>(
    net: &mut N,
    opt: &mut Opt<T, N, L>,
    batches: &[Sample<T, I, L::Target>],
) where
    T: Scalar,
    N: Model<T, I, O>,
    L: nearid::Loss<T, O>,
{
    for (i, (x, y)) in batches.iter().enumerate() {
        let step = match opt {
            Opt::Fused(o) => o.step(net, x, y),
            Opt::Buffered(o) => o.step(net, x, y),
        };
        step.unwrap_or_else(|e| panic!("step {i}: {e:?}"));
    }
}

/// Trains n steps, checkpoints, trains k more (the run that never stopped); then restores
/// the checkpoint into fresh objects, resumes the data stream where the payload says, trains
/// k and compares every bit. Where the optimiser carries more than a step count (momentum,
/// stochastic rounding: `state_matters`) also checks that resuming the weights alone (a fresh
/// optimiser) ends elsewhere, so the comparison can fail.
fn resumes_to_the_bit<T, N, L, const I: usize, const O: usize>(
    what: &str,
    start: N,
    config: Sgd<T>,
    stream: &[Sample<T, I, L::Target>],
    n: usize,
    state_matters: bool,
) where
    T: Stored,
    N: Model<T, I, O> + Architecture,
    L: nearid::Loss<T, O>,
{
    let velocity = config.momentum != T::ZERO;
    type F<'a> = RamFlash<'a, 4, 1024>;
    let contents = Contents::of::<T, N>(velocity, 4);
    let mut chip = vec![0xFFu8; 64 * 1024];
    let layout = Layout::new(
        Geometry::of::<F>(),
        Region {
            start: 0,
            len: chip.len() as u32,
        },
        contents,
    )
    .unwrap();
    let mut flash = RamFlash::<4, 1024>(&mut chip);
    let (mut net, mut opt) = (start, Opt::<T, N, L>::new(config));
    train(&mut net, &mut opt, &stream[..n]);
    let position = (n as u32).to_le_bytes();
    let saved = checkpoint::save(
        &mut flash,
        &layout,
        &Checkpoint {
            net: &net,
            loss: LossKind::Quadratic,
            sgd: opt.state(),
            velocity: opt.velocity(),
            payload: &position,
        },
    )
    .unwrap();
    train(&mut net, &mut opt, &stream[n..]);

    let (mut back, mut back_velocity, mut payload) = (N::zeros(), N::zeros(), [0u8; 4]);
    let found = checkpoint::restore(
        &mut flash,
        &layout,
        &mut back,
        velocity.then_some(&mut back_velocity),
        &mut payload,
    )
    .unwrap()
    .unwrap();
    assert_eq!((found.slot, found.sequence), (saved.slot, saved.sequence));
    let mut resumed = Opt::<T, N, L>::new(config);
    resumed.resume(found.sgd, back_velocity);
    let mut weights_only = (back.clone(), Opt::<T, N, L>::new(config));
    let from = u32::from_le_bytes(payload) as usize;
    train(&mut back, &mut resumed, &stream[from..]);
    assert!(
        bits(&back) == bits(&net),
        "{what}: the resumed run differs from the one that never stopped"
    );
    assert_eq!(resumed.state(), opt.state(), "{what}");
    assert_eq!(
        resumed.velocity().map(bits),
        opt.velocity().map(bits),
        "{what}"
    );
    train(&mut weights_only.0, &mut weights_only.1, &stream[from..]);
    assert!(
        !state_matters || bits(&weights_only.0) != bits(&net),
        "{what}: resuming without the optimiser state gives the same bits, so the test cannot tell"
    );
}

fn regression_stream<T: Scalar>(steps: usize, seed: u64) -> Vec<Sample<T, 3, Vector<T, 3>>> {
    let mut task = LinearTask::<T, 3>::new(LinearTask::random_spd(0.5, 1.5, seed), 0.01, seed + 1);
    (0..steps).map(|_| task.batch::<1>()).collect()
}

#[test]
fn restoring_and_training_on_gives_the_same_bits_as_never_stopping() {
    let mut rng = Rng::new(11);
    let f32s = regression_stream::<f32>(120, 3);
    let q12s = regression_stream::<Q12>(120, 4);
    resumes_to_the_bit::<f32, M4f, nearid::Quadratic, 3, 3>(
        "f32, fused",
        M4f::identity_init(&mut rng, 0.5),
        Sgd::new(0.01),
        &f32s,
        60,
        false,
    );
    resumes_to_the_bit::<f32, M4f, nearid::Quadratic, 3, 3>(
        "f32, buffered with momentum",
        M4f::identity_init(&mut rng, 0.5),
        Sgd::new(0.005).with_momentum(0.9),
        &f32s,
        60,
        true,
    );
    let stochastic = Rounding::Stochastic { seed: 99 };
    resumes_to_the_bit::<Q12, Microbit, nearid::Quadratic, 3, 3>(
        "Q4.12 stochastic rounding, fused",
        Microbit::identity_init(&mut rng, 0.5),
        Sgd::new(Q12::from_f64(0.01)).with_rounding(stochastic),
        &q12s,
        60,
        true,
    );
    resumes_to_the_bit::<Q12, Microbit, nearid::Quadratic, 3, 3>(
        "Q4.12 stochastic rounding, buffered with momentum",
        Microbit::identity_init(&mut rng, 0.5),
        Sgd::new(Q12::from_f64(0.01))
            .with_momentum(Q12::from_f64(0.5))
            .with_rounding(stochastic),
        &q12s,
        60,
        true,
    );
    // A network with input and output layers, classifying.
    type Classifier = Net<f32, 4, 6, 8, 2, 3>;
    let mut data = Rng::new(5);
    let classes: Vec<([Vector<f32, 4>; 1], [usize; 1])> = (0..120)
        .map(|_| {
            let x = Vector::<f32, 4>::from_fn(|_, _| data.normal() as f32);
            let class = (x[0] > 0.0) as usize + (x[1] > 0.0) as usize;
            ([x], [class])
        })
        .collect();
    resumes_to_the_bit::<f32, Classifier, CrossEntropy, 4, 3>(
        "f32 Net, cross-entropy, buffered with momentum",
        Classifier::init(&mut rng, 0.5),
        Sgd::new(0.05).with_momentum(0.5),
        &classes,
        60,
        true,
    );
}

/// A RamFlash chip of `len` bytes with `saves` checkpoints of M4f saved, the last `newest`.
fn chip_with<const W: usize, const E: usize>(
    len: usize,
    saves: u64,
) -> (Vec<u8>, Layout, Vec<M4f>) {
    let mut chip = vec![0xFFu8; len];
    let layout = layout::<RamFlash<W, E>, f32, M4f>(len, false, 8);
    let mut nets = vec![];
    for i in 0..saves {
        let net = common::randomised(&M4f::zeros(), &mut Rng::new(i), 0.5);
        let cp = Checkpoint {
            net: &net,
            loss: LossKind::CrossEntropy,
            sgd: SgdState {
                steps: i as u32,
                rounding: 7,
            },
            velocity: None,
            payload: &[1, 2, 3],
        };
        checkpoint::save(&mut RamFlash::<W, E>(&mut chip), &layout, &cp).unwrap();
        nets.push(net);
    }
    (chip, layout, nets)
}

#[test]
fn the_stored_model_file_is_the_model_file_and_a_dump_gives_it_back() {
    let (chip, layout, nets) = chip_with::<4, 1024>(16 * 1024, 3);
    let found = checkpoint::find(&mut Image(&chip), &layout)
        .unwrap()
        .unwrap();
    let mut expected = vec![0u8; file::file_bytes::<f32, M4f>()];
    file::save(nets.last().unwrap(), LossKind::CrossEntropy, &mut expected).unwrap();
    let at = found.model.offset as usize;
    assert_eq!(&chip[at..at + found.model.len as usize], &expected[..]);
    assert_eq!(
        (found.sequence, found.loss, found.velocity),
        (3, LossKind::CrossEntropy, None)
    );
    // A dump of the region alone, at another offset of another flash.
    let mut dump = vec![0u8; 8192];
    dump.extend_from_slice(&chip);
    let moved = Layout::new(
        layout.geometry,
        Region {
            start: 8192,
            len: layout.region.len,
        },
        layout.contents,
    )
    .unwrap();
    let mut back = M4f::zeros();
    let again = checkpoint::restore(&mut Image(&dump), &moved, &mut back, None, &mut [0; 8])
        .unwrap()
        .unwrap();
    assert_eq!(again.sequence, 3);
    assert_eq!(&back, nets.last().unwrap());
    // What a tool does with the span: the model file loads as any .nid does.
    let at = again.model.offset as usize;
    let mut loaded = M4f::zeros();
    file::load(&mut loaded, &dump[at..at + again.model.len as usize]).unwrap();
    assert_eq!(&loaded, nets.last().unwrap());
}

#[test]
fn an_erased_chip_or_garbage_holds_no_checkpoint_and_nothing_panics() {
    let layout = layout::<RamFlash<4, 1024>, f32, M4f>(16 * 1024, true, 8);
    let start = common::randomised(&M4f::zeros(), &mut Rng::new(3), 0.5);
    let mut rng = Rng::new(17);
    let images: Vec<Vec<u8>> = [vec![0xFF; 16 * 1024], vec![0x00; 16 * 1024]]
        .into_iter()
        .chain((0..40).map(|_| (0..16 * 1024).map(|_| rng.next_u32() as u8).collect()))
        .collect();
    for image in &images {
        assert_eq!(checkpoint::find(&mut Image(image), &layout), Ok(None));
        let (mut net, mut velocity, mut payload) = (start, start, [5u8; 8]);
        let r = checkpoint::restore(
            &mut Image(image),
            &layout,
            &mut net,
            Some(&mut velocity),
            &mut payload,
        );
        assert_eq!(r, Ok(None));
        assert_eq!(
            (net, velocity, payload),
            (start, start, [5u8; 8]),
            "nothing written"
        );
    }
}

/// The bytes of a slot that its checksums cover: the record's fields and checksum, and the
/// body (per the layout in the module docs, unit 8 for these geometries).
fn covered(found: &Found, layout: &Layout, unit: u32) -> Vec<std::ops::Range<usize>> {
    let at = layout.slot_address(found.slot);
    let crc = at + 44u32.next_multiple_of(unit);
    let end = found.payload.offset + found.payload.len.next_multiple_of(unit);
    [at..at + 44, crc..crc + 4, found.model.offset..end]
        .into_iter()
        .map(|r| r.start as usize..r.end as usize)
        .collect()
}

#[test]
fn a_flipped_bit_in_the_newest_slot_falls_back_to_the_one_before() {
    // Two blocks of one slot each (1 KiB units; the M4f checkpoint takes 4 of them).
    let (chip, layout, nets) = chip_with::<4, 1024>(10 * 1024, 2);
    assert_eq!((layout.blocks(), layout.slots_per_block()), (2, 1));
    let newest = checkpoint::find(&mut Image(&chip), &layout)
        .unwrap()
        .unwrap();
    let ranges = covered(&newest, &layout, 8);
    let at = layout.slot_address(newest.slot) as usize;
    let mut rng = Rng::new(23);
    let (mut fell_back, mut kept) = (0, 0);
    for byte in at..at + layout.slot_bytes() as usize {
        let mut damaged = chip.clone();
        damaged[byte] ^= 1 << (rng.next_u32() % 8);
        let mut net = M4f::zeros();
        let found = checkpoint::restore(&mut Image(&damaged), &layout, &mut net, None, &mut [0; 8])
            .unwrap()
            .unwrap();
        if ranges.iter().any(|r| r.contains(&byte)) {
            assert_eq!(
                (found.sequence, &net),
                (1, &nets[0]),
                "byte {byte}: checked"
            );
            fell_back += 1;
        } else {
            // Padding and the unused payload room: not part of the checkpoint.
            assert_eq!(
                (found.sequence, &net),
                (2, &nets[1]),
                "byte {byte}: padding"
            );
            kept += 1;
        }
    }
    assert!(
        fell_back > 3600 && kept > 0,
        "{fell_back} checked bytes, {kept} padding"
    );
    // Damage in both slots: nothing valid is left.
    let older = checkpoint::find(&mut Image(&chip), &layout)
        .unwrap()
        .unwrap()
        .slot
        ^ 1;
    let mut damaged = chip.clone();
    damaged[newest.model.offset as usize + 100] ^= 0x10;
    damaged[layout.slot_address(older) as usize + 200] ^= 0x01;
    assert_eq!(checkpoint::find(&mut Image(&damaged), &layout), Ok(None));
}

#[test]
fn records_that_check_out_but_do_not_fit_are_passed_over() {
    let (chip, layout, nets) = chip_with::<4, 1024>(10 * 1024, 2);
    let newest = checkpoint::find(&mut Image(&chip), &layout)
        .unwrap()
        .unwrap();
    let at = layout.slot_address(newest.slot) as usize;
    let reseal = |chip: &mut Vec<u8>| {
        let sum = file::checksum(&chip[at..at + 44]);
        chip[at + 48..at + 52].copy_from_slice(&sum.to_le_bytes());
    };
    let cases: [(&str, usize, u8); 4] = [
        ("payload longer than its room", at + 34, 9),
        ("another payload room", at + 32, 9),
        ("another slot size", at + 28, 0x20),
        ("an unknown flag", at + 6, 2),
    ];
    for (what, byte, value) in cases {
        let mut lying = chip.clone();
        lying[byte] = value;
        reseal(&mut lying);
        let mut net = M4f::zeros();
        let found = checkpoint::restore(&mut Image(&lying), &layout, &mut net, None, &mut [0; 8]);
        assert_eq!(found.unwrap().map(|f| f.sequence), Some(1), "{what}");
        assert_eq!(net, nets[0], "{what}");
    }
    // A body whose checksums all check out but whose model file header does not.
    let mut lying = chip.clone();
    let model = newest.model.offset as usize;
    lying[model] = b'X';
    let body_end = newest.payload.offset as usize + 8;
    let body_crc = file::checksum(&lying[model..body_end]);
    lying[at + 36..at + 40].copy_from_slice(&body_crc.to_le_bytes());
    reseal(&mut lying);
    assert_eq!(
        checkpoint::find(&mut Image(&lying), &layout)
            .unwrap()
            .map(|f| f.sequence),
        Some(1)
    );
}

/// Saves with the n-th flash operation failing, for every n; then restores with every read
/// failing in turn.
#[test]
fn a_flash_that_fails_leaves_the_newest_slot_intact_and_says_so() {
    type F = SimFlash<1, 4, 1024>;
    let layout = layout::<F, f32, M4f>(16 * 1024, true, 8);
    let net = |seed| common::randomised(&M4f::zeros(), &mut Rng::new(seed), 0.5);
    let save = |f: &mut F, n: &M4f| {
        let cp = Checkpoint {
            net: n,
            loss: LossKind::Quadratic,
            sgd: SgdState {
                steps: 1,
                rounding: 2,
            },
            velocity: Some(n),
            payload: &[9; 8],
        };
        checkpoint::save(f, &layout, &cp)
    };
    let restore = |f: &mut F| {
        let (mut n, mut v, mut p) = (M4f::zeros(), M4f::zeros(), [0u8; 8]);
        checkpoint::restore(f, &layout, &mut n, Some(&mut v), &mut p).map(|r| (r, n, v))
    };
    let (old, new) = (net(1), net(2));
    let mut base = F::new(16, 1);
    save(&mut base, &net(0)).unwrap();
    save(&mut base, &old).unwrap();
    let newest = checkpoint::find(&mut base, &layout).unwrap().unwrap();
    let span = {
        let at = layout.slot_address(newest.slot) as usize;
        at..at + layout.slot_bytes() as usize
    };
    let mut probe = base.clone();
    let first = probe.calls;
    save(&mut probe, &new).unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for n in first..probe.calls {
        let mut f = base.clone();
        f.fail_call = Some(n);
        let result = save(&mut f, &new);
        let expected = match f.failed.unwrap() {
            Op::Read => FlashError::Read,
            Op::Write => FlashError::Write,
            Op::Erase => FlashError::Erase,
        };
        assert_eq!(result, Err(Error::Flash(expected)), "call {n}");
        kinds.insert(format!("{expected:?}"));
        assert!(
            f.mem[span.clone()] == base.mem[span.clone()],
            "call {n}: newest slot touched"
        );
        f.power_on();
        let (found, back, _) = restore(&mut f).unwrap();
        let found = found.unwrap();
        // Only the commit's own write can fail after the new checkpoint is complete.
        assert!(
            (found.sequence, &back) == (2, &old) || (found.sequence, &back) == (3, &new),
            "call {n}"
        );
    }
    assert_eq!(
        kinds.len(),
        3,
        "reads, writes and erases all failed once: {kinds:?}"
    );
    // Restores: a read that fails before the copy writes nothing; one during it says so.
    let mut probe = base.clone();
    let first = probe.calls;
    restore(&mut probe).unwrap();
    let (mut before_copy, mut during_copy) = (0, 0);
    for n in first..probe.calls {
        let mut f = base.clone();
        f.fail_call = Some(n);
        let start = net(7);
        let (mut out, mut velocity, mut payload) = (start, start, [0u8; 8]);
        let r = checkpoint::restore(&mut f, &layout, &mut out, Some(&mut velocity), &mut payload);
        match r {
            Err(Error::Flash(FlashError::Read)) => {
                assert_eq!((out, velocity, payload), (start, start, [0; 8]), "call {n}");
                before_copy += 1;
            }
            Err(Error::Flash(FlashError::ReadDuringCopy)) => during_copy += 1,
            other => panic!("call {n}: {other:?}"),
        }
        f.power_on();
        assert_eq!(restore(&mut f).unwrap().1, old);
    }
    assert!(
        before_copy > 0 && during_copy > 0,
        "{before_copy}, {during_copy}"
    );
}

#[test]
fn wear_is_the_erases_of_each_block() {
    type F = SimFlash<1, 4, 512>;
    // Three blocks of one unit; the Q4.12 network's checkpoint takes 208 B: 2 slots a block.
    type Q = ResNet<Q12, 3, 4, 2>;
    let layout = layout::<F, Q12, Q>(3 * 512, false, 0);
    assert_eq!((layout.blocks(), layout.slots_per_block()), (3, 2));
    let units = layout.block_bytes() as usize / 512;
    let mut f = F::new(3, 1);
    let net = Q::zeros();
    for i in 1..=20u32 {
        let cp = Checkpoint {
            net: &net,
            loss: LossKind::Quadratic,
            sgd: SgdState {
                steps: i,
                rounding: 0,
            },
            velocity: None,
            payload: &[],
        };
        let saved = checkpoint::save(&mut f, &layout, &cp).unwrap();
        let block = saved.slot as usize / 2;
        for real in &f.wear[block * units..(block + 1) * units] {
            assert_eq!(saved.wear, *real, "save {i}");
        }
        // Every slot in turn; a block erased when a save enters it.
        assert_eq!(saved.slot, (i - 1) % 6);
        assert_eq!(saved.erased, saved.slot % 2 == 0);
        assert_eq!(
            checkpoint::find(&mut f, &layout).unwrap().unwrap().wear,
            saved.wear
        );
    }
    assert_eq!(layout.saves_per_erase(), 6);
    assert_eq!(f.reprograms, 0);
}

#[test]
fn bad_arguments_are_typed_errors_that_write_nothing() {
    type F<'a> = RamFlash<'a, 4, 1024>;
    let layout = layout::<F, f32, M4f>(16 * 1024, false, 8);
    let mut chip = vec![0xFFu8; 16 * 1024];
    let good = common::randomised(&M4f::zeros(), &mut Rng::new(1), 0.5);
    let cp = |net, payload| Checkpoint {
        net,
        loss: LossKind::Quadratic,
        sgd: SgdState {
            steps: 0,
            rounding: 0,
        },
        velocity: None,
        payload,
    };
    let mut nan = good;
    nan.blocks[3].w2[(1, 2)] = f32::NAN;
    let with_velocity = Checkpoint {
        velocity: Some(&good),
        ..cp(&good, &[])
    };
    let cases: [(&str, Checkpoint<'_, M4f>, Error); 3] = [
        ("a NaN weight", cp(&nan, &[]), Error::NonFinite),
        (
            "a payload over its room",
            cp(&good, &[0; 9]),
            Error::OutOfRange,
        ),
        (
            "a velocity the layout has no room for",
            with_velocity,
            Error::Flash(FlashError::Layout),
        ),
    ];
    for (what, c, e) in cases {
        assert_eq!(
            checkpoint::save(&mut RamFlash::<4, 1024>(&mut chip), &layout, &c),
            Err(e),
            "{what}"
        );
        assert!(
            chip.iter().all(|&b| b == 0xFF),
            "{what}: the flash was written"
        );
    }
    // A layout of another flash, or beyond this one.
    let other = self::layout::<RamFlash<8, 1024>, f32, M4f>(16 * 1024, false, 8);
    assert_eq!(
        checkpoint::save(&mut RamFlash::<4, 1024>(&mut chip), &other, &cp(&good, &[])),
        Err(Error::Flash(FlashError::Layout))
    );
    let big = self::layout::<F, f32, M4f>(32 * 1024, false, 8);
    assert_eq!(
        checkpoint::save(&mut RamFlash::<4, 1024>(&mut chip), &big, &cp(&good, &[])),
        Err(Error::Flash(FlashError::Layout))
    );
    assert_eq!(
        checkpoint::find(&mut Image(&chip), &big),
        Err(Error::Flash(FlashError::Layout))
    );
    assert!(chip.iter().all(|&b| b == 0xFF));
    // Restores into the wrong network, or a payload buffer too small: nothing written.
    checkpoint::save(
        &mut RamFlash::<4, 1024>(&mut chip),
        &layout,
        &cp(&good, &[1, 2, 3]),
    )
    .unwrap();
    let same_bytes =
        |contents: Contents| Layout::new(layout.geometry, layout.region, contents).unwrap();
    fn refuses<T: Stored, N: Trainable<T> + Architecture + PartialEq + std::fmt::Debug>(
        chip: &[u8],
        layout: &Layout,
        error: Error,
    ) {
        let start = N::zeros();
        let (mut net, mut payload) = (start.clone(), [7u8; 8]);
        let r = checkpoint::restore(&mut Image(chip), layout, &mut net, None, &mut payload);
        assert_eq!(r, Err(error));
        assert_eq!((net, payload), (start, [7; 8]));
    }
    // D = 16, H = 3: 920 parameters too, the same file length, another shape.
    refuses::<f32, ResNet<f32, 16, 3, 8>>(&chip, &layout, Error::File(FileError::Shape));
    refuses::<f32, ResNet<f32, 3, 16, 8, Tanh>>(&chip, &layout, Error::File(FileError::Activation));
    refuses::<Q16, ResNet<Q16, 3, 16, 8>>(&chip, &layout, Error::File(FileError::Format));
    // A network of another file length: refused by the layout made for this one, and with a
    // layout of its own no record fits it.
    refuses::<f32, ResNet<f32, 3, 16, 7>>(&chip, &layout, Error::Flash(FlashError::Layout));
    let other = same_bytes(Contents::of::<f32, ResNet<f32, 3, 16, 7>>(false, 8));
    let mut net = ResNet::<f32, 3, 16, 7>::zeros();
    assert_eq!(
        checkpoint::restore(&mut Image(&chip), &other, &mut net, None, &mut [0; 8]),
        Ok(None)
    );
    let (mut net, mut small) = (M4f::zeros(), [0u8; 2]);
    assert_eq!(
        checkpoint::restore(&mut Image(&chip), &layout, &mut net, None, &mut small),
        Err(Error::File(FileError::BufferTooSmall))
    );
    assert_eq!((net, small), (M4f::zeros(), [0, 0]));
}

#[test]
fn layouts_that_cannot_work_are_refused() {
    let contents = Contents::of::<f32, M4f>(false, 8);
    let region = |start, len| Region { start, len };
    let g = |read, write, erase| Geometry { read, write, erase };
    let cases = [
        ("write size 3", g(1, 3, 1024), region(0, 16384)),
        ("write size 128", g(1, 128, 1024), region(0, 16384)),
        ("read size 0", g(0, 4, 1024), region(0, 16384)),
        ("erase size 0", g(1, 4, 0), region(0, 16384)),
        ("erase not whole words", g(1, 8, 1028), region(0, 16448)),
        (
            "region not on an erase unit",
            g(1, 4, 1024),
            region(512, 16384),
        ),
        (
            "region length not whole units",
            g(1, 4, 1024),
            region(0, 16000),
        ),
        ("room for one block", g(1, 4, 1024), region(0, 7168)),
        ("past 4 GiB", g(1, 4, 1024), region(u32::MAX - 1023, 16384)),
    ];
    for (what, geometry, region) in cases {
        assert_eq!(
            Layout::new(geometry, region, contents),
            Err(Error::Flash(FlashError::Layout)),
            "{what}"
        );
    }
    assert!(Layout::new(g(1, 4, 1024), region(0, 8192), contents).is_ok());
}

/// The flash one checkpoint of each firmware network takes, on the boards' geometries.
#[test]
fn the_firmware_checkpoints_fit_their_flash() {
    let boards = [
        (
            "nRF51 (micro:bit): 1 KiB pages, 4-byte words",
            g(4, 1024),
            64 * 1024,
        ),
        ("RP2040: 4 KiB sectors", g(4, 4096), 64 * 1024),
        (
            "STM32F411: 128 KiB sectors, byte writes",
            g(1, 128 * 1024),
            256 * 1024,
        ),
    ];
    fn g(write: u32, erase: u32) -> Geometry {
        Geometry {
            read: 1,
            write,
            erase,
        }
    }
    for (net, contents) in [
        ("ResNet<f32, 3, 16, 8>", Contents::of::<f32, M4f>(false, 16)),
        (
            "ResNet<Q12, 3, 16, 40>",
            Contents::of::<Q12, Microbit>(false, 16),
        ),
        (
            "ResNet<f32, 3, 16, 8> with momentum",
            Contents::of::<f32, M4f>(true, 16),
        ),
    ] {
        for (board, geometry, len) in boards {
            let layout = Layout::new(geometry, Region { start: 0, len }, contents).unwrap();
            // Record (48 + a word for its checksum), the model file(s), the payload.
            let unit = 8.max(geometry.write);
            let files = if contents.velocity { 2 } else { 1 };
            assert_eq!(
                layout.slot_bytes(),
                48u32.next_multiple_of(unit)
                    + unit
                    + files * contents.model_bytes.next_multiple_of(unit)
                    + 16u32.next_multiple_of(unit)
            );
            println!(
                "{net} on {board}, region {} KiB: model file {} B, slot {} B, {} blocks of {} B, \
                 {} slots a block, each unit erased once per {} saves",
                len / 1024,
                contents.model_bytes,
                layout.slot_bytes(),
                layout.blocks(),
                layout.block_bytes(),
                layout.slots_per_block(),
                layout.saves_per_erase()
            );
        }
    }
}

/// A grown network (m of M blocks active) comes back from flash with its m: the blocks past
/// m stay out of the forward pass after a power cut, as before it.
#[test]
fn a_checkpoint_keeps_the_active_depth_of_a_grown_network() {
    let mut chip = vec![0xFFu8; 16 * 1024];
    let layout = layout::<RamFlash<4, 1024>, f32, M4f>(chip.len(), false, 8);
    let mut net = M4f::zeros();
    net.set_active_depth(2).unwrap();
    for _ in 0..3 {
        net.grow(net.active_depth(), &mut Rng::new(4), 0.5).unwrap();
    }
    let net = common::randomised(&net, &mut Rng::new(5), 0.5);
    assert_eq!(net.active_depth(), 5);
    let cp = Checkpoint {
        net: &net,
        loss: LossKind::Quadratic,
        sgd: SgdState {
            steps: 9,
            rounding: 0,
        },
        velocity: None,
        payload: &[],
    };
    checkpoint::save(&mut RamFlash::<4, 1024>(&mut chip), &layout, &cp).unwrap();
    let mut back = M4f::zeros(); // all 8 active
    checkpoint::restore(&mut Image(&chip), &layout, &mut back, None, &mut [0; 8])
        .unwrap()
        .unwrap();
    assert_eq!(back.active_depth(), 5);
    assert_eq!(back, net);
    let x = [Vector::from_fn(|i, _| 0.3 * i as f32 - 0.2)];
    assert_eq!(back.apply_batch(&x), net.apply_batch(&x));
}
