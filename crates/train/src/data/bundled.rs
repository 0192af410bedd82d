//! The real datasets bundled in `data/` (see `data/README.md` for licences, sources and
//! creators). They are embedded in the library, so they load with no file access and no network.

use flate2::read::GzDecoder;

use super::Dataset;
use super::csv::{CsvOptions, TargetColumn, read_csv};
use crate::{Error, Result};

const BREAST_CANCER: &[u8] = include_bytes!("../../../../data/breast_cancer.csv");
const DIGITS: &[u8] = include_bytes!("../../../../data/digits.csv.gz");
const DIABETES_X: &[u8] = include_bytes!("../../../../data/diabetes_data_raw.csv.gz");
const DIABETES_Y: &[u8] = include_bytes!("../../../../data/diabetes_target.csv.gz");
const WINE_RED: &[u8] = include_bytes!("../../../../data/winequality-red.csv.gz");

const CANCER_FEATURES: [&str; 10] = [
    "radius",
    "texture",
    "perimeter",
    "area",
    "smoothness",
    "compactness",
    "concavity",
    "concave points",
    "symmetry",
    "fractal dimension",
];

/// Breast Cancer Wisconsin (Diagnostic): 569 × 30 raw (badly scaled) features; target 1 = benign
/// (357), 0 = malignant (212). Feature names follow scikit-learn (`mean radius`, ...,
/// `radius error`, ..., `worst radius`, ...).
pub fn breast_cancer() -> Result<Dataset> {
    let opts = CsvOptions { has_header: false, skip_lines: 1, ..CsvOptions::default() };
    let mut d = read_csv(BREAST_CANCER, "data/breast_cancer.csv", &opts)?;
    d.features = ["mean {}", "{} error", "worst {}"]
        .iter()
        .flat_map(|pat| CANCER_FEATURES.iter().map(move |f| pat.replace("{}", f)))
        .collect();
    d.target = "benign".to_string();
    Ok(d)
}

/// Optical recognition of handwritten digits: 1797 8×8 images, 64 pixel counts 0..16
/// (`pixel_r_c`), target the digit 0..9.
pub fn digits() -> Result<Dataset> {
    let opts = CsvOptions { has_header: false, ..CsvOptions::default() };
    let mut d = read_csv(GzDecoder::new(DIGITS), "data/digits.csv.gz", &opts)?;
    d.features = (0..64).map(|i| format!("pixel_{}_{}", i / 8, i % 8)).collect();
    d.target = "digit".to_string();
    Ok(d)
}

/// Diabetes (Efron et al. 2004) in **raw units**: 442 × 10 (age, sex, bmi, bp, s1..s6), target
/// disease progression after one year (25..346). Plain gradient descent diverges on it unscaled.
pub fn diabetes_raw() -> Result<Dataset> {
    let opts = CsvOptions { has_header: false, delimiter: b' ', ..CsvOptions::default() };
    // The features file has no target column: read it with a dummy target, then attach the real one.
    let x = read_csv(GzDecoder::new(DIABETES_X), "data/diabetes_data_raw.csv.gz", &opts)?;
    let y_text = read_whole(GzDecoder::new(DIABETES_Y), "data/diabetes_target.csv.gz")?;
    let y: Vec<f64> = y_text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            l.trim().parse::<f64>().map_err(|_| Error::BadCell {
                path: "data/diabetes_target.csv.gz".to_string(),
                line: i as u64 + 1,
                column: "target".to_string(),
                value: l.to_string(),
                problem: "not a number:",
            })
        })
        .collect::<Result<_>>()?;
    let names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"];
    // Rebuild the full matrix: the reader took column 9 as its target.
    let n = x.len();
    let mut full = Vec::with_capacity(n * 10);
    for r in 0..n {
        full.extend_from_slice(&x.x.data()[r * 9..(r + 1) * 9]);
        full.push(x.y.data()[r]);
    }
    Dataset::new(names.iter().map(|s| s.to_string()).collect(), "progression", full, y)
}

/// Red wine quality (Cortez et al. 2009): 1599 × 11 physico-chemical features, target `quality`
/// (3..8), usable as regression.
pub fn wine_quality_red() -> Result<Dataset> {
    let opts = CsvOptions { target: TargetColumn::Named("quality".to_string()), ..CsvOptions::default() };
    read_csv(GzDecoder::new(WINE_RED), "data/winequality-red.csv.gz", &opts)
}

fn read_whole(mut r: impl std::io::Read, origin: &str) -> Result<String> {
    let mut s = String::new();
    r.read_to_string(&mut s).map_err(|e| Error::Io {
        action: "read",
        path: origin.to_string(),
        message: e.to_string(),
    })?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_targets_match_the_data_readme() {
        let c = breast_cancer().unwrap();
        assert_eq!((c.len(), c.n_features()), (569, 30));
        assert_eq!(c.labels().unwrap().iter().filter(|&&l| l == 1).count(), 357);
        assert_eq!(c.features[0], "mean radius");
        assert_eq!(c.features[29], "worst fractal dimension");
        assert_eq!(c.x.data()[0], 17.99);

        let d = digits().unwrap();
        assert_eq!((d.len(), d.n_features(), d.n_classes().unwrap()), (1797, 64, 10));

        let b = diabetes_raw().unwrap();
        assert_eq!((b.len(), b.n_features()), (442, 10));
        assert_eq!(&b.x.data()[..10], &[59.0, 2.0, 32.1, 101.0, 157.0, 93.2, 38.0, 4.0, 4.8598, 87.0]);
        assert_eq!(&b.y.data()[..2], &[151.0, 75.0]);

        let w = wine_quality_red().unwrap();
        assert_eq!((w.len(), w.n_features()), (1599, 11));
        assert_eq!(w.features[0], "fixed acidity");
        assert_eq!(w.y.data()[0], 5.0);
    }
}
