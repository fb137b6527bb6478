//! Property tests of the readers behind `nearid decompose` (`npy::parse_npy`, `parse_npy_stack`,
//! `parse_array`, `csv::parse_csv`) on random and malformed input: random bytes, headers built
//! from good and bad pieces (dtypes, keys, shapes up to 2^64, data of any length), and valid
//! files mutated byte by byte. Every call must return: no panic, no allocation beyond the input's
//! size (a shape of 2^61 with no data would abort or take minutes), an error that is one line of
//! at most 200 characters, and an `Ok` whose sizes agree with the header and whose entries are
//! finite. Round trips check that what the writer writes reads back bit for bit.
//!
//! 256 cases per property, well under a second in the test profile.

use nalgebra::DMatrix;
use nearid_host::{csv, npy};
use proptest::prelude::*;

/// An error is one line of text, short enough to read.
fn one_line(e: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !e.contains('\n') && !e.is_empty() && e.chars().count() <= 200,
        "{e:?}"
    );
    Ok(())
}

/// What every reader promises on any bytes.
fn check_readers(bytes: &[u8]) -> Result<(), TestCaseError> {
    match npy::parse_array(bytes) {
        Ok(a) => {
            let count = a
                .header
                .shape
                .iter()
                .try_fold(1usize, |p, &n| p.checked_mul(n));
            prop_assert_eq!(Some(a.values.len()), count);
            let count = a.values.len();
            prop_assert_eq!(
                bytes.len() - a.header.data_offset,
                count * a.header.dtype.size
            );
        }
        Err(e) => one_line(&e)?,
    }
    match npy::parse_npy(bytes) {
        Ok(m) => {
            prop_assert!(m.nrows() > 0 && m.ncols() > 0);
            prop_assert!(m.nrows() * m.ncols() <= bytes.len());
            prop_assert!(m.iter().all(|v| v.is_finite()));
        }
        Err(e) => one_line(&e)?,
    }
    match npy::parse_npy_stack(bytes) {
        Ok(ms) => {
            prop_assert!(ms.len() <= bytes.len());
            prop_assert!(ms.iter().all(|m| m.nrows() == m.ncols() && m.nrows() > 0));
        }
        Err(e) => one_line(&e)?,
    }
    Ok(())
}

/// Sizes: mostly small, some that break careless arithmetic, some not sizes at all.
fn dimension() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0u64..6).prop_map(|n| n.to_string()),
        2 => prop::sample::select(vec![
            "4294967296",
            "2305843009213693952",
            "1152921504606846976",
            "9223372036854775807",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999999999",
        ])
        .prop_map(str::to_owned),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        // Products of powers of two wrap to exactly 0 in unchecked arithmetic.
        3 => (30u32..64).prop_map(|k| (1u64 << k).to_string()),
        1 => prop::sample::select(vec!["-1", "-0", "2.0", "None", "'3'", "(2,)", "1_0"])
            .prop_map(str::to_owned),
    ]
}

fn shape() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::collection::vec(dimension(), 0..5).prop_map(|d| match d.len() {
            1 => format!("({},)", d[0]),
            _ => format!("({})", d.join(", ")),
        }),
        1 => prop::sample::select(vec!["[2, 2]", "'(2, 2)'", "(2, 2", "(2 2)", "((2, 2))"])
            .prop_map(str::to_owned),
    ]
}

fn descr() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "'<f8'", "'>f8'", "'<f4'", "'>f4'", "'<i8'", "'>i4'", "'<i2'", "'|i1'", "'|u1'",
            "'>u8'", "'=f8'", "'f8'",
        ]),
        1 => prop::sample::select(vec![
            "'<f2'", "'<c16'", "'|b1'", "'<U8'", "'O'", "''", "'<'", "'<f16'", "'<i3'",
            "[('x', '<f8')]", "3", "'<f8",
        ]),
    ]
    .prop_map(str::to_owned)
}

fn fortran() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["True", "False"]),
        1 => prop::sample::select(vec!["1", "None", "'False'", "Fals"]),
    ]
    .prop_map(str::to_owned)
}

/// A header dict from good and bad pieces: mostly the three keys in order, sometimes shuffled,
/// missing, doubled or with an extra key.
fn header() -> impl Strategy<Value = String> {
    let order = prop_oneof![
        4 => Just(vec![0usize, 1, 2]),
        1 => prop::collection::vec(0usize..5, 0..5),
    ];
    (descr(), fortran(), shape(), order, any::<bool>()).prop_map(
        |(d, f, s, order, trailing_comma)| {
            let entries = [
                format!("'descr': {d}"),
                format!("'fortran_order': {f}"),
                format!("'shape': {s}"),
                "'extra': 0".to_owned(),
                format!("\"shape\": {s}"),
            ];
            let picked: Vec<&str> = order.iter().map(|&k| entries[k].as_str()).collect();
            let comma = if trailing_comma { ", " } else { "" };
            format!("{{{}{comma}}}", picked.join(", "))
        },
    )
}

/// magic, version, header length (mostly the true one), header, data: random bytes, or as many
/// as the header asks for when that is under 4 KiB (so that the data checks are reached too),
/// or none when that count overflows.
fn npy_file() -> impl Strategy<Value = Vec<u8>> {
    let version = prop_oneof![
        6 => prop::sample::select(vec![(1u8, 0u8), (2, 0), (3, 0)]),
        1 => prop::sample::select(vec![(1u8, 1u8), (0, 0), (4, 0), (255, 0)]),
    ];
    let declared = prop_oneof![6 => Just(None), 1 => (0usize..2000).prop_map(Some)];
    let fit = prop_oneof![2 => Just(true), 1 => Just(false)];
    (
        version,
        header(),
        prop::collection::vec(any::<u8>(), 0..300),
        declared,
        fit,
    )
        .prop_map(|((major, minor), header, data, declared, fit)| {
            let mut out = npy::MAGIC.to_vec();
            out.extend_from_slice(&[major, minor]);
            let len = declared.unwrap_or(header.len());
            if major == 1 {
                out.extend_from_slice(&(len as u16).to_le_bytes());
            } else {
                out.extend_from_slice(&(len as u32).to_le_bytes());
            }
            out.extend_from_slice(header.as_bytes());
            // The byte count the header asks for: None when the header is bad, Some(None)
            // when the count overflows (then no data: unchecked arithmetic would wrap to a
            // small count, often 0, and accept it).
            let needed = npy::parse_header(&out).ok().map(|h| {
                h.shape
                    .iter()
                    .try_fold(h.dtype.size, |a, &n| a.checked_mul(n))
            });
            match needed {
                Some(Some(n)) if fit && n < 4096 => out
                    .extend((0..n).map(|i| data.get(i % data.len().max(1)).copied().unwrap_or(0))),
                Some(None) if fit => {}
                _ => out.extend_from_slice(&data),
            }
            out
        })
}

/// A valid file of a small finite matrix, as NumPy would write it (`npy_bytes` of one matrix,
/// relabelled 2-D).
fn valid_file() -> impl Strategy<Value = Vec<u8>> {
    (1usize..5).prop_flat_map(|d| {
        prop::collection::vec(-1e6f64..1e6, d * d).prop_map(move |v| {
            let m = DMatrix::from_row_slice(d, d, &v);
            let bytes = npy::npy_bytes(&[m], d);
            let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
            let text = String::from_utf8(bytes[10..10 + len].to_vec()).unwrap();
            let relabelled = text.replace(&format!("(1, {d}, {d})"), &format!("({d}, {d})"));
            let relabelled = format!("{:width$}", relabelled.trim_end(), width = len - 1) + "\n";
            [&bytes[..10], relabelled.as_bytes(), &bytes[10 + len..]].concat()
        })
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Remove(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len();
    match *m {
        Mutation::Set(i, b) if n > 0 => bytes[i % n] = b,
        Mutation::Truncate(i) => bytes.truncate(i % (n + 1)),
        Mutation::Insert(i, b) => bytes.insert(i % (n + 1), b),
        Mutation::Remove(i) if n > 0 => {
            bytes.remove(i % n);
        }
        _ => {}
    }
}

proptest! {
    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check_readers(&bytes)?;
        let with_magic = [&npy::MAGIC[..], &bytes].concat();
        check_readers(&with_magic)?;
    }

    #[test]
    fn headers_from_good_and_bad_pieces(bytes in npy_file()) {
        check_readers(&bytes)?;
    }

    #[test]
    fn valid_files_read_back_and_survive_mutations(
        file in valid_file(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let m = npy::parse_npy(&file).map_err(TestCaseError::fail)?;
        prop_assert!(m.nrows() == m.ncols());
        let mut bytes = file.clone();
        for mutation in &mutations {
            apply(&mut bytes, mutation);
        }
        check_readers(&bytes)?;
    }

    /// What the tool writes reads back bit for bit (any finite f64, including subnormals and
    /// signed zeros).
    #[test]
    fn written_stacks_read_back_exactly(
        (d, values) in (1usize..6).prop_flat_map(|d| {
            (Just(d), prop::collection::vec(
                any::<u64>().prop_map(f64::from_bits).prop_filter("finite", |v| v.is_finite()),
                d * d * 3,
            ))
        })
    ) {
        let ms: Vec<DMatrix<f64>> = values
            .chunks_exact(d * d)
            .map(|c| DMatrix::from_row_slice(d, d, c))
            .collect();
        let back = npy::parse_npy_stack(&npy::npy_bytes(&ms, d)).map_err(TestCaseError::fail)?;
        prop_assert_eq!(back.len(), ms.len());
        for (a, b) in ms.iter().zip(&back) {
            prop_assert!(a.iter().zip(b.iter()).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }

    #[test]
    fn csv_text_from_number_like_characters(text in "[0-9eE+\\-.,; \\t\\r\\n#naifINFxé]{0,200}") {
        match csv::parse_csv(&text) {
            Ok(m) => {
                prop_assert!(m.nrows() > 0 && m.ncols() > 0);
                prop_assert!(m.iter().all(|v| v.is_finite()));
            }
            Err(e) => one_line(&e)?,
        }
    }

    /// Any finite matrix printed with any separator reads back exactly (`{}` prints the
    /// shortest text that parses back to the same f64).
    #[test]
    fn csv_round_trip(
        (rows, cols, values) in (1usize..5, 1usize..5).prop_flat_map(|(r, c)| {
            (Just(r), Just(c), prop::collection::vec(
                any::<u64>().prop_map(f64::from_bits).prop_filter("finite", |v| v.is_finite()),
                r * c,
            ))
        }),
        separator in prop::sample::select(vec![",", ", ", ";", " ", "\t", " ; "]),
    ) {
        let text: String = values
            .chunks_exact(cols)
            .map(|row| row.iter().map(f64::to_string).collect::<Vec<_>>().join(separator) + "\n")
            .collect();
        let m = csv::parse_csv(&text).map_err(TestCaseError::fail)?;
        prop_assert_eq!((m.nrows(), m.ncols()), (rows, cols));
        let back: Vec<f64> = m.transpose().iter().copied().collect();
        prop_assert!(values.iter().zip(&back).all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}

/// A small model (3 inputs, 2 outputs, H = 16, M = 2) for the model-file properties.
fn model() -> nearid_host::network::Network {
    use nearid_host::network::{ActivationName, Config, LossName, Network, ScalarName};
    let config = Config {
        activation: ActivationName::Tanh,
        loss: LossName::Quadratic,
        scalar: ScalarName::Q12,
        inputs: vec!["a".into(), "b".into(), "c".into()],
        targets: vec!["y".into(), "z".into()],
        classes: None,
        training: None,
        active_depth: None,
    };
    Network::init(config, 16, 2, 2, 7)
}

/// A model reader's promise: no panic, an error of one short line, an `Ok` that passed the
/// shape checks.
fn check_model(result: Result<nearid_host::network::Network, String>) -> Result<(), TestCaseError> {
    match result {
        Ok(net) => prop_assert!(net.check().is_ok()),
        Err(e) => one_line(&e)?,
    }
    Ok(())
}

proptest! {
    /// Model `.npz` files (zip of `.npy`) mutated byte by byte: the zip reader, the `.npy`
    /// reader of every member, the config's JSON and the shape checks.
    #[test]
    fn model_npz_files_survive_mutations(mutations in prop::collection::vec(mutation(), 1..6)) {
        use nearid_host::{network::Network, npz};
        let mut bytes = npz::npz_bytes(&model().npz_members());
        for mutation in &mutations {
            apply(&mut bytes, mutation);
        }
        let path = std::path::Path::new("m.npz");
        let result = npz::Npz::parse(path, &bytes, 1 << 20)
            .and_then(|z| Network::from_npz(&z))
            .map_err(|e| e.to_string());
        check_model(result)?;
    }

    /// `.nid` files with their header fields mutated and the checksum recomputed, so that the
    /// reader's shape paths (layers absent, widths, depth, format, activation, loss) are
    /// reached, not only the checksum test.
    #[test]
    fn nid_headers_survive_mutations(
        at in prop::collection::vec((0usize..24, any::<u8>()), 1..4),
        cut in prop::option::of(any::<usize>()),
    ) {
        use nearid_host::network::{Network, ScalarName};
        let (mut bytes, _) = model().nid_bytes(ScalarName::Q12).map_err(TestCaseError::fail)?;
        for (i, b) in at {
            bytes[i] = b;
        }
        if let Some(c) = cut {
            bytes.truncate(c % (bytes.len() + 1));
        }
        if bytes.len() >= 4 {
            let n = bytes.len() - 4;
            let sum = nearid::file::checksum(&bytes[..n]);
            bytes[n..].copy_from_slice(&sum.to_le_bytes());
        }
        check_model(Network::from_nid(&bytes, None))?;
    }
}
