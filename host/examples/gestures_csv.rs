//! Writes windows of the firmware's simulated gestures (firmware/src/sim_gesture.rs, the same
//! generator the classification app trains on) as a CSV for `nearid train`: a header row
//! `x0,y0,z0,...,x4,y4,z4,gesture`, then one window per row with its class index (0 rest, 1 shake, 2 tilt, 3 tap: numbers, so that
//! `nearid train` keeps the firmware's order; names would be sorted as text).
//!
//! ```text
//! cargo run -p nearid-host --example gestures_csv -- SEED ROWS > gestures.csv
//! ```
//!
//! firmware/models/README.md gives the seed and the commands that made the checked-in models.

// The class names are the firmware's log's; the CSV has the indices.
#[path = "../../firmware/src/sim_gesture.rs"]
#[allow(dead_code)]
mod sim_gesture;

use sim_gesture::{Gestures, WINDOW};
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [seed, rows] = args.as_slice() else {
        eprintln!("usage: gestures_csv SEED ROWS");
        std::process::exit(2);
    };
    let (Ok(seed), Ok(rows)) = (seed.parse::<u64>(), rows.parse::<u32>()) else {
        eprintln!("gestures_csv: SEED and ROWS are unsigned integers");
        std::process::exit(2);
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut header: Vec<String> = (0..WINDOW)
        .flat_map(|k| ["x", "y", "z"].map(|a| format!("{a}{k}")))
        .collect();
    header.push("gesture".into());
    let mut write = || -> std::io::Result<()> {
        writeln!(out, "{}", header.join(","))?;
        let mut stream = Gestures::new(seed);
        for _ in 0..rows {
            let (x, class) = stream.window();
            let cells: Vec<String> = x.iter().map(|v| format!("{v:e}")).collect();
            writeln!(out, "{},{class}", cells.join(","))?;
        }
        out.flush()
    };
    if let Err(e) = write() {
        eprintln!("gestures_csv: stdout: {e}");
        std::process::exit(1);
    }
}
