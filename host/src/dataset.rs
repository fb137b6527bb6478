//! From a [`Table`] to what a model sees: the chosen input and target columns as numbers (or
//! class labels), the standardisation of the training rows, and its folding into a model's
//! input and output layers.
//!
//! Standardising x'_k = (x_k - mu_k) / sigma_k and then applying P x' + p is the same affine
//! map as (P diag(1/sigma)) x + (p - P diag(1/sigma) mu) on the raw x, so after training the
//! scaling is folded into the input layer and the model file takes raw inputs ([`fold`]);
//! regression targets likewise, y = sigma_y y' + mu_y folded into the output layer. [`unfold`]
//! is its inverse, for training further from a saved model.

use crate::compiled::{INPUTS, OUTPUTS};
use crate::matrix_file::FileError;
use crate::network::{Affine, Network};
use crate::npy::shorten;
use crate::table::Table;
use crate::train::{Samples, Targets};
use nalgebra::{DMatrix, DVector};

/// The targets as the data gives them.
#[derive(Clone, Debug, PartialEq)]
pub enum Raw {
    /// Regression: D_out numbers per row.
    Values(Vec<Vec<f64>>),
    /// Classification: each row's class index into `classes`.
    Labels(Vec<usize>, Vec<String>),
    /// None (prediction).
    None,
}

/// The chosen columns of a table, as numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The input column names.
    pub inputs: Vec<String>,
    /// The target column names.
    pub targets: Vec<String>,
    /// x, one row per sample (D_in each).
    pub x: Vec<Vec<f64>>,
    /// The targets.
    pub y: Raw,
}

/// How the targets are read.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetKind {
    /// Numbers.
    Values,
    /// Class labels; with `Some(classes)` each must be one of them (a model's), else the
    /// classes are the distinct labels, sorted (numerically when they all are numbers).
    Labels(Option<Vec<String>>),
    /// No targets.
    None,
}

impl Dataset {
    /// Reads the columns `inputs` and `targets` of `table`.
    pub fn from_table(
        table: &Table,
        inputs: &[usize],
        targets: &[usize],
        kind: &TargetKind,
    ) -> Result<Dataset, FileError> {
        let names = |cols: &[usize]| cols.iter().map(|&c| table.columns[c].clone()).collect();
        if let Some(&c) = inputs.iter().find(|c| targets.contains(c)) {
            return Err(table.error(format!(
                "column '{}' is both an input and a target",
                shorten(&table.columns[c])
            )));
        }
        let mut x = Vec::with_capacity(table.rows);
        for r in 0..table.rows {
            let row: Result<Vec<f64>, FileError> =
                inputs.iter().map(|&c| table.number(r, c)).collect();
            x.push(row?);
        }
        let y = match kind {
            TargetKind::None => Raw::None,
            TargetKind::Values => {
                let mut y = Vec::with_capacity(table.rows);
                for r in 0..table.rows {
                    let row: Result<Vec<f64>, FileError> =
                        targets.iter().map(|&c| table.number(r, c)).collect();
                    y.push(row?);
                }
                Raw::Values(y)
            }
            TargetKind::Labels(classes) => {
                let [c] = targets[..] else {
                    return Err(table.error(format!(
                        "classification takes one label column, but {} are named",
                        targets.len()
                    )));
                };
                let labels: Vec<String> = (0..table.rows).map(|r| table.text(r, c)).collect();
                let classes = match classes {
                    Some(classes) => classes.clone(),
                    None => class_names(&labels),
                };
                let mut index = Vec::with_capacity(labels.len());
                for (r, label) in labels.iter().enumerate() {
                    match classes.iter().position(|k| k == label) {
                        Some(i) => index.push(i),
                        None => {
                            return Err(table.error(format!(
                                "{}, column '{}': label '{}' is not one of the model's classes \
                                 ({})",
                                table.row_name(r),
                                shorten(&table.columns[c]),
                                shorten(label),
                                classes
                                    .iter()
                                    .map(|k| shorten(k))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )));
                        }
                    }
                }
                Raw::Labels(index, classes)
            }
        };
        Ok(Dataset {
            inputs: names(inputs),
            targets: names(targets),
            x,
            y,
        })
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// True without samples.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// D_out: regression outputs, or classes.
    pub fn outputs(&self) -> usize {
        match &self.y {
            Raw::Values(_) => self.targets.len(),
            Raw::Labels(_, classes) => classes.len(),
            Raw::None => 0,
        }
    }

    /// The rows `rows`, standardised by (`inputs`, `targets`) and zero-padded.
    pub fn samples(
        &self,
        rows: &[usize],
        inputs: &Standardisation,
        targets: Option<&Standardisation>,
    ) -> Samples {
        let x = rows
            .iter()
            .map(|&r| {
                let mut p = [0.0; INPUTS];
                for (k, v) in self.x[r].iter().enumerate() {
                    p[k] = inputs.apply(k, *v);
                }
                p
            })
            .collect();
        let y = match &self.y {
            Raw::Values(y) => Targets::Values(
                rows.iter()
                    .map(|&r| {
                        let mut p = [0.0; OUTPUTS];
                        for (k, v) in y[r].iter().enumerate() {
                            p[k] = targets.map_or(*v, |s| s.apply(k, *v));
                        }
                        p
                    })
                    .collect(),
            ),
            Raw::Labels(labels, classes) => {
                Targets::Classes(rows.iter().map(|&r| labels[r]).collect(), classes.len())
            }
            Raw::None => Targets::None,
        };
        Samples { x, y }
    }

    /// The largest |x| of each input column and of each regression target column, with its
    /// name: what must fit a fixed-point format that takes raw values.
    pub fn largest(&self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = self
            .inputs
            .iter()
            .enumerate()
            .map(|(k, n)| {
                let m = self.x.iter().fold(0.0f64, |m, r| m.max(r[k].abs()));
                (n.clone(), m)
            })
            .collect();
        if let Raw::Values(y) = &self.y {
            for (k, n) in self.targets.iter().enumerate() {
                let m = y.iter().fold(0.0f64, |m, r| m.max(r[k].abs()));
                out.push((n.clone(), m));
            }
        }
        out
    }
}

/// The distinct labels, sorted: numerically when every label is a number, else as text.
fn class_names(labels: &[String]) -> Vec<String> {
    let mut classes: Vec<String> = labels.to_vec();
    classes.sort();
    classes.dedup();
    let numbers: Option<Vec<f64>> = classes.iter().map(|c| c.parse::<f64>().ok()).collect();
    if let Some(numbers) = numbers {
        let mut paired: Vec<(f64, String)> = numbers.into_iter().zip(classes).collect();
        paired.sort_by(|a, b| a.0.total_cmp(&b.0));
        classes = paired.into_iter().map(|(_, c)| c).collect();
    }
    classes
}

/// Per column: x' = (x - mean) / sd.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardisation {
    /// mu per column.
    pub mean: Vec<f64>,
    /// sigma per column (1 for a constant column).
    pub sd: Vec<f64>,
}

impl Standardisation {
    /// Mean and population standard deviation of each column over `rows` (a constant column
    /// gets sd 1: it is only centred).
    pub fn of(values: &[Vec<f64>], rows: &[usize], columns: usize) -> Standardisation {
        let n = rows.len().max(1) as f64;
        let mean: Vec<f64> = (0..columns)
            .map(|k| rows.iter().map(|&r| values[r][k]).sum::<f64>() / n)
            .collect();
        let sd = (0..columns)
            .map(|k| {
                let var = rows
                    .iter()
                    .map(|&r| (values[r][k] - mean[k]).powi(2))
                    .sum::<f64>()
                    / n;
                let sd = var.sqrt();
                if sd > 0.0 && sd.is_finite() { sd } else { 1.0 }
            })
            .collect();
        Standardisation { mean, sd }
    }

    /// No scaling: mean 0, sd 1.
    pub fn identity(columns: usize) -> Standardisation {
        Standardisation {
            mean: vec![0.0; columns],
            sd: vec![1.0; columns],
        }
    }

    /// (x - mean_k) / sd_k.
    pub fn apply(&self, k: usize, x: f64) -> f64 {
        (x - self.mean[k]) / self.sd[k]
    }
}

/// The network with the standardisations folded in: it takes raw inputs and gives raw
/// targets (see the module docs). `targets` is `None` for classification (logits are not
/// scaled).
pub fn fold(net: &Network, inputs: &Standardisation, targets: Option<&Standardisation>) -> Network {
    let mut out = net.clone();
    let inv = DVector::from_iterator(inputs.sd.len(), inputs.sd.iter().map(|s| 1.0 / s));
    // P' = P diag(1/sigma), p' = p - P' mu.
    let w = DMatrix::from_fn(net.stem.w.nrows(), net.stem.w.ncols(), |r, c| {
        net.stem.w[(r, c)] * inv[c]
    });
    let b = &net.stem.b - &w * DVector::from_column_slice(&inputs.mean);
    out.stem = Affine { w, b };
    if let Some(t) = targets {
        // Q' = diag(sigma_y) Q, c' = sigma_y c + mu_y.
        let w = DMatrix::from_fn(net.head.w.nrows(), net.head.w.ncols(), |r, c| {
            net.head.w[(r, c)] * t.sd[r]
        });
        let b = DVector::from_fn(net.head.b.len(), |r, _| net.head.b[r] * t.sd[r] + t.mean[r]);
        out.head = Affine { w, b };
    }
    out
}

/// The inverse of [`fold`]: the network in standardised coordinates.
pub fn unfold(
    net: &Network,
    inputs: &Standardisation,
    targets: Option<&Standardisation>,
) -> Network {
    let mut out = net.clone();
    // P = P' diag(sigma), p = p' + P' mu.
    let w = DMatrix::from_fn(net.stem.w.nrows(), net.stem.w.ncols(), |r, c| {
        net.stem.w[(r, c)] * inputs.sd[c]
    });
    let b = &net.stem.b + &net.stem.w * DVector::from_column_slice(&inputs.mean);
    out.stem = Affine { w, b };
    if let Some(t) = targets {
        let w = DMatrix::from_fn(net.head.w.nrows(), net.head.w.ncols(), |r, c| {
            net.head.w[(r, c)] / t.sd[r]
        });
        let b = DVector::from_fn(net.head.b.len(), |r, _| {
            (net.head.b[r] - t.mean[r]) / t.sd[r]
        });
        out.head = Affine { w, b };
    }
    out
}
