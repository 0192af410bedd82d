//! The train crate's error type: every problem with a data file names the file, the line and
//! the column, and says how to fix it.

/// Result alias of the train crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong with data and training runs.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor-level error (shapes, files of tensors, ...).
    #[error(transparent)]
    Tensor(#[from] downhill_tensor::Error),

    /// A file could not be opened or read.
    #[error("io: cannot {action} {path}: {message}")]
    Io {
        /// `"open"`, `"read"`, `"write"`.
        action: &'static str,
        /// The file.
        path: String,
        /// The operating system's message.
        message: String,
    },

    /// The CSV reader could not parse a line (bad quoting, invalid UTF-8).
    #[error("csv: {path} line {line}: {message}")]
    Csv {
        /// The file.
        path: String,
        /// 1-based line number.
        line: u64,
        /// The parser's message.
        message: String,
    },

    /// A row with another number of fields than the header.
    #[error(
        "csv: {path} line {line} has {found} fields, expected {expected} (as in {reference}); fix the row or the delimiter"
    )]
    RaggedRow {
        /// The file.
        path: String,
        /// 1-based line number.
        line: u64,
        /// Fields expected.
        expected: usize,
        /// Fields found.
        found: usize,
        /// Where the expected count comes from (`"the header"`, `"line 1"`).
        reference: String,
    },

    /// A cell that is not a finite number.
    #[error(
        "csv: {path} line {line}, column {column:?}: {problem} {value:?}; every feature and the target must be a finite number (encode categories as numbers, fill or drop missing values)"
    )]
    BadCell {
        /// The file.
        path: String,
        /// 1-based line number.
        line: u64,
        /// The column's name.
        column: String,
        /// The cell's text.
        value: String,
        /// `"not a number:"`, `"empty cell"`, `"not finite:"`.
        problem: &'static str,
    },

    /// The target column is not in the file.
    #[error("csv: {path} has no column {target:?}; its columns are {available:?}")]
    MissingTarget {
        /// The file.
        path: String,
        /// The column asked for.
        target: String,
        /// The columns it has.
        available: Vec<String>,
    },

    /// A file with no data rows (or no feature column).
    #[error("csv: {path} {problem}; a dataset needs at least one row and one feature column")]
    Empty {
        /// The file.
        path: String,
        /// What is missing.
        problem: &'static str,
    },

    /// Targets that are not class labels where labels are needed.
    #[error(
        "labels: target value {value} in row {row} is not a class label; classification needs integer labels 0, 1, ..., k-1"
    )]
    NotLabels {
        /// 0-based row.
        row: usize,
        /// The value.
        value: f64,
    },

    /// A chart could not be drawn.
    #[error("plot: cannot draw {chart:?}: {message}")]
    Plot {
        /// The chart's title.
        chart: String,
        /// What went wrong.
        message: String,
    },

    /// A bad argument (a split fraction, a batch size, ...).
    #[error("{op}: {message}")]
    InvalidArgument {
        /// The function.
        op: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// A checkpoint saved by another run: other data, loss or settings than the run resuming it.
    #[error("checkpoint: {path}: {field} is {saved} in the checkpoint but {current} in this run; {fix}")]
    CheckpointMismatch {
        /// The checkpoint file (or `"<bytes>"`).
        path: String,
        /// What differs (`"seed"`, `"batch_size"`, `"loss"`, `"training data"`, ...).
        field: String,
        /// The checkpoint's value.
        saved: String,
        /// This run's value.
        current: String,
        /// How to resume correctly.
        fix: &'static str,
    },

    /// A file that is not a readable downhill checkpoint (or one whose parts disagree).
    #[error("checkpoint: {path}: {message}")]
    CheckpointCorrupt {
        /// The checkpoint file (or `"<bytes>"`).
        path: String,
        /// What is wrong.
        message: String,
    },
}
