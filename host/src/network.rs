//! A network with run-time shapes, as the model files hold it: `.npz` with PyTorch's names (in
//! and out), `.nid` (the core's model file, [`nearid::file`], in and out), and the compiled
//! types the tool trains and runs ([`crate::compiled`]) by zero padding.
//!
//! x (D_in) -> z_0 = P x + p (D) -> M residual blocks z + W2 s(W1 z + b1) + b2 -> y = Q z_M + c
//! (D_out, or C logits). The `.npz` members, float32 or float64, C order:
//!
//! | member | shape |
//! |---|---|
//! | `stem.weight`, `stem.bias` | P (D, D_in), p (D) |
//! | `blocks.{i}.w1`, `blocks.{i}.b1` | W1 (H, D), b1 (H), for i = 0 .. M-1, applied in that order |
//! | `blocks.{i}.w2`, `blocks.{i}.b2` | W2 (D, H), b2 (D) |
//! | `head.weight`, `head.bias` | Q (D_out, D), c (D_out) |
//! | `config` | a 0-d string array holding the JSON of [`Config`] |
//!
//! An identity input or output layer (a `.nid` file without one) is written as its matrix.
//! Values are kept in f64 here; each format is reached through [`quantise`], which says when a
//! value does not fit.

use crate::matrix_file::FileError;
use crate::npy;
use crate::npz::{self, Npz};
use nalgebra::{DMatrix, DVector};
use nearid::file::{self, Header, Kind, LossKind, Shape};
use nearid::fixed::{Q12, Q16};
use nearid::{Scalar, file::Stored};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The activation s of the blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ActivationName {
    /// max(z, 0).
    Relu,
    /// tanh z.
    Tanh,
    /// ln(1 + e^z).
    Softplus,
}

impl ActivationName {
    /// The code in `.nid` files.
    pub fn code(self) -> u8 {
        use nearid::Activation;
        match self {
            ActivationName::Relu => nearid::Relu::ID,
            ActivationName::Tanh => nearid::Tanh::ID,
            ActivationName::Softplus => nearid::Softplus::ID,
        }
    }
}

/// The loss a model is trained with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossName {
    /// 1/2 ||y^ - y||^2 summed over the outputs (regression).
    Quadratic,
    /// Softmax cross-entropy over the classes (classification).
    CrossEntropy,
}

/// The arithmetic a model is trained and run in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ScalarName {
    /// IEEE binary32, as a Cortex-M4F's FPU.
    F32,
    /// Q16.16 fixed point, range [-32768, 32768), step 2^-16.
    Q16,
    /// Q4.12 fixed point (16 bits), range [-8, 8), step 2^-12, as the micro:bit runs.
    Q12,
}

impl ScalarName {
    /// The name in messages.
    pub fn label(self) -> &'static str {
        match self {
            ScalarName::F32 => "f32",
            ScalarName::Q16 => "Q16.16",
            ScalarName::Q12 => "Q4.12",
        }
    }

    /// The representable range, as messages print it.
    pub fn range_text(self) -> &'static str {
        match self {
            ScalarName::F32 => "[-3.4e38, 3.4e38]",
            ScalarName::Q16 => "[-32768, 32768)",
            ScalarName::Q12 => "[-8, 8)",
        }
    }

    /// The largest magnitude the format holds (fixed point: its most negative value's).
    pub fn limit(self) -> f64 {
        match self {
            ScalarName::F32 => f32::MAX as f64,
            ScalarName::Q16 => 32768.0,
            ScalarName::Q12 => 8.0,
        }
    }

    /// The format's step (fixed point), 0 for floats.
    pub fn step(self) -> f64 {
        match self {
            ScalarName::F32 => 0.0,
            ScalarName::Q16 => 1.0 / 65536.0,
            ScalarName::Q12 => 1.0 / 4096.0,
        }
    }

    /// Nearest value of the format (saturating), as f64.
    pub fn round(self, v: f64) -> f64 {
        match self {
            ScalarName::F32 => v as f32 as f64,
            ScalarName::Q16 => Q16::from_f64(v).to_f64(),
            ScalarName::Q12 => Q12::from_f64(v).to_f64(),
        }
    }

    /// The `.nid` format code.
    pub fn code(self) -> u8 {
        match self {
            ScalarName::F32 => <f32 as Stored>::FORMAT,
            ScalarName::Q16 => <Q16 as Stored>::FORMAT,
            ScalarName::Q12 => <Q12 as Stored>::FORMAT,
        }
    }
}

/// What a model file says besides its tensors: the `config` entry's JSON.
///
/// ```
/// let json = r#"{"activation": "relu", "loss": "quadratic", "scalar": "f32",
///                "inputs": ["a", "b"], "targets": ["y"]}"#;
/// let config: nearid_host::network::Config = serde_json::from_str(json).unwrap();
/// assert_eq!(config.classes, None);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The blocks' activation.
    pub activation: ActivationName,
    /// The loss it was trained with (quadratic: regression; cross_entropy: classification).
    pub loss: LossName,
    /// The arithmetic it was trained in, and runs in unless told otherwise.
    pub scalar: ScalarName,
    /// The input columns, in the order of x (D_in names).
    pub inputs: Vec<String>,
    /// The target columns: D_out for regression, the one label column for classification.
    pub targets: Vec<String>,
    /// Classification: the class names, in the order of the logits (2 to 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// How it was trained (data, hyper-parameters, losses): for people, not read back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<serde_json::Value>,
    /// m, the blocks in use (0 ..= M), when fewer than all M: a network grown by
    /// `nearid train --grow` that has not reached its capacity. The blocks past m are kept
    /// (the capacity) but not run. Absent: all M.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_depth: Option<usize>,
}

/// y = W x + b.
#[derive(Clone, Debug, PartialEq)]
pub struct Affine {
    /// (rows, cols)
    pub w: DMatrix<f64>,
    /// (rows)
    pub b: DVector<f64>,
}

impl Affine {
    /// The identity of width d.
    pub fn identity(d: usize) -> Self {
        Affine {
            w: DMatrix::identity(d, d),
            b: DVector::zeros(d),
        }
    }
}

/// One residual block's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// (H, D)
    pub w1: DMatrix<f64>,
    /// (H)
    pub b1: DVector<f64>,
    /// (D, H)
    pub w2: DMatrix<f64>,
    /// (D)
    pub b2: DVector<f64>,
}

/// A network with run-time shapes, every value in f64 (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Its config.
    pub config: Config,
    /// The input layer P (D, D_in), p (D).
    pub stem: Affine,
    /// The blocks, `blocks[0]` applied first.
    pub blocks: Vec<Block>,
    /// The output layer Q (D_out, D), c (D_out).
    pub head: Affine,
}

/// Every tensor's name and value in the order of the `.nid` body (and of the `.npz` members).
type Tensors<'a> = Vec<(String, &'a DMatrix<f64>, Option<&'a DVector<f64>>)>;

impl Network {
    /// D_in.
    pub fn inputs(&self) -> usize {
        self.stem.w.ncols()
    }
    /// D, the blocks' width.
    pub fn width(&self) -> usize {
        self.stem.w.nrows()
    }
    /// H (0 without blocks).
    pub fn hidden(&self) -> usize {
        self.blocks.first().map_or(0, |b| b.w1.nrows())
    }
    /// M, the capacity (every block the file holds).
    pub fn depth(&self) -> usize {
        self.blocks.len()
    }
    /// m <= M, the blocks in use ([`Config::active_depth`], else M).
    pub fn active_depth(&self) -> usize {
        self.config.active_depth.unwrap_or(self.depth())
    }
    /// D_out (the number of classes for classification).
    pub fn outputs(&self) -> usize {
        self.head.w.nrows()
    }

    /// The affine maps with the names of their weight members (biases are `.bias`, `b1`, `b2`).
    fn tensors(&self) -> Tensors<'_> {
        let mut t: Tensors<'_> = vec![("stem".into(), &self.stem.w, Some(&self.stem.b))];
        for (i, b) in self.blocks.iter().enumerate() {
            t.push((format!("blocks.{i}.1"), &b.w1, Some(&b.b1)));
            t.push((format!("blocks.{i}.2"), &b.w2, Some(&b.b2)));
        }
        t.push(("head".into(), &self.head.w, Some(&self.head.b)));
        t
    }

    /// Every value, in the `.nid` order (each matrix column-major, then its bias).
    pub fn values(&self) -> Vec<f64> {
        let mut out = Vec::new();
        for (_, w, b) in self.tensors() {
            out.extend(w.iter());
            if let Some(b) = b {
                out.extend(b.iter());
            }
        }
        out
    }

    /// The same network with `values` (in the order of [`Network::values`]; missing ones kept).
    pub fn with_values(&self, values: &[f64]) -> Network {
        let mut out = self.clone();
        let mut at = values.iter().copied();
        let mut fill = |s: &mut [f64]| s.iter_mut().for_each(|v| *v = at.next().unwrap_or(*v));
        fill(out.stem.w.as_mut_slice());
        fill(out.stem.b.as_mut_slice());
        for b in &mut out.blocks {
            fill(b.w1.as_mut_slice());
            fill(b.b1.as_mut_slice());
            fill(b.w2.as_mut_slice());
            fill(b.b2.as_mut_slice());
        }
        fill(out.head.w.as_mut_slice());
        fill(out.head.b.as_mut_slice());
        out
    }

    /// The shapes agree with each other and with the config, every value is finite: else
    /// what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let (d_in, d, h, m, d_out) = (
            self.inputs(),
            self.width(),
            self.hidden(),
            self.depth(),
            self.outputs(),
        );
        if m == 0 {
            return Err("no residual blocks (blocks.0.w1 ... are missing)".into());
        }
        if let Some(a) = self.config.active_depth.filter(|&a| a > m) {
            return Err(format!(
                "config: active_depth {a} is more than the {m} blocks the file holds"
            ));
        }
        let expect = |name: &str, got: (usize, usize), want: (usize, usize)| {
            if got == want {
                Ok(())
            } else {
                Err(format!(
                    "{name} has shape ({}, {}), but stem.weight ({d}, {d_in}) and blocks.0.w1 \
                     ({h}, {d}) make it ({}, {})",
                    got.0, got.1, want.0, want.1
                ))
            }
        };
        let shape = |m: &DMatrix<f64>| (m.nrows(), m.ncols());
        let len = |v: &DVector<f64>| (v.len(), 1);
        expect("stem.bias", len(&self.stem.b), (d, 1))?;
        for (i, b) in self.blocks.iter().enumerate() {
            expect(&format!("blocks.{i}.w1"), shape(&b.w1), (h, d))?;
            expect(&format!("blocks.{i}.b1"), len(&b.b1), (h, 1))?;
            expect(&format!("blocks.{i}.w2"), shape(&b.w2), (d, h))?;
            expect(&format!("blocks.{i}.b2"), len(&b.b2), (d, 1))?;
        }
        if self.head.w.ncols() != d {
            return Err(format!(
                "head.weight has shape ({}, {}), but the blocks' width is {d}",
                d_out,
                self.head.w.ncols()
            ));
        }
        expect("head.bias", len(&self.head.b), (d_out, 1))?;
        if d_in == 0 || d == 0 || h == 0 || d_out == 0 {
            return Err(format!(
                "an empty dimension: D_in = {d_in}, D = {d}, H = {h}, D_out = {d_out}"
            ));
        }
        let c = &self.config;
        if c.inputs.len() != d_in {
            return Err(format!(
                "config names {} inputs, but stem.weight has {d_in} columns",
                c.inputs.len()
            ));
        }
        match (c.loss, &c.classes) {
            (LossName::Quadratic, None) if c.targets.len() != d_out => {
                return Err(format!(
                    "config names {} targets, but head.weight has {d_out} rows",
                    c.targets.len()
                ));
            }
            (LossName::Quadratic, Some(_)) => {
                return Err("config has classes, but its loss is quadratic (regression)".into());
            }
            (LossName::CrossEntropy, None) => {
                return Err("config: a cross_entropy model needs its \"classes\"".into());
            }
            (LossName::CrossEntropy, Some(classes)) => {
                if classes.len() != d_out {
                    return Err(format!(
                        "config names {} classes, but head.weight has {d_out} rows",
                        classes.len()
                    ));
                }
                if c.targets.len() != 1 {
                    return Err(format!(
                        "config names {} target columns; a classifier has one (the label)",
                        c.targets.len()
                    ));
                }
                if classes.len() < 2 {
                    return Err("config: a classifier needs at least 2 classes".into());
                }
                let mut sorted = classes.clone();
                sorted.sort();
                sorted.dedup();
                if sorted.len() != classes.len() {
                    return Err("config: a class name appears twice".into());
                }
            }
            _ => {}
        }
        if let Some(v) = self.values().iter().find(|v| !v.is_finite()) {
            return Err(format!("a parameter is {v} (finite values are needed)"));
        }
        Ok(())
    }

    /// The members of its `.npz` file, in float32 when every value is exactly a float32 (an
    /// f32 or Q4.12 model), else float64 (Q16.16 values have up to 32 significant bits).
    pub fn npz_members(&self) -> Vec<(String, Vec<u8>)> {
        let narrow = self.values().iter().all(|&v| (v as f32) as f64 == v);
        let matrix = |m: &DMatrix<f64>| {
            let shape = [m.nrows(), m.ncols()];
            // C order: row by row.
            let rows: Vec<f64> = (0..m.nrows())
                .flat_map(|r| (0..m.ncols()).map(move |c| m[(r, c)]))
                .collect();
            array(&shape, &rows, narrow)
        };
        let vector = |v: &DVector<f64>| array(&[v.len()], v.as_slice(), narrow);
        let mut members = vec![
            ("stem.weight".to_string(), matrix(&self.stem.w)),
            ("stem.bias".to_string(), vector(&self.stem.b)),
        ];
        for (i, b) in self.blocks.iter().enumerate() {
            members.push((format!("blocks.{i}.w1"), matrix(&b.w1)));
            members.push((format!("blocks.{i}.b1"), vector(&b.b1)));
            members.push((format!("blocks.{i}.w2"), matrix(&b.w2)));
            members.push((format!("blocks.{i}.b2"), vector(&b.b2)));
        }
        members.push(("head.weight".to_string(), matrix(&self.head.w)));
        members.push(("head.bias".to_string(), vector(&self.head.b)));
        // A struct of strings and numbers always serialises.
        let json = serde_json::to_string(&self.config).unwrap_or_default();
        members.push(("config".to_string(), npy::text_bytes(&json)));
        members
    }

    /// Writes its `.npz` file.
    pub fn write_npz(&self, path: &Path) -> Result<(), FileError> {
        npz::write(path, &self.npz_members())
    }

    /// Reads a model `.npz` file (at most [`MAX_MODEL_BYTES`]).
    pub fn read_npz(path: &Path) -> Result<Network, FileError> {
        let npz = Npz::read(path, MAX_MODEL_BYTES)?;
        Network::from_npz(&npz)
    }

    /// The network in a `.npz` archive: every member named as in the module docs, no other.
    pub fn from_npz(npz: &Npz) -> Result<Network, FileError> {
        let Some(config) = npz.member("config") else {
            return Err(npz.error(
                "no 'config' member (a 0-d string array of JSON: activation, loss, scalar, \
                 inputs, targets, classes)",
            ));
        };
        let text = npy::parse_text(config).map_err(|p| npz.member_error("config", p))?;
        let config: Config = serde_json::from_str(&text)
            .map_err(|e| npz.member_error("config", format!("not a model config: {e}")))?;
        let mut stem = (None, None);
        let mut head = (None, None);
        let mut blocks: Vec<[Option<DMatrix<f64>>; 4]> = Vec::new();
        for (name, _) in &npz.members {
            if name == "config" {
                continue;
            }
            let array = npz.array(name)?.unwrap_or_else(|| unreachable!());
            let slot = match name.as_str() {
                "stem.weight" => &mut stem.0,
                "stem.bias" => &mut stem.1,
                "head.weight" => &mut head.0,
                "head.bias" => &mut head.1,
                _ => {
                    let Some((i, t)) = block_member(name) else {
                        return Err(npz.member_error(
                            name,
                            "not a member of a model file (stem.weight, stem.bias, \
                             blocks.{i}.w1, .b1, .w2, .b2, head.weight, head.bias, config)",
                        ));
                    };
                    if i >= MAX_DEPTH_READ {
                        return Err(npz.member_error(
                            name,
                            format!("block {i}: deeper than the {MAX_DEPTH_READ} blocks read"),
                        ));
                    }
                    if blocks.len() <= i {
                        blocks.resize_with(i + 1, Default::default);
                    }
                    &mut blocks[i][t]
                }
            };
            *slot = Some(tensor(npz, name, &array)?);
        }
        let missing = |name: &str| npz.error(format!("no '{name}' member"));
        let take = |m: Option<DMatrix<f64>>, name: &str| m.ok_or_else(|| missing(name));
        let column = |m: DMatrix<f64>| DVector::from_column_slice(m.as_slice());
        let stem = Affine {
            w: take(stem.0, "stem.weight")?,
            b: column(take(stem.1, "stem.bias")?),
        };
        let head = Affine {
            w: take(head.0, "head.weight")?,
            b: column(take(head.1, "head.bias")?),
        };
        let mut out = Vec::with_capacity(blocks.len());
        for (i, [w1, b1, w2, b2]) in blocks.into_iter().enumerate() {
            let name = |t: &str| format!("blocks.{i}.{t}");
            out.push(Block {
                w1: take(w1, &name("w1"))?,
                b1: column(take(b1, &name("b1"))?),
                w2: take(w2, &name("w2"))?,
                b2: column(take(b2, &name("b2"))?),
            });
        }
        let network = Network {
            config,
            stem,
            blocks: out,
            head,
        };
        network.check().map_err(|p| npz.error(p))?;
        Ok(network)
    }

    /// The `.nid` file of this network in `scalar` ([`nearid::file`]'s layout, both layers
    /// present), with what the conversion did; an error if a value does not fit the format.
    pub fn nid_bytes(&self, scalar: ScalarName) -> Result<(Vec<u8>, Quantised), String> {
        let (values, report) = quantise(&self.values(), scalar)?;
        let shape = Shape {
            kind: Kind::Residual,
            activation: self.config.activation.code(),
            input_layer: true,
            output_layer: true,
            inputs: dim(self.inputs())?,
            width: dim(self.width())?,
            hidden: dim(self.hidden())?,
            depth: dim(self.depth())?,
            outputs: dim(self.outputs())?,
        };
        let header = Header {
            format: scalar.code(),
            shape,
            loss: match self.config.loss {
                LossName::Quadratic => LossKind::Quadratic,
                LossName::CrossEntropy => LossKind::CrossEntropy,
            },
            active_depth: dim(self.active_depth())?,
        };
        let mut bytes = file::header_bytes(&header).to_vec();
        let width = match scalar {
            ScalarName::F32 | ScalarName::Q16 => 4,
            ScalarName::Q12 => 2,
        };
        let mut buf = [0u8; 4];
        for v in values {
            match scalar {
                ScalarName::F32 => (v as f32).put(&mut buf),
                ScalarName::Q16 => Q16::from_f64(v).put(&mut buf),
                ScalarName::Q12 => Q12::from_f64(v).put(&mut buf),
            }
            bytes.extend_from_slice(&buf[..width]);
        }
        let sum = file::checksum(&bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        // What the core reads back must be this header (length and checksum included).
        match file::read_header(&bytes) {
            Ok(h) if h == header => Ok((bytes, report)),
            other => Err(format!(
                "internal: the written header reads back as {other:?}"
            )),
        }
    }

    /// The network in a `.nid` file, with `config` giving the names (or defaults: x0.., y0..,
    /// classes 0..): the format becomes the config's scalar, an absent layer its identity
    /// matrix.
    pub fn from_nid(bytes: &[u8], names: Option<&Config>) -> Result<Network, String> {
        let header = file::read_header(bytes).map_err(|e| e.to_string())?;
        let s = header.shape;
        if s.kind != Kind::Residual {
            return Err(
                "a linear residual network (A_1 .. A_M), not a network with blocks: import \
                 reads residual networks"
                    .into(),
            );
        }
        let activation = match s.activation {
            1 => ActivationName::Relu,
            2 => ActivationName::Tanh,
            3 => ActivationName::Softplus,
            a => {
                return Err(format!(
                    "activation code {a} (relu, tanh and softplus are read)"
                ));
            }
        };
        let (scalar, width) = match header.format {
            1 => (ScalarName::F32, 4),
            3 => (ScalarName::Q16, 4),
            4 => (ScalarName::Q12, 2),
            2 => return Err("an f64 model file (the tool reads f32, Q16.16 and Q4.12)".into()),
            f => return Err(format!("number format code {f} (unknown)")),
        };
        let [d_in, d, h, m, d_out] =
            [s.inputs, s.width, s.hidden, s.depth, s.outputs].map(usize::from);
        if (!s.input_layer && d_in != d) || (!s.output_layer && d_out != d) {
            return Err(format!(
                "without an input (output) layer D_in (D_out) must be D, but the header says \
                 D_in = {d_in}, D = {d}, D_out = {d_out}"
            ));
        }
        if (!s.input_layer || !s.output_layer) && d > MAX_IDENTITY {
            return Err(format!(
                "D = {d} without an input or output layer: its identity matrix would be {d} x \
                 {d} (the tool writes identities up to D = {MAX_IDENTITY})"
            ));
        }
        let body = &bytes[file::HEADER_BYTES..bytes.len() - file::CRC_BYTES];
        let mut values = Vec::with_capacity(body.len() / width);
        for chunk in body.chunks_exact(width) {
            let v = match scalar {
                ScalarName::F32 => f32::get(chunk).map(f64::from),
                ScalarName::Q16 => Q16::get(chunk).map(Q16::to_f64),
                ScalarName::Q12 => Q12::get(chunk).map(Q12::to_f64),
            };
            values.push(v.ok_or("a parameter is NaN or infinite")?);
        }
        let mut at = values.into_iter();
        let mut matrix = |r: usize, c: usize| DMatrix::from_iterator(r, c, at.by_ref().take(r * c));
        let stem = if s.input_layer {
            let w = matrix(d, d_in);
            Affine {
                w,
                b: DVector::from_column_slice(matrix(d, 1).as_slice()),
            }
        } else {
            Affine::identity(d)
        };
        let mut blocks = Vec::with_capacity(m);
        for _ in 0..m {
            let w1 = matrix(h, d);
            let b1 = DVector::from_column_slice(matrix(h, 1).as_slice());
            let w2 = matrix(d, h);
            let b2 = DVector::from_column_slice(matrix(d, 1).as_slice());
            blocks.push(Block { w1, b1, w2, b2 });
        }
        let head = if s.output_layer {
            let w = matrix(d_out, d);
            Affine {
                w,
                b: DVector::from_column_slice(matrix(d_out, 1).as_slice()),
            }
        } else {
            Affine::identity(d)
        };
        let loss = match header.loss {
            LossKind::Quadratic => LossName::Quadratic,
            LossKind::CrossEntropy => LossName::CrossEntropy,
        };
        let active_depth =
            (header.active_depth < s.depth).then_some(usize::from(header.active_depth));
        let config = match names {
            Some(c) => Config {
                activation,
                loss,
                scalar,
                training: None,
                active_depth,
                ..c.clone()
            },
            None => Config {
                activation,
                loss,
                scalar,
                inputs: (0..d_in).map(|i| format!("x{i}")).collect(),
                targets: match loss {
                    LossName::Quadratic => (0..d_out).map(|i| format!("y{i}")).collect(),
                    LossName::CrossEntropy => vec!["class".into()],
                },
                classes: (loss == LossName::CrossEntropy)
                    .then(|| (0..d_out).map(|i| i.to_string()).collect()),
                training: None,
                active_depth,
            },
        };
        let network = Network {
            config,
            stem,
            blocks,
            head,
        };
        network.check()?;
        Ok(network)
    }
}

/// The largest model file read: a model of the largest compiled shape (D = 16, H = 64,
/// M = 32) in float64 is 0.55 MB; 16 MiB leaves room for any shape the `.nid` header can hold
/// that the tool could still run.
pub const MAX_MODEL_BYTES: u64 = 16 << 20;

/// The widest identity layer written for a `.nid` file without an input or output layer (its
/// D x D matrix is allocated, unlike every other tensor, whose size the file's length bounds).
const MAX_IDENTITY: usize = 1024;

/// Blocks read from a `.npz` file (the member names could number any block).
const MAX_DEPTH_READ: usize = 256;

/// `blocks.{i}.{w1,b1,w2,b2}` -> (i, 0..4); the index in plain decimal digits.
fn block_member(name: &str) -> Option<(usize, usize)> {
    let rest = name.strip_prefix("blocks.")?;
    let (index, tensor) = rest.split_once('.')?;
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) || index.len() > 6 {
        return None;
    }
    let t = ["w1", "b1", "w2", "b2"].iter().position(|&t| t == tensor)?;
    Some((index.parse().ok()?, t))
}

/// A member as a matrix: 2-D as itself, 1-D as a column; float32 or float64, finite.
fn tensor(npz: &Npz, name: &str, array: &npy::Array) -> Result<DMatrix<f64>, FileError> {
    let h = &array.header;
    if h.dtype.kind != npy::Kind::Float {
        return Err(npz.member_error(
            name,
            format!(
                "dtype '{}' (float32 or float64 is needed)",
                npy::shorten(&h.descr)
            ),
        ));
    }
    let is_bias = !name.ends_with("weight") && !name.ends_with("w1") && !name.ends_with("w2");
    let (rows, cols) = match (&h.shape[..], is_bias) {
        ([r, c], false) => (*r, *c),
        ([n], true) => (*n, 1),
        _ => {
            return Err(npz.member_error(
                name,
                format!(
                    "shape {}, but a {} is needed",
                    npy::shape_text(&h.shape),
                    if is_bias { "1-D bias" } else { "2-D matrix" }
                ),
            ));
        }
    };
    if let Some(v) = array.values.iter().find(|v| !v.is_finite()) {
        return Err(npz.member_error(name, format!("holds {v} (finite values are needed)")));
    }
    Ok(DMatrix::from_fn(rows, cols, |r, c| {
        array.get(&[r, c][..h.shape.len()])
    }))
}

fn array(shape: &[usize], values: &[f64], narrow: bool) -> Vec<u8> {
    if narrow {
        let v: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        npy::f32_array_bytes(shape, &v)
    } else {
        npy::f64_array_bytes(shape, values)
    }
}

fn dim(n: usize) -> Result<u16, String> {
    u16::try_from(n).map_err(|_| format!("a dimension of {n} does not fit the .nid header"))
}

/// What converting values into a format did: how many saturated (by at most one step) and
/// the largest magnitude met.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantised {
    /// Values beyond the range, clamped to its end (each within one step of it).
    pub saturated: usize,
    /// The largest |value|.
    pub largest: f64,
}

/// `values` rounded to `scalar` (as f64): nearest for fixed point, saturating at the range's
/// ends for values within one step beyond them (counted); an error naming the largest
/// magnitude and the range if any value lies further out (or beyond f32's range).
pub fn quantise(values: &[f64], scalar: ScalarName) -> Result<(Vec<f64>, Quantised), String> {
    let largest = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let (step, limit) = (scalar.step(), scalar.limit());
    let too_large = || {
        format!(
            "a weight of magnitude {largest:.6} does not fit {}'s range {}",
            scalar.label(),
            scalar.range_text()
        )
    };
    let mut saturated = 0;
    let mut out = Vec::with_capacity(values.len());
    for &v in values {
        let r = scalar.round(v);
        if !r.is_finite() || (step > 0.0 && (r - v).abs() > step) {
            return Err(too_large());
        }
        // Fixed point: [-limit, limit - step]; beyond half a step past either end, the nearest
        // value is the end itself.
        if step > 0.0 && (v > limit - step / 2.0 || v < -limit - step / 2.0) {
            saturated += 1;
        }
        out.push(r);
    }
    Ok((out, Quantised { saturated, largest }))
}

impl Network {
    /// A trainable start for D_in inputs, D = [`crate::compiled::WIDTH`], and D_out outputs:
    /// the input layer P ~ N(0, 1/D_in), p = 0 (variance preserving for standardised inputs);
    /// each block exactly the identity, W1 ~ N(0, 1/D) so every block gets a gradient, W2 = 0,
    /// biases 0 ([`nearid::ResNet::identity_init`]'s start); the output layer zero, so the
    /// first prediction is the targets' mean (uniform over the classes).
    pub fn init(config: Config, hidden: usize, depth: usize, outputs: usize, seed: u64) -> Network {
        let d = crate::compiled::WIDTH;
        let d_in = config.inputs.len();
        let mut rng = nearid::Rng::new(seed);
        let mut normal = |rows: usize, cols: usize, sd: f64| {
            DMatrix::from_fn(rows, cols, |_, _| sd * rng.normal())
        };
        let stem = Affine {
            w: normal(d, d_in, 1.0 / (d_in as f64).sqrt()),
            b: DVector::zeros(d),
        };
        let blocks = (0..depth)
            .map(|_| Block {
                w1: normal(hidden, d, 1.0 / (d as f64).sqrt()),
                b1: DVector::zeros(hidden),
                w2: DMatrix::zeros(d, hidden),
                b2: DVector::zeros(d),
            })
            .collect();
        let head = Affine {
            w: DMatrix::zeros(outputs, d),
            b: DVector::zeros(outputs),
        };
        Network {
            config,
            stem,
            blocks,
            head,
        }
    }
}
