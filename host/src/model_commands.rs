//! `nearid train`, `eval`, `predict`, `export` and `import`: a user's own data in, model files
//! (`.npz` with PyTorch's names, `.nid` for the device) out.

use crate::cli::{Console, EvalArgs, ExportArgs, GrowAt, ImportArgs, PredictArgs, TrainArgs};
use crate::compiled::{self, INPUTS, OUTPUTS, check_fits, dispatch};
use crate::dataset::{Dataset, Raw, Standardisation, TargetKind, fold, unfold};
use crate::network::{ActivationName, Config, LossName, Network, ScalarName, quantise};
use crate::npy;
use crate::table::Table;
use crate::train::{self, Metrics, Predict, Settings, Train, metrics};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

fn show(path: &Path) -> String {
    path.display().to_string()
}

/// The columns to use: the option's selection, else the model's names, else (a `.npz` data
/// file) all of x or all of y.
fn columns(
    table: &Table,
    spec: Option<&str>,
    names: Option<&[String]>,
    what: &str,
    option: &str,
) -> Result<Vec<usize>, String> {
    if let Some(spec) = spec {
        return table.select(spec).map_err(|e| e.to_string());
    }
    if let Some(names) = names {
        return table.find(names, what).map_err(|e| e.to_string());
    }
    if let Some(dx) = table.x_columns {
        return Ok(if what == "inputs" {
            (0..dx).collect()
        } else {
            (dx..table.columns.len()).collect()
        });
    }
    Err(format!(
        "{}: {option} is needed (name the {what} among the columns: {})",
        show(&table.path),
        table
            .columns
            .iter()
            .take(8)
            .map(|c| npy::shorten(c))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The data file's problem with the network's shape, if any.
fn fits(data: &Dataset, path: &Path, net: Option<&Network>) -> Result<(), String> {
    let name = show(path);
    if data.inputs.len() > INPUTS {
        return Err(format!(
            "{name}: {} input columns, more than the {INPUTS} the tool is built for",
            data.inputs.len()
        ));
    }
    let outputs = data.outputs();
    match &data.y {
        Raw::Labels(_, classes) if !(2..=OUTPUTS).contains(&classes.len()) => {
            return Err(format!(
                "{name}: {} classes in column '{}'; the tool classifies 2 to {OUTPUTS}",
                classes.len(),
                npy::shorten(&data.targets[0])
            ));
        }
        Raw::Values(_) if outputs > OUTPUTS => {
            return Err(format!(
                "{name}: {outputs} target columns, more than the {OUTPUTS} the tool is built for"
            ));
        }
        _ => {}
    }
    if let Some(net) = net {
        if net.inputs() != data.inputs.len() {
            return Err(format!(
                "{name}: {} input columns, but the model takes {}",
                data.inputs.len(),
                net.inputs()
            ));
        }
        if !matches!(data.y, Raw::None) && net.outputs() != outputs {
            return Err(format!(
                "{name}: {outputs} {}, but the model has {} outputs",
                if matches!(data.y, Raw::Labels(..)) {
                    "classes"
                } else {
                    "target columns"
                },
                net.outputs()
            ));
        }
    }
    Ok(())
}

/// Fixed point takes raw values: every input (and regression target) must fit the range.
fn fits_format(data: &Dataset, path: &Path, scalar: ScalarName) -> Result<(), String> {
    if scalar == ScalarName::F32 {
        return Ok(());
    }
    // Inputs beyond the range saturate on the chip; outputs beyond it cannot be produced.
    let limit = scalar.limit();
    for (name, largest) in data.largest() {
        if largest >= limit {
            return Err(format!(
                "{}: column '{}' reaches {largest}, outside {}'s range {}: a fixed-point model \
                 takes raw values (the standardisation is folded into it), so rescale the \
                 column or use --scalar f32 (or q16, range [-32768, 32768))",
                show(path),
                npy::shorten(&name),
                scalar.label(),
                scalar.range_text()
            ));
        }
    }
    Ok(())
}

/// Rows of x zero-padded (raw values).
fn padded(x: &[Vec<f64>]) -> Vec<[f64; INPUTS]> {
    x.iter()
        .map(|r| {
            let mut p = [0.0; INPUTS];
            p[..r.len()].copy_from_slice(r);
            p
        })
        .collect()
}

/// The network's values converted to `scalar` (an error if one does not fit), with a note
/// when some saturated.
fn in_format(net: &Network, scalar: ScalarName) -> Result<(Network, Option<String>), String> {
    let (values, q) = quantise(&net.values(), scalar)?;
    let out = net.with_values(&values);
    let note = (q.saturated > 0).then(|| {
        format!(
            "note: {} weight(s) saturated at the end of {}'s range {} (each by at most one step; \
             largest magnitude {:.6})",
            q.saturated,
            scalar.label(),
            scalar.range_text(),
            q.largest
        )
    });
    Ok((out, note))
}

fn predictions(
    net: &Network,
    scalar: ScalarName,
    x: &[[f64; INPUTS]],
) -> Result<Vec<[f64; OUTPUTS]>, String> {
    check_fits(net)?;
    dispatch(
        scalar,
        net.config.activation,
        net.hidden(),
        net.depth(),
        Predict { network: net, x },
    )
}

fn metrics_text(m: &Metrics) -> String {
    let mut s = format!("loss {:.6}", m.loss);
    if let Some(a) = m.accuracy {
        let _ = write!(s, ", accuracy {:.2}%", 100.0 * a);
    }
    if let Some(r) = m.rmse {
        let _ = write!(s, ", rmse {r:.6}");
    }
    s
}

/// `nearid train`.
pub fn train(args: &TrainArgs, console: Console) -> Result<(), String> {
    let started = Instant::now();
    let init = args
        .init
        .as_deref()
        .map(Network::read_npz)
        .transpose()
        .map_err(|e| e.to_string())?;
    let table = Table::read(&args.data).map_err(|e| e.to_string())?;
    let names = init.as_ref().map(|n| &n.config);
    let classify = args.classify || names.is_some_and(|c| c.loss == LossName::CrossEntropy);
    let inputs = columns(
        &table,
        args.inputs.as_deref(),
        names.map(|c| c.inputs.as_slice()),
        "inputs",
        "--inputs",
    )?;
    let targets = columns(
        &table,
        args.targets.as_deref(),
        names.map(|c| c.targets.as_slice()),
        "targets",
        "--targets",
    )?;
    let kind = if classify {
        TargetKind::Labels(names.and_then(|c| c.classes.clone()))
    } else {
        TargetKind::Values
    };
    let data = Dataset::from_table(&table, &inputs, &targets, &kind).map_err(|e| e.to_string())?;
    fits(&data, &args.data, init.as_ref())?;
    let scalar = args
        .scalar
        .or(init.as_ref().map(|n| n.config.scalar))
        .unwrap_or(ScalarName::F32);
    fits_format(&data, &args.data, scalar)?;
    if !(0.0..1.0).contains(&args.val) {
        return Err(format!(
            "--val {}: the validation fraction must be in [0, 1)",
            args.val
        ));
    }
    // Shuffle once with the seed, hold out the last fraction.
    let mut order: Vec<usize> = (0..data.len()).collect();
    train::shuffle(&mut order, &mut nearid::Rng::new(args.seed ^ 0x5EED));
    let n_val = ((data.len() as f64) * args.val).round() as usize;
    let (train_rows, val_rows) = order.split_at(data.len() - n_val);
    if train_rows.is_empty() {
        return Err(format!(
            "{}: no training rows left after the validation split",
            show(&args.data)
        ));
    }
    let x_scale = Standardisation::of(&data.x, train_rows, data.inputs.len());
    let y_scale = match &data.y {
        Raw::Values(y) => Some(Standardisation::of(y, train_rows, data.targets.len())),
        _ => None,
    };
    let classes = match &data.y {
        Raw::Labels(_, c) => Some(c.clone()),
        _ => None,
    };
    let config = Config {
        activation: init
            .as_ref()
            .map(|n| n.config.activation)
            .or(args.activation)
            .unwrap_or(ActivationName::Relu),
        loss: if classify {
            LossName::CrossEntropy
        } else {
            LossName::Quadratic
        },
        scalar,
        inputs: data.inputs.clone(),
        targets: data.targets.clone(),
        classes,
        training: None,
        active_depth: None,
    };
    let start = match &init {
        Some(net) => {
            let given = [
                (
                    args.activation.is_some_and(|a| a != net.config.activation),
                    "--activation",
                ),
                (args.hidden.is_some_and(|h| h != net.hidden()), "--hidden"),
                (args.depth.is_some_and(|m| m != net.depth()), "--depth"),
            ];
            if let Some((_, option)) = given.iter().find(|(differs, _)| *differs) {
                return Err(format!(
                    "{option} differs from the --init model's: fine-tuning keeps the model's \
                     shape and activation (leave {option} out)"
                ));
            }
            let mut n = unfold(net, &x_scale, y_scale.as_ref());
            n.config = Config {
                active_depth: net.config.active_depth,
                ..config.clone()
            };
            n
        }
        None => Network::init(
            config.clone(),
            args.hidden.unwrap_or(32),
            args.depth.unwrap_or(4),
            data.outputs(),
            args.seed,
        ),
    };
    let mut start = start;
    if let Some(m) = args.grow {
        if m > start.depth() {
            return Err(format!(
                "--grow {m} is more than the {} blocks of the --init model (its capacity)",
                start.depth()
            ));
        }
        if m > start.active_depth() {
            return Err(format!(
                "--grow {m}: the --init model runs {} of its {} blocks, and the ones past them \
                 were never trained; START can be at most {}",
                start.active_depth(),
                start.depth(),
                start.active_depth()
            ));
        }
        start.config.active_depth = (m < start.depth()).then_some(m);
    }
    compiled::check_sizes(start.hidden(), start.depth())?;
    check_fits(&start)?;
    let (start, _) = in_format(&start, scalar).map_err(|e| format!("the starting model: {e}"))?;
    let train_samples = data.samples(train_rows, &x_scale, y_scale.as_ref());
    let val_samples = data.samples(val_rows, &x_scale, y_scale.as_ref());
    let scale: Vec<f64> = y_scale.as_ref().map_or_else(Vec::new, |s| s.sd.clone());
    console.say(&format!(
        "{}: {} training and {} validation samples, {} inputs, {} {}",
        show(&args.data),
        train_rows.len(),
        val_rows.len(),
        data.inputs.len(),
        data.outputs(),
        if classify { "classes" } else { "outputs" }
    ));
    console.say(&format!(
        "model: {} -> width {} -> {} ({} blocks of hidden width {}, {}), in {}, batch {}, lr {}{}",
        data.inputs.len(),
        start.width(),
        data.outputs(),
        if start.active_depth() < start.depth() {
            format!("{} of {}", start.active_depth(), start.depth())
        } else {
            start.depth().to_string()
        },
        start.hidden(),
        format!("{:?}", start.config.activation).to_lowercase(),
        scalar.label(),
        args.batch,
        args.lr,
        match args.grow {
            Some(_) => format!(
                "; growing to {} blocks when the loss stalls (window {} steps, threshold {}, \
                 after the {})",
                start.depth(),
                args.stall_window,
                args.stall_threshold,
                match args.grow_at {
                    GrowAt::Largest => "block with the largest gradient",
                    GrowAt::End => "last block",
                }
            ),
            None => String::new(),
        }
    ));
    let epochs = args.epochs as usize;
    let bar = console.bar(epochs, "train");
    let mut on_epoch = |epoch: usize, e: &train::Epoch| {
        let mut msg = format!(
            "epoch {epoch}: train loss {:.5}{}",
            e.train_loss,
            if classify { "" } else { " (standardised)" }
        );
        if let Some(v) = &e.val {
            let _ = write!(msg, ", validation {}", metrics_text(v));
        }
        if e.refused > 0 {
            let _ = write!(msg, ", {} steps refused", e.refused);
        }
        bar.set_message(msg);
        bar.inc(1);
    };
    let admissible = |n: &Network| {
        scalar == ScalarName::F32
            || quantise(&fold(n, &x_scale, y_scale.as_ref()).values(), scalar).is_ok()
    };
    let trained = dispatch(
        scalar,
        start.config.activation,
        start.hidden(),
        start.depth(),
        Train {
            init: &start,
            train: &train_samples,
            val: &val_samples,
            scale: &scale,
            settings: Settings {
                epochs,
                batch: args.batch,
                learning_rate: args.lr,
                seed: args.seed,
                grow: args.grow.map(|_| train::Growth {
                    window: args.stall_window,
                    threshold: args.stall_threshold,
                    after_largest: args.grow_at == GrowAt::Largest,
                }),
            },
            on_epoch: &mut on_epoch,
            admissible: &admissible,
        },
    )??;
    bar.finish_and_clear();
    let mut text = String::new();
    if args.grow.is_some() {
        for g in &trained.growths {
            let _ = writeln!(
                text,
                "growth at step {} (epoch {}): m = {} -> {}, new block after block {}{}; window \
                 loss {:.6}; new block's ||dL/dW2|| = {:.3e} (derivative at its output \
                 sqrt(mean ||dy||^2) = {:.3e}, RMS |a| = {:.3})",
                g.step,
                g.epoch,
                g.depth - 1,
                g.depth,
                g.position,
                if g.after_largest {
                    " (largest gradient)"
                } else {
                    " (the last)"
                },
                g.window_loss,
                g.w2_gradient,
                g.layer_gradient,
                g.activation_rms
            );
        }
        let _ = writeln!(
            text,
            "{} growth(s); compute {} block-steps over {} steps (sum over the steps of the \
             blocks in use); the saved model (best epoch) runs {} of its {} blocks\n{}",
            trained.growths.len(),
            trained.compute,
            trained.steps,
            trained.network.active_depth(),
            trained.network.depth(),
            train::theorem3_note(classify),
        );
    }
    let refused: usize = trained.history.iter().map(|e| e.refused).sum();
    let saturations: u64 = trained.history.iter().map(|e| e.saturations).sum();
    if let Some(e) = trained
        .best_epoch
        .checked_sub(1)
        .and_then(|i| trained.history.get(i))
    {
        let _ = write!(
            text,
            "best epoch {} of {}: train loss {:.6}{}",
            trained.best_epoch,
            args.epochs,
            e.train_loss,
            if classify {
                ""
            } else {
                " (standardised targets)"
            }
        );
        if let Some(v) = &e.val {
            let _ = write!(text, ", validation {}", metrics_text(v));
        }
        text.push('\n');
    } else {
        let _ = writeln!(
            text,
            "no epoch gave a finite validation loss{}: the last epoch is kept",
            if scalar == ScalarName::F32 {
                ""
            } else {
                " with weights that fit the format once the standardisation is folded in"
            }
        );
    }
    if refused > 0 {
        let _ = writeln!(
            text,
            "{refused} steps were refused (a non-finite loss or gradient; try a smaller --lr)"
        );
    }
    if saturations > 0 {
        let _ = writeln!(
            text,
            "{saturations} fixed-point results saturated during training (counted by the core)"
        );
    }
    // Fold the standardisation: the file takes raw inputs and gives raw targets.
    let folded = fold(&trained.network, &x_scale, y_scale.as_ref());
    let (mut model, fit_error) = match in_format(&folded, scalar) {
        Ok((m, note)) => {
            if let Some(note) = note {
                let _ = writeln!(text, "{note}");
            }
            (m, None)
        }
        Err(e) => (folded, Some(e)),
    };
    let mut summary = serde_json::json!({
        "data": show(&args.data),
        "rows": { "train": train_rows.len(), "validation": val_rows.len() },
        "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "seed": args.seed,
        "best_epoch": trained.best_epoch,
        "init": args.init.as_deref().map(show),
    });
    if args.grow.is_some() {
        summary["grow"] = serde_json::json!({
            "start": args.grow, "capacity": start.depth(),
            "stall_window": args.stall_window, "stall_threshold": args.stall_threshold,
            "at": format!("{:?}", args.grow_at).to_lowercase(),
            "compute": trained.compute,
            "saved_active_depth": trained.network.active_depth(),
            "growths": trained.growths.iter().map(|g| serde_json::json!({
                "step": g.step, "depth": g.depth, "position": g.position,
                "window_loss": g.window_loss, "w2_gradient": g.w2_gradient,
                "layer_gradient": g.layer_gradient,
            })).collect::<Vec<_>>(),
        });
    }
    if fit_error.is_none() && !val_rows.is_empty() {
        let raw_val = data.samples(
            val_rows,
            &Standardisation::identity(data.inputs.len()),
            None,
        );
        let p = predictions(&model, scalar, &raw_val.x)?;
        let ones = vec![1.0; data.targets.len()];
        if let Some(m) = metrics(&p, &raw_val.y, &ones) {
            let _ = writeln!(
                text,
                "the saved model (standardisation folded in, {} on raw inputs): validation {}",
                scalar.label(),
                metrics_text(&m)
            );
            summary["validation"] = serde_json::json!({
                "loss": m.loss, "accuracy": m.accuracy, "rmse": m.rmse
            });
        }
    }
    model.config.training = Some(summary);
    model.write_npz(&args.out).map_err(|e| e.to_string())?;
    let _ = writeln!(
        text,
        "wrote {} ({:.2} s)",
        show(&args.out),
        started.elapsed().as_secs_f64()
    );
    console.say(&text);
    match fit_error {
        None => Ok(()),
        Some(e) => Err(format!(
            "{}: written with the folded weights in float64, but {e}: it cannot run in {} \
             (export it with --scalar q16 or f32)",
            show(&args.out),
            scalar.label()
        )),
    }
}

/// A model file: `.nid` (the device's; its columns are then x0.., y0.., classes 0..) or
/// `.npz`.
fn read_model(path: &Path) -> Result<Network, String> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("nid"))
    {
        let bytes = crate::npz::read_bounded(path, crate::network::MAX_MODEL_BYTES, "a model file")
            .map_err(|e| e.to_string())?;
        Network::from_nid(&bytes, None).map_err(|e| format!("{}: {e}", show(path)))
    } else {
        Network::read_npz(path).map_err(|e| e.to_string())
    }
}

/// The model and the data for `eval` and `predict`.
fn model_and_data(
    model: &Path,
    data: &Path,
    inputs: Option<&str>,
    targets: Option<&str>,
    with_targets: bool,
) -> Result<(Network, Dataset), String> {
    let net = read_model(model)?;
    let table = Table::read(data).map_err(|e| e.to_string())?;
    let c = &net.config;
    let input_cols = columns(&table, inputs, Some(&c.inputs), "inputs", "--inputs")?;
    let (target_cols, kind) = if with_targets {
        let cols = columns(&table, targets, Some(&c.targets), "targets", "--targets")?;
        let kind = match c.loss {
            LossName::Quadratic => TargetKind::Values,
            LossName::CrossEntropy => TargetKind::Labels(c.classes.clone()),
        };
        (cols, kind)
    } else {
        (Vec::new(), TargetKind::None)
    };
    let data_set =
        Dataset::from_table(&table, &input_cols, &target_cols, &kind).map_err(|e| e.to_string())?;
    fits(&data_set, data, Some(&net))?;
    Ok((net, data_set))
}

/// The start of a command's report: [`runnable`]'s note on its own line, if there is one.
fn note_line(note: Option<String>) -> String {
    note.map(|n| format!("{n}\n")).unwrap_or_default()
}

/// The network in `scalar` (the model's own unless overridden), or why it does not fit.
fn runnable(
    net: &Network,
    model: &Path,
    scalar: Option<ScalarName>,
) -> Result<(Network, ScalarName, Option<String>), String> {
    let scalar = scalar.unwrap_or(net.config.scalar);
    check_fits(net).map_err(|e| format!("{}: {e}", show(model)))?;
    compiled::check_sizes(net.hidden(), net.depth())
        .map_err(|e| format!("{}: {e}", show(model)))?;
    let (n, note) = in_format(net, scalar).map_err(|e| format!("{}: {e}", show(model)))?;
    Ok((n, scalar, note))
}

/// `nearid eval`.
pub fn eval(args: &EvalArgs, console: Console) -> Result<(), String> {
    let (net, data) = model_and_data(
        &args.model,
        &args.data,
        args.inputs.as_deref(),
        args.targets.as_deref(),
        true,
    )?;
    let (net, scalar, note) = runnable(&net, &args.model, args.scalar)?;
    let rows: Vec<usize> = (0..data.len()).collect();
    let samples = data.samples(&rows, &Standardisation::identity(data.inputs.len()), None);
    let p = predictions(&net, scalar, &samples.x)?;
    let ones = vec![1.0; data.targets.len()];
    let m = metrics(&p, &samples.y, &ones).ok_or("no samples")?;
    let mut text = note_line(note);
    let _ = write!(
        text,
        "{}: {} samples, {} in {}: {}",
        show(&args.data),
        data.len(),
        show(&args.model),
        scalar.label(),
        metrics_text(&m)
    );
    console.say(&text);
    Ok(())
}

/// `nearid predict`.
pub fn predict(args: &PredictArgs, console: Console) -> Result<(), String> {
    let (net, data) = model_and_data(&args.model, &args.data, args.inputs.as_deref(), None, false)?;
    let (net, scalar, note) = runnable(&net, &args.model, args.scalar)?;
    let x = padded(&data.x);
    let p = predictions(&net, scalar, &x)?;
    let d_out = net.outputs();
    let names: Vec<String> = match &net.config.classes {
        Some(classes) => classes.clone(),
        None => net.config.targets.clone(),
    };
    let is_npy = args
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let bytes = if is_npy {
        let values: Vec<f64> = p.iter().flat_map(|r| r[..d_out].to_vec()).collect();
        npy::f64_array_bytes(&[p.len(), d_out], &values)
    } else {
        let mut csv = String::new();
        let header: Vec<String> = names.iter().map(|n| csv_field(n)).collect();
        if net.config.classes.is_some() {
            let _ = write!(csv, "class,");
        }
        let _ = writeln!(csv, "{}", header.join(","));
        for row in &p {
            if let Some(classes) = &net.config.classes {
                let best = (0..d_out).fold(0, |b, k| if row[k] > row[b] { k } else { b });
                let _ = write!(csv, "{},", csv_field(&classes[best]));
            }
            let cells: Vec<String> = row[..d_out].iter().map(|v| format!("{v:e}")).collect();
            let _ = writeln!(csv, "{}", cells.join(","));
        }
        csv.into_bytes()
    };
    std::fs::write(&args.out, bytes)
        .map_err(|e| format!("{}: cannot write: {e}", show(&args.out)))?;
    let mut text = note_line(note);
    let _ = write!(
        text,
        "wrote {} ({} rows: {}, computed in {})",
        show(&args.out),
        p.len(),
        if net.config.classes.is_some() {
            "the predicted class, then each class's logit"
        } else {
            "one column per target"
        },
        scalar.label()
    );
    console.say(&text);
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `nearid export`.
pub fn export(args: &ExportArgs, console: Console) -> Result<(), String> {
    let net = Network::read_npz(&args.model).map_err(|e| e.to_string())?;
    let scalar = args.scalar.unwrap_or(net.config.scalar);
    let (bytes, q) = net
        .nid_bytes(scalar)
        .map_err(|e| format!("{}: {e}", show(&args.model)))?;
    std::fs::write(&args.out, &bytes)
        .map_err(|e| format!("{}: cannot write: {e}", show(&args.out)))?;
    let mut text = String::new();
    if q.saturated > 0 {
        let _ = writeln!(
            text,
            "note: {} weight(s) saturated at the end of {}'s range {} (each by at most one step; \
             largest magnitude {:.6})",
            q.saturated,
            scalar.label(),
            scalar.range_text(),
            q.largest
        );
    }
    let _ = write!(
        text,
        "wrote {} ({} bytes: {} in {}, D_in = {}, D = {}, H = {}, M = {}, D_out = {}; loads into \
         nearid::Net<{}, {}, {}, {}, {}, {}, {}>)",
        show(&args.out),
        bytes.len(),
        if net.config.loss == LossName::CrossEntropy {
            "a classifier"
        } else {
            "a regression model"
        },
        scalar.label(),
        net.inputs(),
        net.width(),
        net.hidden(),
        net.depth(),
        net.outputs(),
        match scalar {
            ScalarName::F32 => "f32",
            ScalarName::Q16 => "Q16",
            ScalarName::Q12 => "Q12",
        },
        net.inputs(),
        net.width(),
        net.hidden(),
        net.depth(),
        net.outputs(),
        match net.config.activation {
            crate::network::ActivationName::Relu => "Relu",
            crate::network::ActivationName::Tanh => "Tanh",
            crate::network::ActivationName::Softplus => "Softplus",
        }
    );
    console.say(&text);
    Ok(())
}

/// `nearid import`.
pub fn import(args: &ImportArgs, console: Console) -> Result<(), String> {
    let names = args
        .names_from
        .as_deref()
        .map(Network::read_npz)
        .transpose()
        .map_err(|e| e.to_string())?;
    let bytes =
        crate::npz::read_bounded(&args.model, crate::network::MAX_MODEL_BYTES, "a model file")
            .map_err(|e| e.to_string())?;
    let net = Network::from_nid(&bytes, names.as_ref().map(|n| &n.config))
        .map_err(|e| format!("{}: {e}", show(&args.model)))?;
    if let Some(other) = &names {
        let same = (other.inputs(), other.outputs(), other.config.loss)
            == (net.inputs(), net.outputs(), net.config.loss);
        if !same {
            return Err(format!(
                "{}: its shape ({} inputs, {} outputs) is not the one of --names-from {} ({} inputs, {} outputs)",
                show(&args.model),
                net.inputs(),
                net.outputs(),
                show(args.names_from.as_deref().unwrap_or(Path::new(""))),
                other.inputs(),
                other.outputs()
            ));
        }
    }
    net.write_npz(&args.out).map_err(|e| e.to_string())?;
    console.say(&format!(
        "wrote {} ({} in {}, D_in = {}, D = {}, H = {}, M = {}, D_out = {})",
        show(&args.out),
        if net.config.loss == LossName::CrossEntropy {
            "a classifier"
        } else {
            "a regression model"
        },
        net.config.scalar.label(),
        net.inputs(),
        net.width(),
        net.hidden(),
        net.depth(),
        net.outputs()
    ));
    Ok(())
}
