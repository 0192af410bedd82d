//! Book, chapter 6: the checkpoint output is a snapshot, and the printed output, figures and run
//! report committed under `book/src/generated/ch06/` are exactly what `examples/ch06_capstone.rs`
//! produces now (regenerate them with `scripts/book.sh --regenerate`).

#[allow(dead_code)]
#[path = "../examples/ch06_capstone.rs"]
mod chapter;

use std::path::Path;

/// Every file under `dir`, as paths relative to it with `/` separators, sorted.
fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.path().is_dir() {
            files_under(&entry.path(), &format!("{name}/"), out);
        } else {
            out.push(name);
        }
    }
}

#[test]
fn committed_output_figures_and_report_match_the_example() {
    let ch = chapter::chapter().unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src/generated/ch06");
    let report = ch.report.iter().map(|(name, content)| (format!("report/{name}"), content));
    let top = ch.texts.iter().chain(&ch.figures).map(|(name, content)| (name.to_string(), content));
    let mut names = Vec::new();
    for (name, content) in top.chain(report) {
        let path = dir.join(&name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == *content,
            "{} differs from what examples/ch06_capstone.rs produces now; run scripts/book.sh --regenerate",
            path.display()
        );
        names.push(name);
    }
    // No stale files left behind by an older version of the example.
    let mut on_disk = Vec::new();
    files_under(&dir, "", &mut on_disk);
    on_disk.sort();
    names.sort();
    assert_eq!(on_disk, names, "stray or missing files in {}", dir.display());
}

#[test]
fn checkpoint_output() {
    let ch = chapter::chapter().unwrap();
    insta::assert_snapshot!("ch06_checkpoint", ch.text("checkpoint.txt"));
}
