//! The `nearid` binary end to end: decompose a CSV and a .npy file, read the factors back, and
//! check that bad files get a message naming the file and the problem (non-zero exit, no panic).

use nearid_host::npy;
use std::path::PathBuf;
use std::process::Command;

fn nearid() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nearid"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nearid-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
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
    let run = nearid()
        .args([
            "decompose",
            csv.to_str().unwrap(),
            "--depth",
            "32",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
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
    let mut bytes = npy::npy_bytes(std::slice::from_ref(&r), 4);
    // Turn the (1, 4, 4) header into (4, 4): same length, padded.
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8(bytes[10..10 + header_len].to_vec()).unwrap();
    let fixed = header.replace("(1, 4, 4)", "(4, 4)   ");
    bytes[10..10 + header_len].copy_from_slice(fixed.as_bytes());
    std::fs::write(&npy_in, bytes).unwrap();
    let run = nearid()
        .args([
            "decompose",
            npy_in.to_str().unwrap(),
            "-m",
            "8",
            "--precision",
            "f32",
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn bad_files_are_named_with_their_problem() {
    let cases: [(&str, &[u8], &str); 6] = [
        ("det-negative.csv", b"-1 0\n0 1\n", "det <= 0"),
        ("ragged.csv", b"1 2\n3\n", "line 2"),
        ("words.csv", b"1 two\n3 4\n", "not a number"),
        ("not-square.csv", b"1 2 3\n4 5 6\n", "square"),
        ("singular.csv", b"1 2\n2 4\n", "singular"),
        ("garbage.npy", b"hello world", "magic"),
    ];
    for (name, content, expected) in cases {
        let path = scratch(name);
        std::fs::write(&path, content).unwrap();
        let run = nearid()
            .args(["decompose", path.to_str().unwrap(), "--depth", "4"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{name} was accepted");
        assert!(
            stderr.contains(name) && stderr.contains(expected),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
    let missing = scratch("missing.csv");
    let run = nearid()
        .args(["decompose", missing.to_str().unwrap(), "--depth", "4"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && stderr.contains("missing.csv") && stderr.contains("cannot read")
    );
    let big = scratch("big.csv");
    let row = vec!["1"; 17].join(",");
    std::fs::write(&big, vec![row; 17].join("\n")).unwrap();
    let run = nearid()
        .args(["decompose", big.to_str().unwrap(), "--depth", "4"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && stderr.contains("big.csv") && stderr.contains("1..=16"),
        "{stderr}"
    );
}
