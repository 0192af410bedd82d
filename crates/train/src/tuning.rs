//! The tuning log: one row per run (its name, hyperparameters, metrics and why it stopped),
//! written as CSV and as a markdown ablation table.
//!
//! Output is deterministic: rows keep the order they were added in, hyperparameter and metric
//! columns are sorted by name (the union over all rows; a run without a value leaves the cell
//! empty), and numbers are printed by Rust's shortest round-trip formatting in CSV and with
//! 4 significant digits in markdown.
//!
//! ```
//! use downhill_train::tuning::{TuningLog, TuningRow};
//!
//! let mut log = TuningLog::new();
//! log.push(TuningRow::new("baseline").hyper("lr", 0.1).metric("val_loss", 0.25).stop("max_epochs"));
//! log.push(TuningRow::new("no scaling").hyper("lr", 0.1).hyper("standardize", false).metric("val_loss", f64::NAN).stop("non_finite"));
//! assert_eq!(
//!     log.to_markdown(),
//!     "| run | lr | standardize | val_loss | stop |\n\
//!      |---|---|---|---:|---|\n\
//!      | baseline | 0.1 |  | 0.25 | max_epochs |\n\
//!      | no scaling | 0.1 | false | NaN | non_finite |\n"
//! );
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::path::Path;

use crate::fit::FitResult;
use crate::{Error, Result};

/// One run: a name, hyperparameters (as text), metrics (numbers) and a stop reason.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TuningRow {
    /// The run's name (first column).
    pub name: String,
    /// Hyperparameters by name, as printed values.
    pub hyper: BTreeMap<String, String>,
    /// Metrics by name.
    pub metrics: BTreeMap<String, f64>,
    /// Why the run stopped (a [`StopReason::code`](crate::stop::StopReason::code) or free text).
    pub stop: String,
}

impl TuningRow {
    /// A row with only a name.
    pub fn new(name: impl Into<String>) -> Self {
        TuningRow { name: name.into(), ..Self::default() }
    }

    /// Adds a hyperparameter (builder style); any printable value.
    pub fn hyper(mut self, name: impl Into<String>, value: impl Display) -> Self {
        self.hyper.insert(name.into(), value.to_string());
        self
    }

    /// Adds a metric (builder style).
    pub fn metric(mut self, name: impl Into<String>, value: f64) -> Self {
        self.metrics.insert(name.into(), value);
        self
    }

    /// Sets the stop reason (builder style).
    pub fn stop(mut self, stop: impl Into<String>) -> Self {
        self.stop = stop.into();
        self
    }

    /// A row from a finished [`fit`](crate::fit::fit): metrics `steps`, `epochs`,
    /// `final_train_loss`, `final_val_loss` (when there is a validation set) and every metric of
    /// the last epoch (`train_accuracy`, `val_f1`, ...); the stop reason's code.
    pub fn from_fit(name: impl Into<String>, result: &FitResult) -> Self {
        let mut row = TuningRow::new(name)
            .metric("steps", result.steps as f64)
            .metric("epochs", result.epochs as f64)
            .stop(result.stop.code());
        if let Some(l) = result.final_train_loss() {
            row = row.metric("final_train_loss", l);
        }
        if let Some(l) = result.final_val_loss() {
            row = row.metric("final_val_loss", l);
        }
        if let Some(last) = result.log.epochs.last() {
            for (k, &v) in &last.metrics {
                row.metrics.insert(k.clone(), v);
            }
        }
        row
    }
}

/// Rows of runs, in the order they were added.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TuningLog {
    /// The runs.
    pub rows: Vec<TuningRow>,
}

/// A number with 4 significant digits (scientific notation outside [1e-3, 1e5)), for tables.
pub(crate) fn short(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.3e}");
    }
    let digits = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// Escapes a markdown table cell (pipes and line breaks).
pub(crate) fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Builds CSV text from records.
pub(crate) fn csv_text(op: &'static str, records: &[Vec<String>]) -> Result<String> {
    let err = |message: String| Error::InvalidArgument { op, message };
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in records {
        w.write_record(r).map_err(|e| err(e.to_string()))?;
    }
    let bytes = w.into_inner().map_err(|e| err(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| err(e.to_string()))
}

/// Writes text to a file, as the crate's typed I/O error on failure.
pub(crate) fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::Io {
        action: "write",
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

impl TuningLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a run.
    pub fn push(&mut self, row: TuningRow) {
        self.rows.push(row);
    }

    /// The hyperparameter columns (sorted union over the rows).
    pub fn hyper_columns(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self.rows.iter().flat_map(|r| r.hyper.keys().map(String::as_str)).collect();
        set.into_iter().collect()
    }

    /// The metric columns (sorted union over the rows).
    pub fn metric_columns(&self) -> Vec<&str> {
        let set: BTreeSet<&str> =
            self.rows.iter().flat_map(|r| r.metrics.keys().map(String::as_str)).collect();
        set.into_iter().collect()
    }

    /// The header row: `run`, the hyperparameters, the metrics, `stop`. A hyperparameter that
    /// is also a metric name would be ambiguous, so metric columns come second and both keep
    /// their names.
    fn header(&self) -> Vec<String> {
        let mut h = vec!["run".to_string()];
        h.extend(self.hyper_columns().into_iter().map(str::to_string));
        h.extend(self.metric_columns().into_iter().map(str::to_string));
        h.push("stop".to_string());
        h
    }

    fn cells(&self, number: impl Fn(f64) -> String) -> Vec<Vec<String>> {
        let (hc, mc) = (self.hyper_columns(), self.metric_columns());
        self.rows
            .iter()
            .map(|r| {
                let mut out = vec![r.name.clone()];
                out.extend(hc.iter().map(|k| r.hyper.get(*k).cloned().unwrap_or_default()));
                out.extend(mc.iter().map(|k| r.metrics.get(*k).map(|&v| number(v)).unwrap_or_default()));
                out.push(r.stop.clone());
                out
            })
            .collect()
    }

    /// The log as CSV (numbers in shortest round-trip form, so they parse back exactly).
    pub fn to_csv(&self) -> Result<String> {
        let mut records = vec![self.header()];
        records.extend(self.cells(|v| v.to_string()));
        csv_text("TuningLog::to_csv", &records)
    }

    /// The log as a markdown table (metric columns right-aligned, 4 significant digits).
    pub fn to_markdown(&self) -> String {
        let header = self.header();
        let n_hyper = self.hyper_columns().len();
        let n_metric = self.metric_columns().len();
        let mut s = format!("| {} |\n|", header.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | "));
        s.push_str(&"---|".repeat(1 + n_hyper));
        s.push_str(&"---:|".repeat(n_metric));
        s.push_str("---|\n");
        for row in self.cells(short) {
            s.push_str(&format!("| {} |\n", row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")));
        }
        s
    }

    /// Writes [`TuningLog::to_csv`] to `path`.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        write_text(path.as_ref(), &self.to_csv()?)
    }

    /// Writes [`TuningLog::to_markdown`] to `path`.
    pub fn write_markdown(&self, path: impl AsRef<Path>) -> Result<()> {
        write_text(path.as_ref(), &self.to_markdown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Toy, toy};
    use crate::fit::{FitConfig, Loss, fit};
    use downhill_nn::LogisticRegression;
    use downhill_optim::{Sgd, SgdConfig};
    use downhill_tensor::Params;

    fn log() -> TuningLog {
        let mut log = TuningLog::new();
        log.push(
            TuningRow::new("a")
                .hyper("lr", 0.1)
                .hyper("batch", 32)
                .metric("val_loss", 0.123456789)
                .metric("steps", 100.0)
                .stop("max_epochs"),
        );
        log.push(
            TuningRow::new("b, with | pipe")
                .hyper("lr", 1e-5)
                .metric("val_loss", 2.5e-7)
                .stop("early_stopping"),
        );
        log
    }

    #[test]
    fn csv_has_sorted_union_columns_and_exact_numbers() {
        let csv = log().to_csv().unwrap();
        assert_eq!(
            csv,
            "run,batch,lr,steps,val_loss,stop\n\
             a,32,0.1,100,0.123456789,max_epochs\n\
             \"b, with | pipe\",,0.00001,,0.00000025,early_stopping\n"
        );
        // The numbers parse back exactly.
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
        assert_eq!(rows[0][4].parse::<f64>().unwrap(), 0.123456789);
        assert_eq!(rows[1][4].parse::<f64>().unwrap(), 2.5e-7);
    }

    #[test]
    fn markdown_is_escaped_and_rounded() {
        assert_eq!(
            log().to_markdown(),
            "| run | batch | lr | steps | val_loss | stop |\n\
             |---|---|---|---:|---:|---|\n\
             | a | 32 | 0.1 | 100 | 0.1235 | max_epochs |\n\
             | b, with \\| pipe |  | 0.00001 |  | 2.500e-7 | early_stopping |\n"
        );
        assert_eq!(short(123456.0), "1.235e5");
        assert_eq!(short(-0.5), "-0.5");
        assert_eq!(short(f64::INFINITY), "inf");
    }

    #[test]
    fn rows_from_fit_results_and_files() {
        let d = toy(Toy::Xor, 40, 0.1, 0).unwrap();
        let (tr, va, _) =
            d.split(&crate::data::SplitOptions { val: 0.25, test: 0.0, seed: 0, stratify: false }).unwrap();
        let mut params = Params::<f64>::new();
        let m = LogisticRegression::new(&mut params, "m", 2).unwrap();
        let mut opt = Sgd::new(SgdConfig::lr(0.1)).unwrap();
        let cfg = FitConfig { epochs: 3, batch_size: 8, ..FitConfig::default() };
        let r = fit(&m, &mut params, &mut opt, Loss::BceWithLogits, &tr, Some(&va), &cfg).unwrap();
        let row = TuningRow::from_fit("xor", &r).hyper("lr", 0.1);
        assert_eq!(row.stop, "max_epochs");
        assert_eq!(row.metrics["steps"], r.steps as f64);
        assert_eq!(row.metrics["final_val_loss"], r.final_val_loss().unwrap());
        assert!(row.metrics.contains_key("val_accuracy"));
        let mut t = TuningLog::new();
        t.push(row);
        let dir = std::env::temp_dir().join(format!("downhill-tuning-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        t.write_csv(dir.join("t.csv")).unwrap();
        t.write_markdown(dir.join("t.md")).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("t.csv")).unwrap(), t.to_csv().unwrap());
        assert_eq!(std::fs::read_to_string(dir.join("t.md")).unwrap(), t.to_markdown());
        let e = t.write_csv(dir.join("missing").join("t.csv")).unwrap_err();
        assert!(matches!(e, Error::Io { action: "write", .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
