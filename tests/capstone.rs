//! The capstone (`examples/capstone.rs`, the project's main job), run through the example's own
//! code: a small configuration's printed summary is snapshotted, two runs with the same seed write
//! byte-identical reports, and the full-size digits MLP reaches the test accuracy the README
//! promises.

#[allow(dead_code)]
#[path = "../examples/capstone.rs"]
mod capstone;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use capstone::{DIGITS_TARGET_ACCURACY, Options, run};

/// An empty directory under cargo's temporary directory for integration tests.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn small_capstone_prints_a_deterministic_summary() {
    let outcome = run(&Options::small(fresh_dir("capstone-small"))).unwrap();
    insta::assert_snapshot!(outcome.to_string());
}

#[test]
fn same_seed_writes_byte_identical_reports() {
    let (a, b) = (fresh_dir("capstone-same-a"), fresh_dir("capstone-same-b"));
    let first = run(&Options::small(&a)).unwrap();
    let second = run(&Options::small(&b)).unwrap();
    assert_eq!(first, second);
    let (fa, fb) = (files(&a), files(&b));
    let names: Vec<&str> = fa.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "bowl_optimizers.svg",
            "breast_cancer/config.json",
            "breast_cancer/epochs.csv",
            "breast_cancer/grad_norm.svg",
            "breast_cancer/loss.svg",
            "breast_cancer/lr.svg",
            "breast_cancer/reliability.svg",
            "breast_cancer/steps.csv",
            "breast_cancer/summary.md",
            "digits/config.json",
            "digits/epochs.csv",
            "digits/grad_norm.svg",
            "digits/loss.svg",
            "digits/lr.svg",
            "digits/steps.csv",
            "digits/summary.md",
            "index.md",
        ]
    );
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{name} differs between two runs with the same seed");
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains(env!("CARGO_TARGET_TMPDIR")), "{name} mentions an absolute path");
    }
    // The comparison can fail: another seed changes the split, the initialization and the batches.
    let c = fresh_dir("capstone-other-seed");
    run(&Options { seed: 1, ..Options::small(&c) }).unwrap();
    let fc = files(&c);
    assert_ne!(fa["digits/steps.csv"], fc["digits/steps.csv"]);
    assert_ne!(fa["breast_cancer/config.json"], fc["breast_cancer/config.json"]);
}

#[test]
fn full_capstone_digits_mlp_reaches_the_target_accuracy() {
    let outcome = run(&Options::full(fresh_dir("capstone-full"))).unwrap();
    let acc = outcome.digits_accuracy();
    assert!(
        acc >= DIGITS_TARGET_ACCURACY,
        "digits test accuracy {acc} < {DIGITS_TARGET_ACCURACY}\n{outcome}"
    );
    assert!(outcome.cancer.test["accuracy"] >= 0.95, "{outcome}");
}
