//! Book, chapter 10: the checkpoint output is a snapshot; the committed output under
//! `book/src/generated/ch10/` is exactly what `examples/ch10_reference.rs` produces now
//! (regenerate it with `scripts/book.sh --regenerate`); every variant of the error enums appears
//! in the error reference (or is listed here with the reason it does not); no message names an
//! absolute path; and the defaults table agrees with the config types.

mod book_support;
#[allow(dead_code)]
#[path = "../examples/ch10_reference.rs"]
mod chapter;

use std::path::Path;

#[test]
fn committed_output_matches_the_example() {
    let ch = chapter::chapter().unwrap();
    let files =
        ch.texts.iter().chain(&ch.figures).map(|(name, content)| (name.to_string(), content.as_str()));
    book_support::assert_generated_matches("ch10", "ch10_reference", files);
}

#[test]
fn checkpoint_output() {
    let ch = chapter::chapter().unwrap();
    insta::assert_snapshot!("ch10_checkpoint", ch.text("checkpoint.txt"));
}

/// The variant names of `pub enum {name}` in a source file (lines `    Variant {`, `    Variant,`
/// or `    Variant(`), in order.
fn variants(file: &str, name: &str) -> Vec<String> {
    let src = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    let start =
        src.find(&format!("pub enum {name} {{")).unwrap_or_else(|| panic!("no enum {name} in {file}"));
    let body = &src[start..];
    let body = &body[..body.find("\n}\n").unwrap()];
    body.lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter(|l| l.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(|l| l.chars().take_while(|c| c.is_ascii_alphanumeric()).collect())
        .collect()
}

#[test]
fn every_error_variant_a_user_can_hit_is_shown() {
    let ch = chapter::chapter().unwrap();
    let errors: String =
        ch.texts.iter().filter(|(n, _)| n.starts_with("errors_")).map(|(_, t)| t.as_str()).collect();
    assert!(!errors.contains("NO ERROR"), "a mistake in the reference was not caught:\n{errors}");
    let shown: Vec<&str> = errors.lines().filter_map(|l| l.split_once(": ").map(|(v, _)| v)).collect();
    let enums = [
        ("crates/tensor/src/error.rs", "Error", &[][..]),
        (
            "crates/train/src/error.rs",
            "Error",
            &[
                ("Tensor", "wraps the tensor errors, which are shown themselves"),
                ("Plot", "only when the SVG backend fails to draw"),
            ][..],
        ),
        (
            "crates/gradcheck/src/error.rs",
            "GradCheckError",
            &[
                ("Tensor", "wraps the tensor errors, which are shown themselves"),
                ("OutputShapeChanged", "needs a function whose output shape depends on its input values"),
            ][..],
        ),
    ];
    for (file, name, skipped) in enums {
        let all = variants(file, name);
        assert!(all.len() >= 3, "{file}: parsed {all:?}");
        for v in &all {
            let skip = skipped.iter().any(|(s, _)| s == v);
            assert!(skip || shown.contains(&v.as_str()), "{file}: {name}::{v} is not in the error reference");
        }
    }
}

#[test]
fn no_message_names_an_absolute_path_or_the_test_build() {
    let ch = chapter::chapter().unwrap();
    for (name, text) in &ch.texts {
        assert!(!text.contains(env!("CARGO_MANIFEST_DIR")), "{name}");
        assert!(!text.contains("tests/../"), "{name}");
        assert!(!text.contains("/home/") && !text.contains("/tmp/"), "{name}");
    }
}

#[test]
fn the_defaults_table_agrees_with_the_config_types() {
    use downhill::optim::{AdamConfig, AdamWConfig, LbfgsConfig, SgdConfig};
    let ch = chapter::chapter().unwrap();
    let table = ch.text("defaults.md");
    let row = |opt: &str, setting: &str| -> String {
        let prefix = format!("| `{opt}` | `{setting}` | `");
        let line = table.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{prefix}"));
        line[prefix.len()..].split('`').next().unwrap().to_string()
    };
    assert_eq!(row("Sgd", "lr").parse::<f64>().unwrap(), SgdConfig::default().lr);
    assert_eq!(row("Adam", "eps").parse::<f64>().unwrap(), AdamConfig::default().eps);
    assert_eq!(
        row("AdamW", "weight_decay (decoupled)").parse::<f64>().unwrap(),
        AdamWConfig::default().weight_decay
    );
    assert_eq!(row("Lbfgs", "history_size").parse::<u64>().unwrap(), LbfgsConfig::default().history_size);
}

#[test]
fn the_checkpoint_program_fails_once_per_bug_and_then_trains() {
    let kinds: Vec<String> = (0..4).map(|k| chapter::variant(&chapter::attempt(k).unwrap_err())).collect();
    assert_eq!(kinds, ["Hyperparameter", "MatmulShape", "ShapeMismatch", "LossShape"]);
    let loss = chapter::attempt(4).unwrap();
    assert!(loss.is_finite() && loss < 1.0, "{loss}");
    assert_eq!(chapter::without_location("add: x at examples/a.rs:3:4; fix"), "add: x at <line>; fix");
}
