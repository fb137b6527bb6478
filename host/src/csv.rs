//! Matrices as CSV text: one row per line, numbers separated by commas or semicolons (each
//! field may carry spaces around it) or, on a line without either, by whitespace. Blank lines
//! and lines starting with `#` are skipped; a UTF-8 byte-order mark is ignored.
//!
//! Every row must have as many numbers as the first, every field must be a finite number in the
//! float64 range (`1e400`, `nan` and `inf` are refused, an empty field between two separators
//! too). Each problem is one line naming the line of the file (the caller adds the file name).

use crate::npy::shorten;
use nalgebra::DMatrix;

/// Parse CSV text into a matrix.
///
/// ```
/// let m = nearid_host::csv::parse_csv("# R\n1, 2\n3 4\n").unwrap();
/// assert_eq!(m, nalgebra::DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]));
/// assert_eq!(
///     nearid_host::csv::parse_csv("1,,2\n").unwrap_err(),
///     "line 1: field 2 is empty"
/// );
/// ```
pub fn parse_csv(text: &str) -> Result<DMatrix<f64>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut values: Vec<f64> = Vec::new();
    let mut cols = 0;
    let mut rows = 0;
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = if line.contains([',', ';']) {
            line.split([',', ';']).map(str::trim).collect()
        } else {
            line.split_whitespace().collect()
        };
        for (k, field) in fields.iter().enumerate() {
            values.push(number(field).map_err(|p| match p {
                "" => format!("line {n}: field {} is empty", k + 1),
                p => format!("line {n}: \"{}\" {p}", shorten(field)),
            })?);
        }
        if rows == 0 {
            cols = fields.len();
        } else if fields.len() != cols {
            return Err(format!(
                "line {n}: {} values, but the first row has {cols}",
                fields.len()
            ));
        }
        rows += 1;
    }
    if rows == 0 {
        return Err("no numbers found (the file is empty or only comments)".into());
    }
    Ok(DMatrix::from_row_slice(rows, cols, &values))
}

/// One field as a finite f64, or what is wrong with it ("" for an empty field).
fn number(field: &str) -> Result<f64, &'static str> {
    if field.is_empty() {
        return Err("");
    }
    match field.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        // Rust's parser reads "nan", "inf" and "infinity" in any case, and overflows to inf.
        Ok(v) if v.is_nan() || field.trim_start_matches(['+', '-']).starts_with(['i', 'I']) => {
            Err("is not a finite number")
        }
        Ok(_) => Err("is outside the float64 range"),
        Err(_) => Err("is not a number"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_comments_and_problems() {
        let a = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(parse_csv("1, 2\n3 4\n").unwrap(), a);
        assert_eq!(parse_csv("\u{feff}# c\n\n1;2\r\n 3 ,4 \n").unwrap(), a);
        let cases = [
            ("1, 2\n3\n", "line 2: 1 values, but the first row has 2"),
            ("1, x\n", "line 1: \"x\" is not a number"),
            ("1 nan\n", "line 1: \"nan\" is not a finite number"),
            ("-inf 1\n", "line 1: \"-inf\" is not a finite number"),
            ("Infinity\n", "line 1: \"Infinity\" is not a finite number"),
            ("1e400\n", "line 1: \"1e400\" is outside the float64 range"),
            ("1,2,\n", "line 1: field 3 is empty"),
            (
                "# nothing\n",
                "no numbers found (the file is empty or only comments)",
            ),
            ("", "no numbers found (the file is empty or only comments)"),
        ];
        for (text, message) in cases {
            assert_eq!(parse_csv(text).unwrap_err(), message, "{text:?}");
        }
        // Huge but finite numbers are numbers (the core decides what it can factorise).
        assert_eq!(parse_csv("1e300\n").unwrap()[(0, 0)], 1e300);
    }
}
