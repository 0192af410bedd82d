//! CSV loading with the `csv` crate: a header, numeric columns, a target column chosen by name.
//! A bad file is a typed error naming the line and the column; nothing is half-loaded.

use std::io::Read;
use std::path::Path;

use super::Dataset;
use crate::{Error, Result};

/// Which column is the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetColumn {
    /// The column with this header name (without a header, columns are named `col0`, `col1`, ...).
    Named(String),
    /// The last column.
    Last,
}

/// How to read a CSV file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// The target column (default: the last one).
    pub target: TargetColumn,
    /// Field delimiter (default `,`).
    pub delimiter: u8,
    /// Whether the first line holds column names (default `true`).
    pub has_header: bool,
    /// Lines to skip before the header or the data (default 0).
    pub skip_lines: usize,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions { target: TargetColumn::Last, delimiter: b',', has_header: true, skip_lines: 0 }
    }
}

impl CsvOptions {
    /// Default options with the target column named `name`.
    pub fn target(name: impl Into<String>) -> Self {
        CsvOptions { target: TargetColumn::Named(name.into()), ..Self::default() }
    }
}

/// Loads a CSV file (`.gz` files are decompressed).
pub fn load_csv(path: impl AsRef<Path>, options: &CsvOptions) -> Result<Dataset> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Error::Io {
        action: "open",
        path: shown.clone(),
        message: e.to_string(),
    })?;
    if path.extension().is_some_and(|e| e == "gz") {
        read_csv(flate2::read::GzDecoder::new(file), &shown, options)
    } else {
        read_csv(file, &shown, options)
    }
}

/// Reads CSV from any reader; `origin` names it in errors.
pub fn read_csv(reader: impl Read, origin: &str, options: &CsvOptions) -> Result<Dataset> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(options.delimiter)
        .from_reader(reader);
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        match e.kind() {
            csv::ErrorKind::Io(io) => {
                Error::Io { action: "read", path: origin.to_string(), message: io.to_string() }
            }
            _ => Error::Csv { path: origin.to_string(), line, message: e.to_string() },
        }
    };
    let mut records = rdr.records();
    for _ in 0..options.skip_lines {
        if records.next().transpose().map_err(csv_err)?.is_none() {
            return Err(Error::Empty { path: origin.to_string(), problem: "ends before the lines to skip" });
        }
    }
    let mut names: Option<Vec<String>> = None;
    let mut reference = "the header".to_string();
    if options.has_header {
        match records.next().transpose().map_err(csv_err)? {
            Some(h) => names = Some(h.iter().map(|s| s.trim().to_string()).collect()),
            None => return Err(Error::Empty { path: origin.to_string(), problem: "is empty" }),
        }
    }
    let mut cells: Vec<f64> = Vec::new();
    let mut n_rows = 0usize;
    let mut width = names.as_ref().map(Vec::len);
    for rec in records {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() == 1 && rec.get(0).is_some_and(|s| s.trim().is_empty()) {
            continue; // blank line
        }
        let w = *width.get_or_insert_with(|| {
            reference = format!("line {line}");
            rec.len()
        });
        if rec.len() != w {
            return Err(Error::RaggedRow {
                path: origin.to_string(),
                line,
                expected: w,
                found: rec.len(),
                reference: reference.clone(),
            });
        }
        let names = names.get_or_insert_with(|| (0..w).map(|i| format!("col{i}")).collect());
        for (j, field) in rec.iter().enumerate() {
            let t = field.trim();
            let bad = |problem| Error::BadCell {
                path: origin.to_string(),
                line,
                column: names[j].clone(),
                value: t.to_string(),
                problem,
            };
            if t.is_empty() {
                return Err(bad("empty cell"));
            }
            let v: f64 = t.parse().map_err(|_| bad("not a number:"))?;
            if !v.is_finite() {
                return Err(bad("not finite:"));
            }
            cells.push(v);
        }
        n_rows += 1;
    }
    let names = names.unwrap_or_default();
    if n_rows == 0 {
        return Err(Error::Empty { path: origin.to_string(), problem: "has no data rows" });
    }
    let t = match &options.target {
        TargetColumn::Last => names.len() - 1,
        TargetColumn::Named(name) => names.iter().position(|c| c == name).ok_or_else(|| {
            Error::MissingTarget { path: origin.to_string(), target: name.clone(), available: names.clone() }
        })?,
    };
    let w = names.len();
    if w < 2 {
        return Err(Error::Empty {
            path: origin.to_string(),
            problem: "has no feature column besides the target",
        });
    }
    let mut x = Vec::with_capacity(n_rows * (w - 1));
    let mut y = Vec::with_capacity(n_rows);
    for row in cells.chunks_exact(w) {
        for (j, &v) in row.iter().enumerate() {
            if j == t {
                y.push(v);
            } else {
                x.push(v);
            }
        }
    }
    let target = names[t].clone();
    let features = names.into_iter().enumerate().filter(|&(j, _)| j != t).map(|(_, n)| n).collect();
    Dataset::new(features, target, x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, opts: &CsvOptions) -> Result<Dataset> {
        read_csv(text.as_bytes(), "t.csv", opts)
    }

    #[test]
    fn reads_a_header_and_a_named_target() {
        let d = read("a,target,b\n1,0,2\n3,1,4\n\n", &CsvOptions::target("target")).unwrap();
        assert_eq!(d.features, ["a", "b"]);
        assert_eq!(d.x.data(), &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(d.y.data(), &[0.0, 1.0]);
        assert_eq!(d.y.dims(), &[2, 1]);
    }

    #[test]
    fn bad_files_are_typed_errors() {
        let o = CsvOptions::target("y");
        assert!(matches!(
            read("a,y\n1,2\n3\n", &o),
            Err(Error::RaggedRow { line: 3, expected: 2, found: 1, .. })
        ));
        match read("a,y\n1,2\nx,4\n", &o) {
            Err(Error::BadCell { line: 3, column, value, .. }) => {
                assert_eq!((column.as_str(), value.as_str()), ("a", "x"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(read("a,y\n1,\n", &o), Err(Error::BadCell { problem: "empty cell", .. })));
        assert!(matches!(read("a,y\nNaN,1\n", &o), Err(Error::BadCell { problem: "not finite:", .. })));
        assert!(matches!(read("a,b\n1,2\n", &o), Err(Error::MissingTarget { .. })));
        assert!(matches!(read("a,y\n", &o), Err(Error::Empty { .. })));
        assert!(matches!(read("", &o), Err(Error::Empty { .. })));
    }

    #[test]
    fn headerless_with_skipped_lines_and_another_delimiter() {
        let o = CsvOptions { has_header: false, skip_lines: 1, delimiter: b' ', ..CsvOptions::default() };
        let d = read("3 2 x\n1 2 3\n4 5 6\n", &o).unwrap();
        assert_eq!(d.features, ["col0", "col1"]);
        assert_eq!(d.target, "col2");
        assert_eq!(d.y.data(), &[3.0, 6.0]);
    }
}
