//! The data `nearid train`, `eval` and `predict` read: a table of named columns from
//!
//! - a CSV file with a header row (fields separated by commas, or by semicolons or tabs when
//!   the header has no comma; a field may be double-quoted, with `""` for a quote inside;
//!   blank lines and lines starting with `#` are skipped);
//! - a 2-D `.npy` array (columns named by their index, `0`, `1`, ...);
//! - a `.npz` file with arrays `x` (N, D_in) and `y` (N,) or (N, D_out) (columns `x0`, `x1`,
//!   ..., then `y` or `y0`, `y1`, ...).
//!
//! Columns are chosen by name or 0-based index, comma separated, with ranges such as `0-4`
//! ([`select`]). Input and regression target cells must be finite numbers, class labels are
//! text. Every problem is one line naming the file and, for CSV, the line and the column.

use crate::matrix_file::FileError;
use crate::npy::{self, shorten};
use crate::npz::{Npz, read_bounded};
use std::path::{Path, PathBuf};

/// The largest data file read (CSV text, `.npy` or `.npz`, and its inflated members).
pub const MAX_DATA_BYTES: u64 = 256 << 20;

/// Where the cells are.
#[derive(Debug, Clone)]
enum Cells {
    /// CSV text and, per row, its line number and each field's byte range in the text.
    Text {
        text: String,
        lines: Vec<usize>,
        spans: Vec<(u32, u32)>,
    },
    /// Numbers, row-major.
    Numbers(Vec<f64>),
}

/// A table read from a data file.
#[derive(Debug, Clone)]
pub struct Table {
    /// The file (for messages).
    pub path: PathBuf,
    /// The column names.
    pub columns: Vec<String>,
    /// The number of rows.
    pub rows: usize,
    cells: Cells,
    /// For `.npz` data: how many of the columns come from `x` (the rest from `y`).
    pub x_columns: Option<usize>,
}

fn error(path: &Path, problem: impl Into<String>) -> FileError {
    FileError {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

impl Table {
    /// Reads `path`: `.npz` or `.npy` by their magic bytes or name, CSV otherwise.
    pub fn read(path: &Path) -> Result<Table, FileError> {
        let bytes = read_bounded(path, MAX_DATA_BYTES, "a data file")?;
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if bytes.starts_with(b"PK") || ext.as_deref() == Some("npz") {
            Table::from_npz(&Npz::parse(path, &bytes, MAX_DATA_BYTES)?)
        } else if bytes.starts_with(npy::MAGIC) || ext.as_deref() == Some("npy") {
            let m = npy::parse_npy(&bytes).map_err(|p| error(path, p))?;
            let values = (0..m.nrows())
                .flat_map(|r| (0..m.ncols()).map(move |c| (r, c)))
                .map(|(r, c)| m[(r, c)])
                .collect();
            Ok(Table {
                path: path.to_path_buf(),
                columns: (0..m.ncols()).map(|c| c.to_string()).collect(),
                rows: m.nrows(),
                cells: Cells::Numbers(values),
                x_columns: None,
            })
        } else {
            let text = String::from_utf8(bytes)
                .map_err(|_| error(path, "not UTF-8 text (CSV with a header row expected)"))?;
            Table::from_csv(path, text)
        }
    }

    fn from_npz(npz: &Npz) -> Result<Table, FileError> {
        let get = |name: &str| {
            npz.array(name)?.ok_or_else(|| {
                npz.error(format!(
                    "no '{name}' member (a data .npz holds arrays x (N, D_in) and y)"
                ))
            })
        };
        let (x, y) = (get("x")?, get("y")?);
        let (n, dx) = match x.header.shape[..] {
            [n, d] => (n, d),
            _ => {
                return Err(npz.member_error(
                    "x",
                    format!(
                        "shape {}, but (N, D_in) is needed",
                        npy::shape_text(&x.header.shape)
                    ),
                ));
            }
        };
        let (ny, dy, one_d) = match y.header.shape[..] {
            [n] => (n, 1, true),
            [n, d] => (n, d, false),
            _ => {
                return Err(npz.member_error(
                    "y",
                    format!(
                        "shape {}, but (N,) or (N, D_out) is needed",
                        npy::shape_text(&y.header.shape)
                    ),
                ));
            }
        };
        if ny != n {
            return Err(npz.error(format!("x has {n} rows but y has {ny}")));
        }
        if n == 0 || dx == 0 || dy == 0 {
            return Err(npz.error("x or y is empty"));
        }
        let mut values = Vec::with_capacity(n * (dx + dy));
        for r in 0..n {
            for c in 0..dx {
                values.push(x.get(&[r, c]));
            }
            for c in 0..dy {
                values.push(if one_d { y.get(&[r]) } else { y.get(&[r, c]) });
            }
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            let (r, c) = (i / (dx + dy), i % (dx + dy));
            let (member, c) = if c < dx { ("x", c) } else { ("y", c - dx) };
            return Err(npz.member_error(
                member,
                format!(
                    "entry ({r}, {c}) is {} (the data must be finite)",
                    values[i]
                ),
            ));
        }
        let mut columns: Vec<String> = (0..dx).map(|c| format!("x{c}")).collect();
        if one_d {
            columns.push("y".into());
        } else {
            columns.extend((0..dy).map(|c| format!("y{c}")));
        }
        Ok(Table {
            path: npz.path.clone(),
            columns,
            rows: n,
            cells: Cells::Numbers(values),
            x_columns: Some(dx),
        })
    }

    fn from_csv(path: &Path, text: String) -> Result<Table, FileError> {
        let body = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let offset = text.len() - body.len();
        let mut header: Option<Vec<String>> = None;
        let mut separator = ',';
        let mut lines = Vec::new();
        let mut spans = Vec::new();
        let mut at = offset;
        for (n, raw) in body.split_inclusive('\n').enumerate() {
            let start = at;
            at += raw.len();
            let line = raw.trim_end_matches(['\n', '\r']);
            let n = n + 1;
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let fields =
                split(line, separator, start).map_err(|p| error(path, format!("line {n}: {p}")))?;
            match &header {
                None => {
                    // The header decides the separator.
                    separator = [',', ';', '\t']
                        .into_iter()
                        .find(|&s| line.contains(s))
                        .unwrap_or(',');
                    let fields = split(line, separator, start)
                        .map_err(|p| error(path, format!("line {n}: {p}")))?;
                    let names: Vec<String> = fields
                        .iter()
                        .map(|&(a, b)| unquote(&text[a as usize..b as usize]))
                        .collect();
                    for (i, name) in names.iter().enumerate() {
                        if name.is_empty() {
                            return Err(error(
                                path,
                                format!("line {n}: header field {} is empty", i + 1),
                            ));
                        }
                        if names[..i].contains(name) {
                            return Err(error(
                                path,
                                format!("line {n}: column '{}' appears twice", shorten(name)),
                            ));
                        }
                    }
                    header = Some(names);
                }
                Some(names) => {
                    if fields.len() != names.len() {
                        return Err(error(
                            path,
                            format!(
                                "line {n}: {} fields, but the header has {}",
                                fields.len(),
                                names.len()
                            ),
                        ));
                    }
                    lines.push(n);
                    spans.extend(fields);
                }
            }
        }
        let Some(columns) = header else {
            return Err(error(
                path,
                "no header row (the file is empty or only comments)",
            ));
        };
        if lines.is_empty() {
            return Err(error(path, "a header row but no data rows"));
        }
        Ok(Table {
            path: path.to_path_buf(),
            rows: lines.len(),
            columns,
            cells: Cells::Text { text, lines, spans },
            x_columns: None,
        })
    }

    /// Where row `r` is, for messages: "line N" (CSV) or "row N" (arrays, 0-based).
    pub fn row_name(&self, r: usize) -> String {
        match &self.cells {
            Cells::Text { lines, .. } => format!("line {}", lines[r]),
            Cells::Numbers(_) => format!("row {r}"),
        }
    }

    /// The text of cell (r, c) (a number's shortest decimal form for arrays; whole numbers
    /// without a fraction).
    pub fn text(&self, r: usize, c: usize) -> String {
        match &self.cells {
            Cells::Text { text, spans, .. } => {
                let (a, b) = spans[r * self.columns.len() + c];
                unquote(&text[a as usize..b as usize])
            }
            Cells::Numbers(v) => {
                let x = v[r * self.columns.len() + c];
                if x.fract() == 0.0 && x.abs() < 1e15 {
                    format!("{}", x as i64)
                } else {
                    format!("{x}")
                }
            }
        }
    }

    /// Cell (r, c) as a finite number, or the one-line error naming the file, row and column.
    pub fn number(&self, r: usize, c: usize) -> Result<f64, FileError> {
        match &self.cells {
            Cells::Numbers(v) => Ok(v[r * self.columns.len() + c]),
            Cells::Text { .. } => {
                let field = self.text(r, c);
                let at = || {
                    format!(
                        "{}, column '{}'",
                        self.row_name(r),
                        shorten(&self.columns[c])
                    )
                };
                let problem = match field.parse::<f64>() {
                    Ok(v) if v.is_finite() => return Ok(v),
                    _ if field.is_empty() => "is empty".to_string(),
                    Ok(v) if v.is_nan() => {
                        format!("\"{}\" is NaN (the data must be finite)", shorten(&field))
                    }
                    Ok(_) => format!(
                        "\"{}\" is not finite (the data must be finite)",
                        shorten(&field)
                    ),
                    Err(_) => format!("\"{}\" is not a number", shorten(&field)),
                };
                Err(error(&self.path, format!("{}: {problem}", at())))
            }
        }
    }

    /// The column indices `spec` names ([`select`]).
    pub fn select(&self, spec: &str) -> Result<Vec<usize>, FileError> {
        select(&self.columns, spec).map_err(|p| error(&self.path, p))
    }

    /// The indices of the columns named `names` (a model's config), or which is missing.
    pub fn find(&self, names: &[String], what: &str) -> Result<Vec<usize>, FileError> {
        names
            .iter()
            .map(|name| {
                self.columns.iter().position(|c| c == name).ok_or_else(|| {
                    error(
                        &self.path,
                        format!(
                            "no column '{}' (the model's {what}; the file has {}): name the \
                             columns with --inputs and --targets",
                            shorten(name),
                            listing(&self.columns)
                        ),
                    )
                })
            })
            .collect()
    }

    /// The error "FILE: problem".
    pub fn error(&self, problem: impl Into<String>) -> FileError {
        error(&self.path, problem)
    }
}

/// `a, b, c` (the first eight, then how many more).
fn listing(columns: &[String]) -> String {
    let shown: Vec<String> = columns.iter().take(8).map(|c| shorten(c)).collect();
    match columns.len() {
        0..=8 => shown.join(", "),
        n => format!("{}, ... ({n} columns)", shown.join(", ")),
    }
}

/// The fields of one CSV line as byte ranges into the whole text (`start` is the line's
/// offset), trimmed of spaces; quotes are kept (see [`unquote`]).
fn split(line: &str, separator: char, start: usize) -> Result<Vec<(u32, u32)>, String> {
    let mut fields = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    let offset =
        |i: usize| u32::try_from(start + i).map_err(|_| "the file is too large".to_string());
    loop {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let field_start = i;
        if i < bytes.len() && bytes[i] == b'"' {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err(format!("field {} has no closing quote", fields.len() + 1)),
                    Some(b'"') if bytes.get(i + 1) == Some(&b'"') => i += 2,
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
        } else {
            while i < bytes.len() && bytes[i] != separator as u8 {
                i += 1;
            }
        }
        let mut end = i;
        while end > field_start && bytes[end - 1] == b' ' {
            end -= 1;
        }
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        fields.push((offset(field_start)?, offset(end)?));
        match bytes.get(i) {
            None => return Ok(fields),
            Some(&b) if b == separator as u8 => i += 1,
            Some(_) => {
                return Err(format!(
                    "field {} has text after its closing quote",
                    fields.len()
                ));
            }
        }
    }
}

/// A field without its quotes ("" inside a quoted field is one quote).
fn unquote(field: &str) -> String {
    match field.strip_prefix('"').and_then(|f| f.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => field.to_string(),
    }
}

/// The columns a selection names: comma-separated names or 0-based indices, and ranges
/// `a-b` (inclusive) whose ends are indices or names; a token that is a column's name is that
/// column (before any index or range reading).
///
/// ```
/// let columns: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).into();
/// assert_eq!(nearid_host::table::select(&columns, "a, 2-3").unwrap(), [0, 2, 3]);
/// assert_eq!(nearid_host::table::select(&columns, "b-d").unwrap(), [1, 2, 3]);
/// assert_eq!(
///     nearid_host::table::select(&columns, "f").unwrap_err(),
///     "no column 'f' (the file has a, b, c, d, e)"
/// );
/// ```
pub fn select(columns: &[String], spec: &str) -> Result<Vec<usize>, String> {
    let mut out: Vec<usize> = Vec::new();
    let index = |t: &str| -> Option<usize> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let check = |i: usize, t: &str| {
        if i < columns.len() {
            Ok(i)
        } else {
            Err(format!(
                "column index {i} in '{}' is beyond the {} columns (indices start at 0)",
                shorten(t),
                columns.len()
            ))
        }
    };
    for token in spec.split(',').map(str::trim) {
        if token.is_empty() {
            return Err(format!("an empty column name in '{}'", shorten(spec)));
        }
        let picked: Vec<usize> = if let Some(i) = columns.iter().position(|c| c == token) {
            vec![i]
        } else if let Some(i) = index(token) {
            vec![check(i, token)?]
        } else if let Some((a, b)) = token.split_once('-').and_then(|(a, b)| {
            let end = |t: &str| columns.iter().position(|c| c == t).or_else(|| index(t));
            Some((end(a.trim())?, end(b.trim())?))
        }) {
            if a > b {
                return Err(format!("range '{}' runs backwards", shorten(token)));
            }
            check(b, token)?;
            (a..=b).collect()
        } else {
            return Err(format!(
                "no column '{}' (the file has {})",
                shorten(token),
                listing(columns)
            ));
        };
        for i in picked {
            if out.contains(&i) {
                return Err(format!(
                    "column '{}' is selected twice",
                    shorten(&columns[i])
                ));
            }
            out.push(i);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_quotes_and_separators() {
        let t = Table::from_csv(
            Path::new("d.csv"),
            "# comment\na, \"b,c\" ,d\n1, \"x\"\"y\" , 3\n\n4,5,6\r\n".into(),
        )
        .unwrap();
        assert_eq!(t.columns, ["a", "b,c", "d"]);
        assert_eq!(t.rows, 2);
        assert_eq!(t.text(0, 1), "x\"y");
        assert_eq!(t.number(1, 2).unwrap(), 6.0);
        assert_eq!(t.row_name(1), "line 5");
        let t = Table::from_csv(Path::new("s.csv"), "a;b\n1,5;2\n".into()).unwrap();
        assert_eq!(t.text(0, 0), "1,5");
        assert_eq!(
            t.number(0, 0).unwrap_err().to_string(),
            "s.csv: line 2, column 'a': \"1,5\" is not a number"
        );
    }
}
