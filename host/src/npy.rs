//! Just enough of NumPy's `.npy` format for the command-line tool: read an array of floats or
//! integers (versions 1.0, 2.0 and 3.0, either byte order, C or Fortran order) and a 0-d string
//! array (the `config` of a model file, [`parse_text`]); write float64 and float32 arrays of any
//! shape in C order, and 0-d strings.
//!
//! A file is `\x93NUMPY`, a major and a minor version byte, the header length (u16 little-endian
//! in 1.0, u32 in 2.0 and 3.0), the header (a Python dict literal such as
//! `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 3), }`, Latin-1 text in 1.0 and 2.0,
//! UTF-8 in 3.0), then the data. The reader is our own (the kept libraries have none) so that every
//! size is checked before it is used: nothing is allocated from the shape, only from the bytes
//! actually present, and every product of sizes is checked arithmetic. Each problem is one line
//! of text (the caller puts the file name in front).

use nalgebra::DMatrix;

/// The six bytes every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Nesting of tuples and lists a header may have (NumPy writes depth 1; a structured dtype a
/// few more). Deeper headers are refused before the parser's recursion could exhaust the stack.
const MAX_NESTING: usize = 8;

/// The element types read, as NumPy's `descr` spells them (byte order aside).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// IEEE binary floats (`f4`, `f8`).
    Float,
    /// Two's complement integers (`i1` .. `i8`).
    Int,
    /// Unsigned integers (`u1` .. `u8`).
    Uint,
}

/// One element type: kind, bytes, byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dtype {
    /// Float or integer.
    pub kind: Kind,
    /// Bytes per element: 4 or 8 for floats, 1, 2, 4 or 8 for integers.
    pub size: usize,
    /// Little-endian (`<`, or `=`/`|`/none on a little-endian host).
    pub little: bool,
}

impl Dtype {
    /// Parse a `descr` such as `<f8`, `>i4`, `|u1`.
    pub fn parse(descr: &str) -> Result<Dtype, String> {
        let unsupported = || {
            format!(
                "dtype '{}' not supported (float64, float32 or an integer type is needed)",
                shorten(descr)
            )
        };
        let (order, rest) = match descr.chars().next() {
            Some(c @ ('<' | '>' | '=' | '|')) => (c, &descr[1..]),
            _ => ('=', descr),
        };
        let little = match order {
            '<' => true,
            '>' => false,
            _ => cfg!(target_endian = "little"),
        };
        let kind = match rest.chars().next() {
            Some('f') => Kind::Float,
            Some('i') => Kind::Int,
            Some('u') => Kind::Uint,
            _ => return Err(unsupported()),
        };
        let size = match (kind, &rest[1..]) {
            (_, "4") => 4,
            (_, "8") => 8,
            (Kind::Int | Kind::Uint, "1") => 1,
            (Kind::Int | Kind::Uint, "2") => 2,
            _ => return Err(unsupported()),
        };
        Ok(Dtype { kind, size, little })
    }

    /// The element at the start of `b` (`b.len() == self.size`) as f64: exact for f4, f8 and
    /// integers up to 2^53 in magnitude, rounded to nearest beyond.
    fn decode(self, b: &[u8]) -> f64 {
        let mut le = [0u8; 8];
        le[..self.size].copy_from_slice(b);
        if !self.little {
            le[..self.size].reverse();
        }
        // Sign-extend integers narrower than 8 bytes.
        if self.kind == Kind::Int && le[self.size - 1] & 0x80 != 0 {
            le[self.size..].fill(0xff);
        }
        match (self.kind, self.size) {
            (Kind::Float, 4) => f32::from_le_bytes([le[0], le[1], le[2], le[3]]) as f64,
            (Kind::Float, _) => f64::from_le_bytes(le),
            (Kind::Int, _) => i64::from_le_bytes(le) as f64,
            (Kind::Uint, _) => u64::from_le_bytes(le) as f64,
        }
    }
}

/// A parsed header: what the data bytes hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The `descr` as written (for messages).
    pub descr: String,
    /// The element type.
    pub dtype: Dtype,
    /// Column-major data (`fortran_order: True`).
    pub fortran_order: bool,
    /// The shape.
    pub shape: Vec<usize>,
    /// Where the data starts in the file.
    pub data_offset: usize,
}

/// An array read from a `.npy` file, its values in f64 in the file's order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// The header.
    pub header: Header,
    /// prod(shape) values, C order unless `header.fortran_order`.
    pub values: Vec<f64>,
}

impl Array {
    /// The value at `index` (one entry per axis, each below its size), whatever the order of
    /// the data; NaN for an index outside the array.
    pub fn get(&self, index: &[usize]) -> f64 {
        if index.len() != self.header.shape.len()
            || index.iter().zip(&self.header.shape).any(|(i, n)| i >= n)
        {
            return f64::NAN;
        }
        self.at(index)
    }

    /// The value at `index` (one entry per axis, each below its size; checked by the caller).
    fn at(&self, index: &[usize]) -> f64 {
        let shape = &self.header.shape;
        let mut offset = 0;
        if self.header.fortran_order {
            for (&i, &n) in index.iter().zip(shape).rev() {
                offset = offset * n + i;
            }
        } else {
            for (&i, &n) in index.iter().zip(shape) {
                offset = offset * n + i;
            }
        }
        self.values[offset]
    }
}

/// `(3,)`, `(2, 2)`, `()` as NumPy prints shapes (cut after 64 characters).
pub fn shape_text(shape: &[usize]) -> String {
    brief(&match shape {
        [n] => format!("({n},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", parts.join(", "))
        }
    })
}

/// Parse the magic, version, length and header of a `.npy` file.
pub fn parse_header(bytes: &[u8]) -> Result<Header, String> {
    let fields = header_fields(bytes)?;
    let dtype = Dtype::parse(&fields.descr)?;
    Ok(Header {
        descr: fields.descr,
        dtype,
        fortran_order: fields.fortran_order,
        shape: fields.shape,
        data_offset: fields.data_offset,
    })
}

/// A header's fields before its `descr` is read as a number type.
struct Fields {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
    data_offset: usize,
}

fn header_fields(bytes: &[u8]) -> Result<Fields, String> {
    if bytes.is_empty() {
        return Err("empty file (not a .npy file)".into());
    }
    let head = &bytes[..bytes.len().min(MAGIC.len())];
    if head != &MAGIC[..head.len()] {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    if bytes.len() < MAGIC.len() + 2 {
        return Err(format!(
            "truncated: {} bytes, the magic and version alone are 8",
            bytes.len()
        ));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let width = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => {
            return Err(format!(
                "unsupported .npy version {major}.{minor} (1.0, 2.0 and 3.0 are read)"
            ));
        }
    };
    let start = 8 + width;
    let Some(len_bytes) = bytes.get(8..start) else {
        return Err(format!(
            "truncated: {} bytes, version {major}.0 needs {start} before the header",
            bytes.len()
        ));
    };
    let header_len = len_bytes
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    let data_offset = start
        .checked_add(header_len)
        .ok_or("header length overflows")?;
    let Some(raw) = bytes.get(start..data_offset) else {
        return Err(format!(
            "truncated header: {header_len} bytes declared, {} present",
            bytes.len() - start
        ));
    };
    let text: String = if major == 3 {
        std::str::from_utf8(raw)
            .map_err(|_| "header is not UTF-8 text")?
            .to_owned()
    } else {
        // Latin-1: each byte is the code point of the same value.
        raw.iter().map(|&b| char::from(b)).collect()
    };
    let entries = match Parser::new(&text).dict() {
        Ok(e) => e,
        Err(e) => return Err(format!("header: {e}")),
    };
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (key, value) in entries {
        let slot = match key.as_str() {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran,
            "shape" => &mut shape,
            _ => {
                return Err(format!(
                    "header: unknown key '{}' (descr, fortran_order and shape expected)",
                    shorten(&key)
                ));
            }
        };
        if slot.replace(value).is_some() {
            return Err(format!("header: key '{key}' appears twice"));
        }
    }
    let descr = match descr.ok_or("header has no 'descr'")? {
        Value::Str(s) => s,
        Value::List(_) => {
            return Err(
                "structured dtype not supported (a plain float or integer array is needed)".into(),
            );
        }
        v => {
            return Err(format!(
                "header: 'descr' must be a string, found {}",
                brief(&v.to_string())
            ));
        }
    };
    let fortran_order = match fortran.ok_or("header has no 'fortran_order'")? {
        Value::Bool(b) => b,
        v => {
            return Err(format!(
                "header: 'fortran_order' must be True or False, found {}",
                brief(&v.to_string())
            ));
        }
    };
    let shape = match shape.ok_or("header has no 'shape'")? {
        Value::Tuple(items) => sizes(&items)?,
        v => {
            return Err(format!(
                "header: 'shape' must be a tuple, found {}",
                brief(&v.to_string())
            ));
        }
    };
    Ok(Fields {
        descr,
        fortran_order,
        shape,
        data_offset,
    })
}

/// The sizes of a shape tuple, each a non-negative integer that fits in usize.
fn sizes(items: &[Value]) -> Result<Vec<usize>, String> {
    let shape = || brief(&Value::Tuple(items.to_vec()).to_string());
    items
        .iter()
        .map(|v| match v {
            Value::Int(digits) if digits.starts_with('-') => {
                Err(format!("shape {} has a negative size", shape()))
            }
            Value::Int(digits) => digits
                .parse::<usize>()
                .map_err(|_| format!("shape {} has a size too large to address", shape())),
            v => Err(format!(
                "header: 'shape' must hold integers, found {}",
                brief(&v.to_string())
            )),
        })
        .collect()
}

/// Parse a whole `.npy` file: header, then exactly prod(shape) elements.
pub fn parse_array(bytes: &[u8]) -> Result<Array, String> {
    let header = parse_header(bytes)?;
    let shape = shape_text(&header.shape);
    let descr = shorten(&header.descr);
    let needed = header
        .shape
        .iter()
        .try_fold(header.dtype.size, |acc, &n| acc.checked_mul(n))
        .ok_or_else(|| {
            format!("shape {shape} of '{descr}' is too large (its byte count overflows)")
        })?;
    let data = &bytes[header.data_offset..];
    if data.len() < needed {
        return Err(format!(
            "truncated: shape {shape} of '{descr}' needs {needed} data bytes, the file has {}",
            data.len()
        ));
    }
    if data.len() > needed {
        return Err(format!(
            "{} data bytes where shape {shape} of '{descr}' needs {needed} (trailing bytes)",
            data.len()
        ));
    }
    // Bounded by the bytes present, never by the shape alone.
    let values = data
        .chunks_exact(header.dtype.size)
        .map(|c| header.dtype.decode(c))
        .collect();
    Ok(Array { header, values })
}

/// Parse a `.npy` file holding a 2-D array of floats or integers into a matrix. Every entry
/// must be finite.
pub fn parse_npy(bytes: &[u8]) -> Result<DMatrix<f64>, String> {
    let array = parse_array(bytes)?;
    let (rows, cols) = match array.header.shape[..] {
        [r, c] => (r, c),
        _ => {
            return Err(format!(
                "a 2-D array is needed, found shape {}",
                shape_text(&array.header.shape)
            ));
        }
    };
    if rows == 0 || cols == 0 {
        return Err(format!("the array is empty (shape ({rows}, {cols}))"));
    }
    for i in 0..rows {
        for j in 0..cols {
            let v = array.at(&[i, j]);
            if !v.is_finite() {
                return Err(format!(
                    "entry ({i}, {j}) is {v} (finite values are needed)"
                ));
            }
        }
    }
    Ok(DMatrix::from_fn(rows, cols, |i, j| array.at(&[i, j])))
}

/// Parse an (M, D, D) array (such as [`npy_bytes`] writes) into M matrices, the first index
/// first.
pub fn parse_npy_stack(bytes: &[u8]) -> Result<Vec<DMatrix<f64>>, String> {
    let array = parse_array(bytes)?;
    let [m, d, d2] = array.header.shape[..] else {
        return Err(format!(
            "a 3-D array is needed, found shape {}",
            shape_text(&array.header.shape)
        ));
    };
    if d != d2 {
        return Err(format!(
            "shape {}: the matrices are not square",
            shape_text(&array.header.shape)
        ));
    }
    // With d > 0 the data length bounds m; with d = 0 nothing would (shape (2^40, 0, 0)).
    if d == 0 {
        return Err(format!(
            "shape {}: the matrices are empty",
            shape_text(&array.header.shape)
        ));
    }
    Ok((0..m)
        .map(|k| DMatrix::from_fn(d, d, |i, j| array.at(&[k, i, j])))
        .collect())
}

/// The bytes of a `.npy` (version 1.0) file holding `matrices` as one little-endian f64 array of
/// shape (M, D, D), C order: element [i, r, c] is row r, column c of matrix i.
pub fn npy_bytes(matrices: &[DMatrix<f64>], d: usize) -> Vec<u8> {
    let values: Vec<f64> = matrices
        .iter()
        .flat_map(|m| (0..d).flat_map(move |r| (0..d).map(move |c| m[(r, c)])))
        .collect();
    f64_array_bytes(&[matrices.len(), d, d], &values)
}

/// A version-1.0 `.npy` file of little-endian float64 values in C order with this shape
/// (`values.len()` is the product of `shape`, which the caller guarantees).
pub fn f64_array_bytes(shape: &[usize], values: &[f64]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    with_header("<f8", shape, &data)
}

/// As [`f64_array_bytes`], in float32 (`<f4`).
pub fn f32_array_bytes(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    with_header("<f4", shape, &data)
}

/// A 0-d string array holding `text`, as `numpy.array(text)` writes it: dtype `<Un` (n
/// characters, each a little-endian UTF-32 code unit; n >= 1, an empty string is one NUL).
///
/// ```
/// use nearid_host::npy;
/// let bytes = npy::text_bytes("{\"loss\": \"quadratic\"}");
/// assert_eq!(npy::parse_text(&bytes).unwrap(), "{\"loss\": \"quadratic\"}");
/// ```
pub fn text_bytes(text: &str) -> Vec<u8> {
    let mut data: Vec<u8> = text
        .chars()
        .flat_map(|c| u32::from(c).to_le_bytes())
        .collect();
    if data.is_empty() {
        data = vec![0; 4];
    }
    with_header(&format!("<U{}", data.len() / 4), &[], &data)
}

/// Magic, version 1.0, the header dict for (`descr`, C order, `shape`) padded with spaces and a
/// newline to a multiple of 64 bytes as NumPy pads it, then `data`.
fn with_header(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    // Our headers are short: a dtype and a shape of a few integers.
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// The text of a 0-d string array: NumPy's unicode dtype (`<Un`, `>Un`: n UTF-32 code units)
/// or its byte-string dtype (`|Sn`: n bytes of UTF-8), trailing NULs removed as NumPy removes
/// them. Sizes are checked before anything is decoded.
pub fn parse_text(bytes: &[u8]) -> Result<String, String> {
    let fields = header_fields(bytes)?;
    let descr = fields.descr.as_str();
    let unsupported = || {
        format!(
            "dtype '{}' is not a string dtype (a 0-d '<U' array is needed)",
            shorten(descr)
        )
    };
    let (little, unit, count) = match descr.as_bytes() {
        [order @ (b'<' | b'>' | b'='), b'U', ..] => (*order != b'>', 4, &descr[2..]),
        [b'U', ..] => (true, 4, &descr[1..]),
        [b'|' | b'<' | b'>' | b'=', b'S', ..] => (true, 1, &descr[2..]),
        [b'S', ..] => (true, 1, &descr[1..]),
        _ => return Err(unsupported()),
    };
    let count: usize = count.parse().map_err(|_| unsupported())?;
    if !fields.shape.is_empty() {
        return Err(format!(
            "a 0-d string array is needed, found shape {}",
            shape_text(&fields.shape)
        ));
    }
    let needed = count
        .checked_mul(unit)
        .ok_or_else(|| format!("dtype '{}' is too large", shorten(descr)))?;
    let data = &bytes[fields.data_offset..];
    if data.len() != needed {
        return Err(format!(
            "{} data bytes where dtype '{}' needs {needed}",
            data.len(),
            shorten(descr)
        ));
    }
    let text = if unit == 1 {
        String::from_utf8(data.to_vec()).map_err(|_| "the string is not UTF-8 text")?
    } else {
        data.chunks_exact(4)
            .map(|c| {
                let c = [c[0], c[1], c[2], c[3]];
                let v = if little {
                    u32::from_le_bytes(c)
                } else {
                    u32::from_be_bytes(c)
                };
                char::from_u32(v)
            })
            .collect::<Option<String>>()
            .ok_or("the string is not valid UTF-32 text")?
    };
    Ok(text.trim_end_matches('\0').to_owned())
}

/// A token from the file (a word, a dtype, a key) cut to 24 characters, control characters as
/// '?', so that a message stays one short line whatever the file holds.
pub(crate) fn shorten(s: &str) -> String {
    cut(s, 24)
}

/// A value or shape cut to 64 characters (a shape of 2^64 - 1 by 2^64 - 1 is 44).
fn brief(s: &str) -> String {
    cut(s, 64)
}

fn cut(s: &str, keep: usize) -> String {
    let kept: String = s
        .chars()
        .take(keep)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > keep {
        format!("{kept}...")
    } else {
        kept
    }
}

/// A value of the header's Python literal.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(String),
    Bool(bool),
    /// Decimal digits with an optional '-', converted where the size is known.
    Int(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    None,
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let items = |f: &mut std::fmt::Formatter<'_>, items: &[Value]| {
            for (k, v) in items.iter().enumerate() {
                if k > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{v}")?;
            }
            Ok(())
        };
        match self {
            Value::Str(s) => write!(f, "'{}'", shorten(s)),
            Value::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Value::Int(d) => f.write_str(&shorten(d)),
            Value::Tuple(v) => {
                f.write_str("(")?;
                items(f, v)?;
                f.write_str(if v.len() == 1 { ",)" } else { ")" })
            }
            Value::List(v) => {
                f.write_str("[")?;
                items(f, v)?;
                f.write_str("]")
            }
            Value::None => f.write_str("None"),
        }
    }
}

/// A recursive-descent parser for the subset of Python literals NumPy headers use: a dict of
/// string keys to strings, True/False/None, decimal integers, tuples and lists.
struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser { text, at: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.at += c.len_utf8();
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        if self.peek() == Some(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// "expected X at byte N, found Y".
    fn expected(&self, what: &str) -> String {
        let found = match self.peek() {
            None => "the end".to_string(),
            Some(c) if c.is_control() => format!("{:?}", c),
            Some(c) => format!("'{c}'"),
        };
        format!("expected {what} at byte {}, found {found}", self.at)
    }

    fn dict(&mut self) -> Result<Vec<(String, Value)>, String> {
        if !self.eat('{') {
            return Err(self.expected("'{'"));
        }
        let mut entries = Vec::new();
        loop {
            if self.eat('}') {
                break;
            }
            self.skip_space();
            let key = match self.peek() {
                Some('\'' | '"') => self.string()?,
                _ => return Err(self.expected("a string key or '}'")),
            };
            if !self.eat(':') {
                return Err(self.expected("':'"));
            }
            entries.push((key, self.value(0)?));
            if !self.eat(',') {
                if self.eat('}') {
                    break;
                }
                return Err(self.expected("',' or '}'"));
            }
        }
        self.skip_space();
        if self.at != self.text.len() {
            return Err(self.expected("the end after the dict"));
        }
        Ok(entries)
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_NESTING {
            return Err(format!(
                "nested deeper than {MAX_NESTING} at byte {}",
                self.at
            ));
        }
        self.skip_space();
        match self.peek() {
            Some('\'' | '"') => self.string().map(Value::Str),
            Some('(') => {
                self.at += 1;
                let (items, comma) = self.items(')', depth)?;
                // Python: (3) is the integer 3, (3,) a tuple.
                Ok(match (items.len(), comma) {
                    (1, false) => items.into_iter().next().unwrap_or(Value::None),
                    _ => Value::Tuple(items),
                })
            }
            Some('[') => {
                self.at += 1;
                self.items(']', depth).map(|(items, _)| Value::List(items))
            }
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let start = self.at;
                self.at += 1;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.at += 1;
                }
                let digits = &self.text[start..self.at];
                if digits == "-" {
                    return Err(self.expected("a digit"));
                }
                Ok(Value::Int(digits.to_owned()))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.at;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
                    self.at += 1;
                }
                match &self.text[start..self.at] {
                    "True" => Ok(Value::Bool(true)),
                    "False" => Ok(Value::Bool(false)),
                    "None" => Ok(Value::None),
                    word => Err(format!("unknown name '{}' at byte {start}", shorten(word))),
                }
            }
            _ => Err(self.expected("a value")),
        }
    }

    /// Comma-separated values up to `close` (the opening bracket already eaten); also whether a
    /// comma was seen.
    fn items(&mut self, close: char, depth: usize) -> Result<(Vec<Value>, bool), String> {
        let mut items = Vec::new();
        let mut comma = false;
        loop {
            if self.eat(close) {
                return Ok((items, comma));
            }
            items.push(self.value(depth + 1)?);
            if self.eat(',') {
                comma = true;
            } else if self.eat(close) {
                return Ok((items, comma));
            } else {
                return Err(self.expected(&format!("',' or '{close}'")));
            }
        }
    }

    /// A quoted string; a backslash takes the next character literally.
    fn string(&mut self) -> Result<String, String> {
        let start = self.at;
        let quote = self.peek().unwrap_or('\'');
        self.at += 1;
        let mut out = String::new();
        let mut chars = self.text[self.at..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, next)) => out.push(next),
                    None => break,
                },
                c if c == quote => {
                    self.at += i + 1;
                    return Ok(out);
                }
                '\n' => break,
                c => out.push(c),
            }
        }
        Err(format!("unterminated string at byte {start}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-1.0 file with this header text and data, padded as NumPy pads.
    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn round_trip() {
        let a = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
        let b = -a.clone();
        let bytes = npy_bytes(&[a.clone(), b.clone()], 2);
        assert_eq!((bytes.len() - 128) % 8, 0);
        assert_eq!(parse_npy_stack(&bytes).unwrap(), vec![a, b]);
    }

    #[test]
    fn empty_matrices_are_refused_before_any_allocation() {
        // (2^40, 0, 0) holds no bytes: only the d = 0 check stops 2^40 empty matrices.
        let stack = file(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 0, 0)}",
            &[],
        );
        assert_eq!(
            parse_npy_stack(&stack).unwrap_err(),
            "shape (1099511627776, 0, 0): the matrices are empty"
        );
        let flat = file(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 0)}",
            &[],
        );
        assert_eq!(
            parse_npy(&flat).unwrap_err(),
            "the array is empty (shape (1099511627776, 0))"
        );
    }

    #[test]
    fn every_dtype_and_order() {
        let m = DMatrix::from_row_slice(2, 2, &[1.0, -2.0, 3.0, -4.0]);
        let values = [1i64, -2, 3, -4];
        // (descr, bytes of one value)
        type Enc = fn(i64) -> Vec<u8>;
        let cases: [(&str, Enc); 12] = [
            ("<f8", |v| (v as f64).to_le_bytes().to_vec()),
            (">f8", |v| (v as f64).to_be_bytes().to_vec()),
            ("<f4", |v| (v as f32).to_le_bytes().to_vec()),
            (">f4", |v| (v as f32).to_be_bytes().to_vec()),
            ("<i8", |v| v.to_le_bytes().to_vec()),
            (">i8", |v| v.to_be_bytes().to_vec()),
            ("<i4", |v| (v as i32).to_le_bytes().to_vec()),
            (">i4", |v| (v as i32).to_be_bytes().to_vec()),
            ("<i2", |v| (v as i16).to_le_bytes().to_vec()),
            (">i2", |v| (v as i16).to_be_bytes().to_vec()),
            ("|i1", |v| (v as i8).to_le_bytes().to_vec()),
            ("=i1", |v| (v as i8).to_le_bytes().to_vec()),
        ];
        for (descr, enc) in cases {
            let c: Vec<u8> = values.iter().flat_map(|&v| enc(v)).collect();
            let header =
                format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2, 2), }}");
            assert_eq!(parse_npy(&file(&header, &c)).unwrap(), m, "{descr}");
            // Fortran order: the same bytes are the transpose.
            let header = header.replace("False", "True");
            assert_eq!(
                parse_npy(&file(&header, &c)).unwrap(),
                m.transpose(),
                "{descr}"
            );
        }
        let unsigned: Vec<u8> = [1u16, 65535, 3, 4]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let u = parse_npy(&file(
            "{'descr': '>u2', 'fortran_order': False, 'shape': (2, 2)}",
            &unsigned,
        ))
        .unwrap();
        assert_eq!(u[(0, 1)], 65535.0);
        // Key order, double quotes, no trailing comma, version 3.0 with UTF-8.
        let mut v3 = file(
            "{\"shape\": (1, 1), \"fortran_order\": False, \"descr\": \"<u8\"}",
            &u64::MAX.to_le_bytes(),
        );
        v3[6] = 3;
        let len = u16::from_le_bytes([v3[8], v3[9]]);
        v3.splice(8..10, (len as u32).to_le_bytes());
        assert_eq!(parse_npy(&v3).unwrap()[(0, 0)], u64::MAX as f64);
    }

    #[test]
    fn header_literals() {
        let mut p = Parser::new("{'a': (3), 'b': (3,), 'c': [], 'd': None, 'e': -7}");
        let d = p.dict().unwrap();
        assert_eq!(d[0].1, Value::Int("3".into()));
        assert_eq!(d[1].1, Value::Tuple(vec![Value::Int("3".into())]));
        assert_eq!(d[2].1, Value::List(vec![]));
        assert_eq!(d[3].1, Value::None);
        assert_eq!(d[4].1, Value::Int("-7".into()));
        assert_eq!(shape_text(&[3]), "(3,)");
        assert_eq!(shape_text(&[]), "()");
        assert_eq!(shorten(&"x".repeat(30)), format!("{}...", "x".repeat(24)));
    }
}
