//! docs/GROWTH.md is what the code measures: the report is regenerated here (the same
//! deterministic runs `nearid verify growth` makes) and compared with the file, number for
//! number; `NEARID_BLESS=1 cargo test -p nearid-host --test growth_report` rewrites it and its
//! plots after a deliberate change. Beside the comparison, what the report rests on is
//! asserted whatever the figures: the compute is the sum of m over the steps, the fixed
//! variants keep their depth and the grown ones add one block per growth, an identity
//! insertion leaves every validation output's bits as they were (a random one does not),
//! every grown run grows, and Theorem 3 holds at every new layer where it is computed.

use nearid_host::growth_report::{TaskReport, Variant, markdown, measure, write_files};

const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs");

fn check_claims(t: &TaskReport) {
    let n = t.plan.steps;
    assert_eq!(t.runs.len(), 4, "{}", t.name);
    let identity = t.run(Variant::Identity);
    assert_eq!(
        t.budget,
        identity.at_steps(n).expect("identity at N").compute,
        "{}: C* is the identity-grown run's compute at N",
        t.name
    );
    for r in &t.runs {
        let name = format!("{} / {}", t.name, r.variant.name());
        assert_eq!(r.refused, 0, "{name}: refused steps");
        // Compute = the sum over the steps of m, at every validation point.
        for p in &r.points {
            let sum: u64 = r.depths[..p.step].iter().map(|&m| u64::from(m)).sum();
            assert_eq!(p.compute, sum, "{name}: compute at step {}", p.step);
        }
        // Every run is read at N steps and at C*.
        assert!(r.at_steps(n).is_some(), "{name}: no point at N");
        let at_c = r.at_compute(t.budget).expect("a point at C*");
        assert!(at_c.compute >= t.budget);
        assert_eq!(r.depths.len(), r.points.last().unwrap().step);
        match r.variant {
            Variant::Shallow => assert!(r.depths.iter().all(|&m| m == 1), "{name}"),
            Variant::Full => {
                assert!(
                    r.depths.iter().all(|&m| usize::from(m) == t.capacity),
                    "{name}"
                )
            }
            _ => {
                assert_eq!(r.depths[0], 1, "{name}: starts at 1");
                assert!(!r.events.is_empty(), "{name}: never grew");
                // m rises by one the step after each growth, and only then.
                let mut m = 1usize;
                let mut at = 0usize;
                for e in &r.events {
                    assert!(r.depths[at..e.step].iter().all(|&d| usize::from(d) == m));
                    assert_eq!(e.depth, m + 1, "{name}");
                    assert!((1..=m).contains(&e.position), "{name}: position");
                    (m, at) = (m + 1, e.step);
                }
                assert!(r.depths[at..].iter().all(|&d| usize::from(d) == m));
                assert!(m <= t.capacity);
            }
        }
        for e in &r.events {
            match r.variant {
                Variant::Identity => {
                    assert!(e.unchanged, "{name}: step {}: outputs changed", e.step);
                    assert_eq!(e.max_change, 0.0);
                    assert_eq!(e.val_before.to_bits(), e.val_after.to_bits());
                }
                _ => assert!(
                    !e.unchanged && e.max_change > 0.0,
                    "{name}: a random insertion left the function as it was"
                ),
            }
            assert!(e.w2_gradient > 0.0, "{name}: the new block has no gradient");
            if let Some(t3) = e.theorem3
                && let Some(bound) = t3.bound
            {
                // The theorem: >= 1; its proof, noise-free: >= 2 (docs/THEORY.md section 5).
                assert!(
                    t3.layer_gradient >= 2.0 * bound,
                    "{name}: step {}: ||D Q|| = {} below 2 x bound {bound}",
                    e.step,
                    t3.layer_gradient
                );
            }
        }
    }
}

#[test]
fn the_growth_report_is_what_the_code_measures_and_its_claims_hold() {
    let reports = measure(|_| ());
    assert_eq!(reports.len(), 3);
    for t in &reports {
        check_claims(t);
    }
    // The disc task computes Theorem 3 at every growth of both grown runs.
    let disc = &reports[0];
    for v in [Variant::Identity, Variant::Random] {
        assert!(
            disc.run(v).events.iter().all(|e| e.theorem3.is_some()),
            "disc: Theorem 3 missing"
        );
    }
    let fresh = markdown(&reports);
    let path = std::path::Path::new(DOCS).join("GROWTH.md");
    if std::env::var_os("NEARID_BLESS").is_some() {
        write_files(std::path::Path::new(DOCS), &reports).unwrap();
        return;
    }
    let doc = std::fs::read_to_string(&path).expect("docs/GROWTH.md exists");
    if doc != fresh {
        let line = doc
            .lines()
            .zip(fresh.lines())
            .find(|(a, b)| a != b)
            .map_or_else(
                || "(a different number of lines)".to_string(),
                |(a, b)| format!("file: {a}\nnow:  {b}"),
            );
        panic!(
            "docs/GROWTH.md is not what the code measures now; if the change is deliberate, \
             rewrite it with NEARID_BLESS=1. First difference:\n{line}"
        );
    }
}
