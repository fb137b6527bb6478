//! The `nearid` binary end to end: decompose a CSV and a .npy file, read the factors back, and
//! a table of bad inputs (malformed .npy and CSV files, sizes that overflow, huge depths), each
//! with the exact one-line message, a non-zero exit and no panic. `--quiet` leaves stdout and
//! stderr empty on success and still prints errors.

use nearid_host::npy;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nearid() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nearid"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nearid-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn decompose(path: &Path, extra: &[&str]) -> Output {
    nearid()
        .arg("decompose")
        .arg(path)
        .args(extra)
        .output()
        .unwrap()
}

/// A .npy file: magic, version, the header padded with spaces and '\n' to a multiple of 64 as
/// NumPy writes it, then `data`.
fn npy_file(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
    let width = if version == 1 { 2 } else { 4 };
    let mut h = header.to_string();
    while !(8 + width + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut out = npy::MAGIC.to_vec();
    out.extend_from_slice(&[version, 0]);
    out.extend_from_slice(&(h.len() as u32).to_le_bytes()[..width]);
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A version-1.0 header for `descr`, `fortran_order` False and `shape`.
fn header(descr: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
}

fn f8(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn decompose_writes_the_factors_a1_first() {
    let csv = scratch("r.csv");
    std::fs::write(
        &csv,
        "# diag(-2, -0.5, 3, 1)\n-2, 0, 0, 0\n0, -0.5, 0, 0\n0 0 3 0\n0;0;0;1\n",
    )
    .unwrap();
    let out = scratch("factors.npy");
    let run = decompose(&csv, &["--depth", "32", "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    println!("{stdout}");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("HM bound"));
    let factors = npy::parse_npy_stack(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(factors.len(), 32);
    // (I + A_32) ... (I + A_1) = R.
    let id = nalgebra::DMatrix::<f64>::identity(4, 4);
    let product = factors.iter().fold(id.clone(), |acc, a| (&id + a) * acc);
    let r = nalgebra::DMatrix::from_diagonal(&nalgebra::DVector::from_column_slice(&[
        -2.0, -0.5, 3.0, 1.0,
    ]));
    assert!((product - &r).norm() < 1e-12);
    // The same matrix as .npy in, f32 arithmetic.
    let npy_in = scratch("r.npy");
    let values: Vec<f64> = r.transpose().iter().copied().collect(); // row-major
    std::fs::write(&npy_in, npy_file(1, &header("<f8", "(4, 4)"), &f8(&values))).unwrap();
    let run = decompose(&npy_in, &["-m", "8", "--precision", "f32"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Big-endian float32 in Fortran order, version 2.0, a file not named .npy (found by its magic):
/// read as the same matrix as the CSV, so the two runs print the same factor table.
#[test]
fn npy_byte_orders_versions_and_fortran_order_read_the_same_matrix() {
    // R = [[2, 1], [0, 3]]; Fortran order stores the columns: 2, 0, 1, 3.
    let data: Vec<u8> = [2.0f32, 0.0, 1.0, 3.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let big = scratch("r-big-endian.bin");
    std::fs::write(
        &big,
        npy_file(
            2,
            "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 2), }",
            &data,
        ),
    )
    .unwrap();
    let csv = scratch("r2.csv");
    std::fs::write(&csv, "2 1\n0 3\n").unwrap();
    let table = |run: Output| {
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        // Everything after the first line (which names the file).
        let text = String::from_utf8(run.stdout).unwrap();
        text.lines().skip(1).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(
        table(decompose(&big, &["--depth", "6"])),
        table(decompose(&csv, &["--depth", "6"]))
    );
}

/// Every bad file: the exact message "nearid: FILE: problem", exit status 1, nothing on stdout,
/// no panic.
#[test]
fn bad_files_give_one_line_naming_the_file_and_the_problem() {
    let ok_header = header("<f8", "(2, 2)");
    let ok_data = f8(&[1.0, 0.0, 0.0, 1.0]);
    let mut v2_huge_length = npy::MAGIC.to_vec();
    v2_huge_length.extend_from_slice(&[2, 0, 0xff, 0xff, 0xff, 0xff]);
    v2_huge_length.extend_from_slice(b"{'descr': '<f8'");
    let mut cut_header = npy_file(1, &ok_header, &ok_data);
    cut_header.truncate(30);
    let mut bad_utf8 = npy_file(3, &ok_header, &ok_data);
    bad_utf8[14] = 0xff;
    let mut nan = ok_data.clone();
    nan[16..24].copy_from_slice(&f64::NAN.to_le_bytes());
    let mut inf = ok_data.clone();
    inf[8..16].copy_from_slice(&f64::INFINITY.to_le_bytes());
    let npy17 = npy_file(1, &header("<f8", "(17, 17)"), &f8(&[0.0; 289]));
    let two_pow_61 = 1u64 << 61;
    let two_pow_60 = 1u64 << 60;
    let long_word = "x".repeat(1000);
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        // .npy: magic, version, header length.
        ("empty.npy", vec![], "empty file (not a .npy file)".into()),
        (
            "garbage.npy",
            b"hello world".to_vec(),
            "not a .npy file (no \\x93NUMPY magic)".into(),
        ),
        (
            "half-magic.npy",
            b"\x93NUM".to_vec(),
            "truncated: 4 bytes, the magic and version alone are 8".into(),
        ),
        (
            "magic-only.npy",
            npy::MAGIC.to_vec(),
            "truncated: 6 bytes, the magic and version alone are 8".into(),
        ),
        (
            "v2-cut-length.npy",
            [&npy::MAGIC[..], &[2, 0, 0x10, 0]].concat(),
            "truncated: 10 bytes, version 2.0 needs 12 before the header".into(),
        ),
        (
            "version-4.npy",
            npy_file(2, &ok_header, &ok_data)
                .into_iter()
                .enumerate()
                .map(|(i, b)| if i == 6 { 4 } else { b })
                .collect(),
            "unsupported .npy version 4.0 (1.0, 2.0 and 3.0 are read)".into(),
        ),
        (
            "version-1.1.npy",
            npy_file(1, &ok_header, &ok_data)
                .into_iter()
                .enumerate()
                .map(|(i, b)| if i == 7 { 1 } else { b })
                .collect(),
            "unsupported .npy version 1.1 (1.0, 2.0 and 3.0 are read)".into(),
        ),
        (
            "cut-header.npy",
            cut_header,
            "truncated header: 118 bytes declared, 20 present".into(),
        ),
        (
            "huge-header-length.npy",
            v2_huge_length,
            "truncated header: 4294967295 bytes declared, 15 present".into(),
        ),
        (
            "v3-not-utf8.npy",
            bad_utf8,
            "header is not UTF-8 text".into(),
        ),
        // .npy: the header's dict.
        (
            "not-a-dict.npy",
            npy_file(1, "hello", &[]),
            "header: expected '{' at byte 0, found 'h'".into(),
        ),
        (
            "no-shape.npy",
            npy_file(1, "{'descr': '<f8', 'fortran_order': False}", &ok_data),
            "header has no 'shape'".into(),
        ),
        (
            "no-descr.npy",
            npy_file(1, "{'fortran_order': False, 'shape': (2, 2)}", &ok_data),
            "header has no 'descr'".into(),
        ),
        (
            "extra-key.npy",
            npy_file(
                1,
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), 'extra': 1}",
                &ok_data,
            ),
            "header: unknown key 'extra' (descr, fortran_order and shape expected)".into(),
        ),
        (
            "twice.npy",
            npy_file(
                1,
                "{'descr': '<f8', 'shape': (2, 2), 'fortran_order': False, 'shape': (2, 2)}",
                &ok_data,
            ),
            "header: key 'shape' appears twice".into(),
        ),
        (
            "unterminated.npy",
            npy_file(1, "{'descr': '<f8, 'fortran_order': False}", &ok_data),
            "header: expected ',' or '}' at byte 17, found 'f'".into(),
        ),
        (
            "open-string.npy",
            npy_file(1, "{'descr': '<f8", &ok_data),
            "header: unterminated string at byte 10".into(),
        ),
        (
            "nested.npy",
            npy_file(1, &format!("{{'descr': {}", "[".repeat(20)), &[]),
            "header: nested deeper than 8 at byte 19".into(),
        ),
        // .npy: dtype, fortran_order, shape.
        (
            "complex.npy",
            npy_file(1, &header("<c16", "(2, 2)"), &[0; 64]),
            "dtype '<c16' not supported (float64, float32 or an integer type is needed)".into(),
        ),
        (
            "half.npy",
            npy_file(1, &header("<f2", "(2, 2)"), &[0; 8]),
            "dtype '<f2' not supported (float64, float32 or an integer type is needed)".into(),
        ),
        (
            "bool.npy",
            npy_file(1, &header("|b1", "(2, 2)"), &[0; 4]),
            "dtype '|b1' not supported (float64, float32 or an integer type is needed)".into(),
        ),
        (
            "structured.npy",
            npy_file(
                1,
                "{'descr': [('x', '<f8')], 'fortran_order': False, 'shape': (2, 2), }",
                &ok_data,
            ),
            "structured dtype not supported (a plain float or integer array is needed)".into(),
        ),
        (
            "fortran-order-1.npy",
            npy_file(
                1,
                "{'descr': '<f8', 'fortran_order': 1, 'shape': (2, 2), }",
                &ok_data,
            ),
            "header: 'fortran_order' must be True or False, found 1".into(),
        ),
        (
            "shape-string.npy",
            npy_file(
                1,
                "{'descr': '<f8', 'fortran_order': False, 'shape': '2x2', }",
                &ok_data,
            ),
            "header: 'shape' must be a tuple, found '2x2'".into(),
        ),
        (
            "one-d.npy",
            npy_file(1, &header("<f8", "(4,)"), &ok_data),
            "a 2-D array is needed, found shape (4,)".into(),
        ),
        (
            "three-d.npy",
            npy_file(1, &header("<f8", "(1, 2, 2)"), &ok_data),
            "a 2-D array is needed, found shape (1, 2, 2)".into(),
        ),
        (
            "negative.npy",
            npy_file(1, &header("<f8", "(2, -2)"), &ok_data),
            "shape (2, -2) has a negative size".into(),
        ),
        (
            "empty-shape.npy",
            npy_file(1, &header("<f8", "(0, 0)"), &[]),
            "the array is empty (shape (0, 0))".into(),
        ),
        // Sizes that overflow: nothing is allocated from the shape.
        (
            "beyond-usize.npy",
            npy_file(1, &header("<f8", "(99999999999999999999999, 1)"), &[]),
            "shape (99999999999999999999999, 1) has a size too large to address".into(),
        ),
        (
            "2-pow-61-rows.npy",
            npy_file(1, &header("<f8", &format!("({two_pow_61}, 1)")), &[]),
            format!("shape ({two_pow_61}, 1) of '<f8' is too large (its byte count overflows)"),
        ),
        (
            "2-pow-32-squared.npy",
            npy_file(1, &header("<i4", "(4294967296, 4294967296)"), &[]),
            "shape (4294967296, 4294967296) of '<i4' is too large (its byte count overflows)"
                .into(),
        ),
        (
            "2-pow-60-rows.npy",
            npy_file(1, &header("<f8", &format!("({two_pow_60}, 1)")), &[]),
            format!(
                "truncated: shape ({two_pow_60}, 1) of '<f8' needs {} data bytes, the file has 0",
                two_pow_60 * 8
            ),
        ),
        // .npy: the data.
        (
            "short-data.npy",
            npy_file(1, &ok_header, &ok_data[..24]),
            "truncated: shape (2, 2) of '<f8' needs 32 data bytes, the file has 24".into(),
        ),
        (
            "trailing-data.npy",
            npy_file(1, &ok_header, &[&ok_data[..], &[0; 8]].concat()),
            "40 data bytes where shape (2, 2) of '<f8' needs 32 (trailing bytes)".into(),
        ),
        (
            "nan.npy",
            npy_file(1, &ok_header, &nan),
            "entry (1, 0) is NaN (finite values are needed)".into(),
        ),
        (
            "inf.npy",
            npy_file(1, &ok_header, &inf),
            "entry (0, 1) is inf (finite values are needed)".into(),
        ),
        ("seventeen.npy", npy17, "D = 17 is outside 1..=16".into()),
        (
            "not-square.npy",
            npy_file(1, &header("<f8", "(2, 3)"), &f8(&[1.0; 6])),
            "the matrix is 2 x 3, but must be square".into(),
        ),
        // CSV.
        (
            "empty.csv",
            vec![],
            "no numbers found (the file is empty or only comments)".into(),
        ),
        (
            "comments.csv",
            b"# a comment\n\n  # another\n".to_vec(),
            "no numbers found (the file is empty or only comments)".into(),
        ),
        (
            "ragged.csv",
            b"1 2\n3\n".to_vec(),
            "line 2: 1 values, but the first row has 2".into(),
        ),
        (
            "words.csv",
            b"1 two\n3 4\n".to_vec(),
            "line 1: \"two\" is not a number".into(),
        ),
        (
            "long-word.csv",
            long_word.into_bytes(),
            "line 1: \"xxxxxxxxxxxxxxxxxxxxxxxx...\" is not a number".into(),
        ),
        (
            "nan.csv",
            b"1 0\nNaN 1\n".to_vec(),
            "line 2: \"NaN\" is not a finite number".into(),
        ),
        (
            "inf.csv",
            b"1, -inf\n0, 1\n".to_vec(),
            "line 1: \"-inf\" is not a finite number".into(),
        ),
        (
            "huge.csv",
            b"1e999 0\n0 1\n".to_vec(),
            "line 1: \"1e999\" is outside the float64 range".into(),
        ),
        (
            "empty-field.csv",
            b"1,,0\n0,1,0\n0,0,1\n".to_vec(),
            "line 1: field 2 is empty".into(),
        ),
        (
            "binary.csv",
            vec![0xff, 0xfe, 0x00, 0x31],
            "not UTF-8 text (CSV expected; use .npy for NumPy files)".into(),
        ),
        (
            "too-large.csv",
            "1 0\n0 1\n".repeat(200_000).into_bytes(),
            "larger than 1 MiB, far more than a matrix of D <= 16 needs".into(),
        ),
        // Matrices the core refuses, and sizes the tool does not dispatch.
        (
            "det-negative.csv",
            b"-1 0\n0 1\n".to_vec(),
            "det <= 0: no real factorisation into near-identity factors exists".into(),
        ),
        (
            "singular.csv",
            b"1 2\n2 4\n".to_vec(),
            "the matrix is numerically singular".into(),
        ),
        (
            "not-square.csv",
            b"1 2 3\n4 5 6\n".to_vec(),
            "the matrix is 2 x 3, but must be square".into(),
        ),
        (
            "seventeen.csv",
            vec![vec!["1"; 17].join(","); 17].join("\n").into_bytes(),
            "D = 17 is outside 1..=16".into(),
        ),
    ];
    let mut failures = Vec::new();
    for (name, content, problem) in &cases {
        let path = scratch(name);
        std::fs::write(&path, content).unwrap();
        let run = decompose(&path, &["--depth", "4"]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        let expected = format!("nearid: {}: {problem}\n", path.display());
        if stderr != expected || run.status.code() != Some(1) || !run.stdout.is_empty() {
            failures.push(format!(
                "{name}: status {:?}, stderr {stderr:?}, expected {expected:?}",
                run.status.code()
            ));
        }
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
    // Paths that cannot be read.
    let missing = scratch("missing.csv");
    let dir = scratch("a-directory.csv");
    std::fs::create_dir_all(&dir).unwrap();
    for (path, problem) in [
        (
            &missing,
            "cannot read: No such file or directory (os error 2)",
        ),
        (&dir, "cannot read: Is a directory (os error 21)"),
    ] {
        let run = decompose(path, &["--depth", "4"]);
        let expected = format!("nearid: {}: {problem}\n", path.display());
        let stderr = String::from_utf8_lossy(&run.stderr);
        if stderr != expected || run.status.code() != Some(1) {
            failures.push(format!("{stderr:?}, expected {expected:?}"));
        }
    }
    // An output that cannot be written.
    let ok = scratch("ok.csv");
    std::fs::write(&ok, "1 0\n0 1\n").unwrap();
    let run = decompose(&ok, &["--depth", "4", "--out", dir.to_str().unwrap()]);
    let expected = format!(
        "nearid: {}: cannot write: Is a directory (os error 21)\n",
        dir.display()
    );
    if String::from_utf8_lossy(&run.stderr) != expected || run.status.code() != Some(1) {
        failures.push(format!("{:?}, expected {expected:?}", run.stderr));
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len() + 3,
        failures.join("\n")
    );
}

/// Depths outside 1..=4096 are refused by the argument parser with one line (clap's "invalid
/// value" error, exit status 2) before anything is allocated; 4096 itself runs.
#[test]
fn depths_outside_the_documented_range_are_refused() {
    let csv = scratch("identity.csv");
    std::fs::write(&csv, "1 0\n0 1\n").unwrap();
    let above = "above the maximum depth 4096 (the HM bound applies from M >= 3 gamma, and \
                 3 gamma < 2234 for every finite float64 matrix)";
    let not_whole = "not a whole number (write the depth in digits, e.g. 64)";
    let cases = [
        ("0", "the depth must be at least 1"),
        ("4097", above),
        ("1000000000", above),
        ("18446744073709551615", above), // 2^64 - 1
        ("18446744073709551616", above), // 2^64
        ("99999999999999999999999999999", above),
        ("1e9", not_whole),
        ("-1", not_whole),
        ("", not_whole),
    ];
    for (depth, problem) in cases {
        let run = decompose(&csv, &[&format!("--depth={depth}")]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        let first = stderr.lines().next().unwrap_or("");
        assert_eq!(
            first,
            format!("error: invalid value '{depth}' for '--depth <M>': {problem}"),
            "--depth {depth}"
        );
        assert_eq!(run.status.code(), Some(2), "--depth {depth}: {stderr}");
        assert!(run.stdout.is_empty() && !stderr.contains("panicked"));
    }
    let run = decompose(&csv, &["--depth", "4096"]);
    assert!(run.status.success());
    assert!(String::from_utf8_lossy(&run.stdout).contains("M = 4096"));
}

/// `--quiet` (before or after the subcommand): nothing on stdout or stderr on success, the
/// factors still written; errors still printed. Without it, progress bars stay off stderr when
/// stderr is not a terminal (as here), so the result is the only output.
#[test]
fn quiet_silences_everything_but_errors() {
    let csv = scratch("quiet.csv");
    std::fs::write(&csv, "2 1\n0 3\n").unwrap();
    let out = scratch("quiet-factors.npy");
    for args in [
        vec!["--quiet", "decompose"],
        vec!["decompose", "-q"],
        vec!["-q", "decompose"],
    ] {
        let _ = std::fs::remove_file(&out);
        let run = nearid()
            .args(&args)
            .arg(&csv)
            .args(["--depth", "8", "--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(run.status.success(), "{args:?}");
        assert!(run.stdout.is_empty() && run.stderr.is_empty(), "{args:?}");
        assert_eq!(
            npy::parse_npy_stack(&std::fs::read(&out).unwrap())
                .unwrap()
                .len(),
            8
        );
    }
    let bad = scratch("quiet-bad.csv");
    std::fs::write(&bad, "1 x\n").unwrap();
    let run = decompose(&bad, &["--depth", "8", "--quiet"]);
    assert_eq!(run.status.code(), Some(1));
    assert!(run.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&run.stderr),
        format!("nearid: {}: line 1: \"x\" is not a number\n", bad.display())
    );
    // verify linear, with and without --quiet (about a second in the test profile).
    let docs = scratch("docs-quiet");
    let run = nearid()
        .args([
            "verify",
            "linear",
            "--quiet",
            "--out",
            docs.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.stdout.is_empty() && run.stderr.is_empty());
    assert!(docs.join("linear-report.md").exists());
    let run = nearid()
        .args(["verify", "linear", "--out", docs.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(run.status.success());
    assert!(String::from_utf8_lossy(&run.stdout).contains("wrote"));
    assert!(
        run.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// The model commands (`train`, `eval`, `predict`, `export`, `import`) on bad data and bad
/// model files: the exact message "nearid: FILE: problem", exit status 1, nothing on stdout.
#[test]
fn model_commands_give_one_line_naming_the_file_and_the_problem() {
    use nearid_host::network::{ActivationName, Config, LossName, Network, ScalarName};
    use nearid_host::npz;
    let config =
        |loss: LossName, inputs: &[&str], targets: &[&str], classes: Option<&[&str]>| Config {
            activation: ActivationName::Relu,
            loss,
            scalar: ScalarName::F32,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            targets: targets.iter().map(|s| s.to_string()).collect(),
            classes: classes.map(|c| c.iter().map(|s| s.to_string()).collect()),
            training: None,
            active_depth: None,
        };
    let regression = Network::init(
        config(LossName::Quadratic, &["a", "b", "c"], &["y"], None),
        16,
        2,
        1,
        1,
    );
    let classifier = Network::init(
        config(
            LossName::CrossEntropy,
            &["a", "b"],
            &["label"],
            Some(&["cat", "dog"]),
        ),
        16,
        1,
        2,
        1,
    );
    let reg = scratch("reg-model.npz");
    regression.write_npz(&reg).unwrap();
    let cls = scratch("cls-model.npz");
    classifier.write_npz(&cls).unwrap();
    // Model files with one thing wrong, from the good one's members.
    let members = regression.npz_members();
    let with = |name: &str, bytes: Option<Vec<u8>>| {
        let mut m: Vec<(String, Vec<u8>)> =
            members.iter().filter(|(n, _)| n != name).cloned().collect();
        if let Some(b) = bytes {
            m.push((name.to_string(), b));
        }
        npz::npz_bytes(&m)
    };
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("data.csv", b"a,b,c,y\n1,2,3,4\n0.5,1,2,3\n".to_vec()),
        ("words.csv", b"a,b,c,y\n1,2,3,4\n1,abc,3,4\n".to_vec()),
        ("nan.csv", b"a,b,c,y\n1,2,3,4\n1,nan,3,4\n".to_vec()),
        ("empty-cell.csv", b"a,b,c,y\n1,,3,4\n".to_vec()),
        ("ragged.csv", b"a,b,c,y\n1,2,3\n".to_vec()),
        ("header-only.csv", b"a,b,c,y\n".to_vec()),
        ("pets.csv", b"a,b,label\n1,2,cat\n3,4,bird\n".to_vec()),
        ("two-inputs.csv", b"a,b,y\n1,2,3\n".to_vec()),
        ("large.csv", b"a,y\n9,1\n1,2\n".to_vec()),
        ("garbage.npz", b"not a zip file".to_vec()),
        ("no-config.npz", with("config", None)),
        (
            "bad-json.npz",
            with(
                "config",
                Some(nearid_host::npy::text_bytes("{\"activation\": \"gelu\"}")),
            ),
        ),
        (
            "int-weights.npz",
            with(
                "stem.bias",
                Some(npy_file(1, &header("<i8", "(16,)"), &[0; 128])),
            ),
        ),
        (
            "wrong-shape.npz",
            with(
                "blocks.1.w2",
                Some(nearid_host::npy::f32_array_bytes(&[16, 8], &[0.0; 128])),
            ),
        ),
        ("no-head.npz", with("head.bias", None)),
        (
            "extra.npz",
            with(
                "blocks.x.w1",
                Some(nearid_host::npy::f32_array_bytes(&[1], &[0.0])),
            ),
        ),
        (
            "nan-weight.npz",
            with(
                "stem.bias",
                Some(nearid_host::npy::f32_array_bytes(&[16], &[f32::NAN; 16])),
            ),
        ),
        ("bad.nid", b"NRID\x01\x00".to_vec()),
        ("not-nid.nid", b"hello world, this is not a model".to_vec()),
    ];
    for (name, bytes) in &files {
        std::fs::write(scratch(name), bytes).unwrap();
    }
    let p = |name: &str| scratch(name).display().to_string();
    let (reg_s, cls_s) = (reg.display().to_string(), cls.display().to_string());
    let out = p("out.npz");
    let train = |data: &str, inputs: &str, targets: &str| -> Vec<String> {
        [
            "train",
            &p(data),
            "--inputs",
            inputs,
            "--targets",
            targets,
            "--epochs",
            "1",
            "--out",
            &out,
        ]
        .map(String::from)
        .to_vec()
    };
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            train("data.csv", "a,zz", "y"),
            format!(
                "{}: no column 'zz' (the file has a, b, c, y)",
                p("data.csv")
            ),
        ),
        (
            train("data.csv", "a,7", "y"),
            format!(
                "{}: column index 7 in '7' is beyond the 4 columns (indices start at 0)",
                p("data.csv")
            ),
        ),
        (
            train("data.csv", "a,a", "y"),
            format!("{}: column 'a' is selected twice", p("data.csv")),
        ),
        (
            train("data.csv", "a-c", "c"),
            format!(
                "{}: column 'c' is both an input and a target",
                p("data.csv")
            ),
        ),
        (
            train("words.csv", "a-c", "y"),
            format!(
                "{}: line 3, column 'b': \"abc\" is not a number",
                p("words.csv")
            ),
        ),
        (
            train("nan.csv", "0-2", "3"),
            format!(
                "{}: line 3, column 'b': \"nan\" is NaN (the data must be finite)",
                p("nan.csv")
            ),
        ),
        (
            train("empty-cell.csv", "a-c", "y"),
            format!("{}: line 2, column 'b': is empty", p("empty-cell.csv")),
        ),
        (
            train("ragged.csv", "a-c", "y"),
            format!(
                "{}: line 2: 3 fields, but the header has 4",
                p("ragged.csv")
            ),
        ),
        (
            train("header-only.csv", "a-c", "y"),
            format!("{}: a header row but no data rows", p("header-only.csv")),
        ),
        (
            [
                train("large.csv", "a", "y"),
                vec!["--scalar".into(), "q12".into()],
            ]
            .concat(),
            format!(
                "{}: column 'a' reaches 9, outside Q4.12's range [-8, 8): a fixed-point model takes raw values (the standardisation is folded into it), so rescale the column or use --scalar f32 (or q16, range [-32768, 32768))",
                p("large.csv")
            ),
        ),
        (
            ["eval", &cls_s, &p("pets.csv")].map(String::from).to_vec(),
            format!(
                "{}: line 3, column 'label': label 'bird' is not one of the model's classes (cat, dog)",
                p("pets.csv")
            ),
        ),
        (
            ["eval", &reg_s, &p("two-inputs.csv")]
                .map(String::from)
                .to_vec(),
            format!(
                "{}: no column 'c' (the model's inputs; the file has a, b, y): name the columns with --inputs and --targets",
                p("two-inputs.csv")
            ),
        ),
        (
            ["eval", &reg_s, &p("two-inputs.csv"), "--inputs", "a,b"]
                .map(String::from)
                .to_vec(),
            format!(
                "{}: 2 input columns, but the model takes 3",
                p("two-inputs.csv")
            ),
        ),
        (
            ["eval", &p("garbage.npz"), &p("data.csv")]
                .map(String::from)
                .to_vec(),
            format!(
                "{}: not a readable .npz file: invalid Zip archive: Could not find EOCD",
                p("garbage.npz")
            ),
        ),
        (
            ["export", &p("no-config.npz"), "--out", &p("x.nid")]
                .map(String::from)
                .to_vec(),
            format!(
                "{}: no 'config' member (a 0-d string array of JSON: activation, loss, scalar, inputs, targets, classes)",
                p("no-config.npz")
            ),
        ),
        (
            ["export", &p("bad-json.npz"), "--out", &p("x.nid")]
                .map(String::from)
                .to_vec(),
            format!(
                "{}: member 'config': not a model config: unknown variant `gelu`, expected one of `relu`, `tanh`, `softplus` at line 1 column 21",
                p("bad-json.npz")
            ),
        ),
        (
            ["export", &p("int-weights.npz"), "--out", &p("x.nid")]
                .map(String::from)
                .to_vec(),
            format!(
                "{}: member 'stem.bias': dtype '<i8' (float32 or float64 is needed)",
                p("int-weights.npz")
            ),
        ),
        (
            ["export", &p("wrong-shape.npz"), "--out", &p("x.nid")]
                .map(String::from)
                .to_vec(),
            format!(
                "{}: blocks.1.w2 has shape (16, 8), but stem.weight (16, 3) and blocks.0.w1 (16, 16) make it (16, 16)",
                p("wrong-shape.npz")
            ),
        ),
        (
            ["export", &p("no-head.npz"), "--out", &p("x.nid")]
                .map(String::from)
                .to_vec(),
            format!("{}: no 'head.bias' member", p("no-head.npz")),
        ),
        (
            ["export", &p("extra.npz"), "--out", &p("x.nid")]
                .map(String::from)
                .to_vec(),
            format!(
                "{}: member 'blocks.x.w1': not a member of a model file (stem.weight, stem.bias, blocks.{{i}}.w1, .b1, .w2, .b2, head.weight, head.bias, config)",
                p("extra.npz")
            ),
        ),
        (
            ["export", &p("nan-weight.npz"), "--out", &p("x.nid")]
                .map(String::from)
                .to_vec(),
            format!(
                "{}: member 'stem.bias': holds NaN (finite values are needed)",
                p("nan-weight.npz")
            ),
        ),
        (
            ["import", &p("bad.nid"), "--out", &out]
                .map(String::from)
                .to_vec(),
            format!(
                "{}: the model file is truncated or has extra bytes",
                p("bad.nid")
            ),
        ),
        (
            ["import", &p("not-nid.nid"), "--out", &out]
                .map(String::from)
                .to_vec(),
            format!(
                "{}: not a nearid model file (wrong magic bytes)",
                p("not-nid.nid")
            ),
        ),
    ];
    let mut failures = Vec::new();
    for (args, problem) in &cases {
        let run = nearid().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        let expected = format!("nearid: {problem}\n");
        if stderr != expected || run.status.code() != Some(1) || !run.stdout.is_empty() {
            failures.push(format!(
                "{args:?}: status {:?}, stderr {stderr:?}, expected {expected:?}",
                run.status.code()
            ));
        }
    }
    // A damaged .nid: every flipped byte of a good file is refused (checksum), never a panic.
    let nid = scratch("good.nid");
    let run = nearid()
        .args(["export", &reg_s, "--out", &nid.display().to_string()])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut bytes = std::fs::read(&nid).unwrap();
    bytes[100] ^= 0x10;
    std::fs::write(&nid, &bytes).unwrap();
    let run = nearid()
        .args(["import", &nid.display().to_string(), "--out", &out])
        .output()
        .unwrap();
    let expected = format!(
        "nearid: {}: the model file's checksum does not match: it is corrupted\n",
        nid.display()
    );
    if String::from_utf8_lossy(&run.stderr) != expected {
        failures.push(format!(
            "{:?}, expected {expected:?}",
            String::from_utf8_lossy(&run.stderr)
        ));
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len() + 1,
        failures.join("\n")
    );
    // Sizes that are not compiled: clap's one-line "invalid value" error, exit status 2.
    for (option, value, problem) in [
        (
            "--hidden",
            "20",
            "the tool is compiled for H = 16, 32, 64 (see --help)",
        ),
        (
            "--depth",
            "3",
            "the tool is compiled for M = 1, 2, 4, 8, 16, 32 (see --help)",
        ),
        (
            "--batch",
            "4",
            "the tool is compiled for B = 1, 8, 32 (see --help)",
        ),
    ] {
        let mut args = train("data.csv", "a-c", "y");
        args.extend([option.to_string(), value.to_string()]);
        let run = nearid().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        let name = match option {
            "--hidden" => "H",
            "--depth" => "M",
            _ => "B",
        };
        assert_eq!(
            stderr.lines().next().unwrap_or(""),
            format!("error: invalid value '{value}' for '{option} <{name}>': {problem}")
        );
        assert_eq!(run.status.code(), Some(2));
    }
}
