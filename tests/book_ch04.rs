//! Book, chapter 4: the checkpoint output is a snapshot, and the printed output and figures
//! committed under `book/src/generated/ch04/` are exactly what `examples/ch04_conditioning.rs` produces now
//! (regenerate them with `scripts/book.sh --regenerate`).

#[allow(dead_code)]
#[path = "../examples/ch04_conditioning.rs"]
mod chapter;

use std::path::Path;

#[test]
fn committed_output_and_figures_match_the_example() {
    let ch = chapter::chapter().unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src/generated/ch04");
    let mut names = Vec::new();
    for (name, content) in ch.texts.iter().chain(&ch.figures) {
        let path = dir.join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == *content,
            "{} differs from what examples/ch04_conditioning.rs produces now; run scripts/book.sh --regenerate",
            path.display()
        );
        names.push(name.to_string());
    }
    // No stale files left behind by an older version of the example.
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    names.sort();
    assert_eq!(on_disk, names, "stray or missing files in {}", dir.display());
}

#[test]
fn checkpoint_output() {
    let ch = chapter::chapter().unwrap();
    insta::assert_snapshot!("ch04_checkpoint", ch.text("checkpoint.txt"));
}
