//! Power loss during a checkpoint save, on a simulated NOR flash ([`flash::SimFlash`]): a cut
//! before or during every word write and every unit erase of a save, for a table of
//! geometries (erase units smaller than a slot, about one, holding many; write words of 1, 4,
//! 8, 16 bytes; read words of 1, 4, 8; two and three blocks; f32 with momentum and Q4.12
//! without), at several points of a history (erased chip, next slot in a block, next block,
//! wrapping round). After each cut, `restore` must give exactly the checkpoint before the save
//! or exactly the new one, the newest valid slot must be byte for byte untouched, no word may
//! have been programmed twice without an erase, and a clean save afterwards must restore
//! exactly. Then chains of two and three cuts in a row before a clean save. All randomness is
//! seeded.

mod common;
mod flash;

use embedded_storage::nor_flash::NorFlash;
use flash::{Cut, SimFlash, State, bits};
use nearid::checkpoint::{self, Checkpoint, Contents, Found, Geometry, Layout, Region, Saved};
use nearid::file::{Architecture, LossKind, Stored};
use nearid::fixed::Q12;
use nearid::{Error, ResNet, Rng, SgdState, Trainable};

/// 17 parameters: a save is a few hundred bytes, so cutting at every word stays fast.
type Small = ResNet<f32, 2, 3, 1>;
/// 62 parameters in Q4.12.
type SmallQ = ResNet<Q12, 3, 4, 2>;

/// A checkpoint's contents, drawn from `seed`.
struct Content<N> {
    net: N,
    velocity: Option<N>,
    sgd: SgdState,
    payload: Vec<u8>,
}

impl<N> Content<N> {
    fn random<T: Stored>(seed: u64, velocity: bool, payload_max: u16) -> Self
    where
        N: Trainable<T>,
    {
        let mut rng = Rng::new(seed);
        let net = common::randomised(&N::zeros(), &mut rng, 0.5);
        let velocity = velocity.then(|| common::randomised(&N::zeros(), &mut rng, 0.1));
        let sgd = SgdState {
            steps: rng.next_u32(),
            rounding: rng.next_u32(),
        };
        let len = rng.next_u32() as usize % (usize::from(payload_max) + 1);
        let payload = (0..len).map(|_| rng.next_u32() as u8).collect();
        Self {
            net,
            velocity,
            sgd,
            payload,
        }
    }

    fn state<T: Stored>(&self) -> State
    where
        N: Trainable<T>,
    {
        State {
            params: bits(&self.net),
            velocity: self.velocity.as_ref().map(bits),
            sgd: self.sgd,
            payload: self.payload.clone(),
        }
    }

    fn save<F: NorFlash, T: Stored>(&self, flash: &mut F, layout: &Layout) -> nearid::Result<Saved>
    where
        N: Trainable<T> + Architecture,
    {
        let checkpoint = Checkpoint {
            net: &self.net,
            loss: LossKind::Quadratic,
            sgd: self.sgd,
            velocity: self.velocity.as_ref(),
            payload: &self.payload,
        };
        checkpoint::save(flash, layout, &checkpoint)
    }
}

/// What `restore` gives into fresh objects, as bits.
fn restored<F: NorFlash, T: Stored, N: Trainable<T> + Architecture>(
    flash: &mut F,
    layout: &Layout,
) -> Option<(State, Found)> {
    let (mut net, mut velocity, mut payload) = (N::zeros(), N::zeros(), [0u8; 64]);
    let stored = layout.contents.velocity;
    let found = checkpoint::restore(
        flash,
        layout,
        &mut net,
        stored.then_some(&mut velocity),
        &mut payload,
    )
    .expect("restore after a cut must not fail")?;
    let state = State {
        params: bits(&net),
        velocity: stored.then(|| bits(&velocity)),
        sgd: found.sgd,
        payload: payload[..found.payload.len as usize].to_vec(),
    };
    Some((state, found))
}

#[derive(Debug, Default)]
struct Tally {
    /// The layout: slot bytes, erase units per block, slots per block, blocks.
    layout: [u32; 4],
    /// Cut points tried (each a cut before or during one event of a save).
    cuts: u64,
    /// Of them, how many restored the checkpoint before the save, and how many the new one
    /// (a cut during the last word of the commit that happened to program all its bits).
    old: u64,
    new: u64,
    /// Chains of two or three cuts, and the cuts in them.
    chains: u64,
    chain_cuts: u64,
}

/// Every cut point of a save at several points of a history, then chains of cuts, for one
/// geometry (R, W, E) and `units` erase units.
fn cut_everywhere<T, N, const R: usize, const W: usize, const E: usize>(
    units: usize,
    velocity: bool,
    payload_max: u16,
    seed: u64,
) -> Tally
where
    T: Stored,
    N: Trainable<T> + Architecture,
{
    let layout = Layout::new(
        Geometry::of::<SimFlash<R, W, E>>(),
        Region {
            start: 0,
            len: (units * E) as u32,
        },
        Contents::of::<T, N>(velocity, payload_max),
    )
    .unwrap();
    let (slots, per) = (layout.slots() as usize, layout.slots_per_block() as usize);
    let mut histories = vec![0, 1, 2, per, per + 1, slots, slots + 1];
    histories.sort();
    histories.dedup();
    let content = |i: u64| Content::<N>::random(seed.wrapping_mul(7919) + i, velocity, payload_max);
    let mut tally = Tally {
        layout: [
            layout.slot_bytes(),
            layout.block_bytes() / E as u32,
            layout.slots_per_block(),
            layout.blocks(),
        ],
        ..Tally::default()
    };
    for &h in &histories {
        // The flash after h clean saves.
        let mut base = SimFlash::<R, W, E>::new(units, seed + h as u64);
        let mut last = None;
        for i in 0..h as u64 {
            let c = content(i);
            c.save(&mut base, &layout).unwrap();
            last = Some(c.state());
        }
        let old = restored::<_, T, N>(&mut base, &layout);
        assert_eq!(old.as_ref().map(|o| &o.0), last.as_ref(), "history {h}");
        let new = content(1000 + h as u64);
        let new_state = new.state();
        let mut probe = base.clone();
        let start = probe.events;
        new.save(&mut probe, &layout).unwrap();
        let events = probe.events - start;
        let cuts_before = tally.cuts;
        for k in 0..events {
            for cut in [Cut::Before(start + k), Cut::During(start + k)] {
                let mut f = base.clone();
                f.cut = cut;
                let result = new.save(&mut f, &layout);
                assert!(
                    matches!(result, Err(Error::Flash(_))),
                    "{cut:?} of {events}: {result:?}"
                );
                f.power_on();
                let got = restored::<_, T, N>(&mut f, &layout);
                let got_state = got.as_ref().map(|g| &g.0);
                if got_state == old.as_ref().map(|o| &o.0) {
                    tally.old += 1;
                } else if got_state == Some(&new_state) {
                    tally.new += 1;
                } else {
                    panic!("history {h}, {cut:?}: restored neither the old nor the new checkpoint");
                }
                if let Some((_, found)) = &old {
                    let at = layout.slot_address(found.slot) as usize;
                    let span = at..at + layout.slot_bytes() as usize;
                    assert!(
                        f.mem[span.clone()] == base.mem[span],
                        "history {h}, {cut:?}: the newest valid slot was touched"
                    );
                }
                // Power is back: a clean save works and is what restores.
                let after = content(2000 + k);
                let saved = after.save(&mut f, &layout).unwrap();
                let back = restored::<_, T, N>(&mut f, &layout).unwrap();
                assert_eq!(
                    back.0,
                    after.state(),
                    "history {h}, {cut:?}: the save after"
                );
                assert_eq!(
                    f.reprograms, 0,
                    "history {h}, {cut:?}: a word programmed twice"
                );
                // The recorded wear misses at most the erase of the one cut save.
                let block = saved.slot as usize / per;
                let units_per_block = layout.block_bytes() as usize / E;
                let real = f.wear[block * units_per_block..(block + 1) * units_per_block]
                    .iter()
                    .copied();
                for real in real {
                    assert!(
                        saved.wear <= real && real <= saved.wear + 1,
                        "history {h}, {cut:?}: wear recorded {}, real {real}",
                        saved.wear
                    );
                }
                tally.cuts += 1;
            }
        }
        assert_eq!(
            tally.cuts - cuts_before,
            2 * events,
            "every event cut, both ways"
        );
    }
    // Chains of two and three cuts in a row, each at a random point of its save, then a
    // clean save.
    let mut rng = Rng::new(seed ^ 0xC4A1);
    let h = (per + 1).min(slots);
    let mut base = SimFlash::<R, W, E>::new(units, seed ^ 0x5EED);
    for i in 0..h as u64 {
        content(i).save(&mut base, &layout).unwrap();
    }
    for chain in 0..60u64 {
        let mut f = base.clone();
        let mut before = restored::<_, T, N>(&mut f, &layout).map(|r| r.0);
        for link in 0..2 + chain % 2 {
            let new = content(3000 + 10 * chain + link);
            let mut probe = f.clone();
            let start = probe.events;
            new.save(&mut probe, &layout).unwrap();
            let k = start + rng.next_u64() % (probe.events - start);
            f.cut = if rng.next_u32().is_multiple_of(2) {
                Cut::Before(k)
            } else {
                Cut::During(k)
            };
            assert!(new.save(&mut f, &layout).is_err());
            f.power_on();
            let got = restored::<_, T, N>(&mut f, &layout).map(|r| r.0);
            assert!(
                got == before || got.as_ref() == Some(&new.state()),
                "chain {chain}, cut {link}: neither the checkpoint before nor the new one"
            );
            before = got;
            tally.chain_cuts += 1;
        }
        let last = content(4000 + chain);
        last.save(&mut f, &layout).unwrap();
        assert_eq!(
            restored::<_, T, N>(&mut f, &layout).map(|r| r.0),
            Some(last.state())
        );
        assert_eq!(f.reprograms, 0);
        tally.chains += 1;
    }
    tally
}

#[test]
fn a_cut_at_any_point_of_a_save_leaves_the_old_checkpoint_or_the_new_one() {
    // Read, write and erase sizes, erase units in the region, contents.
    let runs: Vec<(&str, Tally)> = vec![
        (
            "R1 W1 E64 x10 (units smaller than a slot), f32 + velocity",
            cut_everywhere::<f32, Small, 1, 1, 64>(10, true, 16, 1),
        ),
        (
            "R1 W4 E256 x4 (two units a slot), f32 + velocity",
            cut_everywhere::<f32, Small, 1, 4, 256>(4, true, 16, 2),
        ),
        (
            "R4 W4 E1024 x2 (nRF51-like pages, three slots a page), f32 + velocity",
            cut_everywhere::<f32, Small, 4, 4, 1024>(2, true, 16, 3),
        ),
        (
            "R1 W8 E4096 x2 (many slots a unit), f32 + velocity",
            cut_everywhere::<f32, Small, 1, 8, 4096>(2, true, 16, 4),
        ),
        (
            "R8 W16 E512 x3 (three blocks), f32 + velocity",
            cut_everywhere::<f32, Small, 8, 16, 512>(3, true, 16, 5),
        ),
        (
            "R1 W16 E2048 x2, Q4.12",
            cut_everywhere::<Q12, SmallQ, 1, 16, 2048>(2, false, 8, 6),
        ),
        (
            "R1 W1 E128 x6, Q4.12",
            cut_everywhere::<Q12, SmallQ, 1, 1, 128>(6, false, 8, 7),
        ),
        (
            "R1 W1 E131072 x2 (STM32F4-like sectors), f32 + velocity",
            cut_everywhere::<f32, Small, 1, 1, 131072>(2, true, 16, 8),
        ),
    ];
    let (mut cuts, mut chain_cuts) = (0, 0);
    for (name, t) in &runs {
        let [slot, units, slots, blocks] = t.layout;
        println!(
            "{name}: slot {slot} B, {units} erase units and {slots} slots a block, {blocks} blocks: \
             {} cut points ({} restored the old checkpoint, {} the new), {} chains of 2-3 cuts \
             ({} cuts)",
            t.cuts, t.old, t.new, t.chains, t.chain_cuts
        );
        assert_eq!(t.old + t.new, t.cuts);
        cuts += t.cuts;
        chain_cuts += t.chain_cuts;
    }
    println!("{cuts} cut points, and {chain_cuts} more in chains, in all");
}
