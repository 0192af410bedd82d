//! Book, chapter 5: the checkpoint output is a snapshot, the printed output and figures committed
//! under `book/src/generated/ch05/` are exactly what `examples/ch05_optimizers.rs` produces now
//! (regenerate them with `scripts/book.sh --regenerate`), and the line ranges the chapter
//! includes from the optimizer crate still cover whole blocks of code.

mod book_support;
#[allow(dead_code)]
#[path = "../examples/ch05_optimizers.rs"]
mod chapter;

use std::path::Path;

#[test]
fn committed_output_and_figures_match_the_example() {
    let ch = chapter::chapter().unwrap();
    let files =
        ch.texts.iter().chain(&ch.figures).map(|(name, content)| (name.to_string(), content.as_str()));
    book_support::assert_generated_matches("ch05", "ch05_optimizers", files);
}

#[test]
fn checkpoint_output() {
    let ch = chapter::chapter().unwrap();
    insta::assert_snapshot!("ch05_checkpoint", ch.text("checkpoint.txt"));
}

/// The chapter shows each update rule by including an anchored block of `crates/optim/src`
/// (`{{#include ../../crates/optim/src/adam.rs:update}}`, between `// ANCHOR: update` and
/// `// ANCHOR_END: update`). Check that every such anchor still wraps exactly the block the text
/// explains: it starts at `fn update` / `match decay` and ends on that block's closing brace.
#[test]
fn included_crate_blocks_are_whole_blocks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let md = std::fs::read_to_string(root.join("book/src/ch05-optimizers.md")).unwrap();
    let mut checked = 0;
    for line in md.lines() {
        let Some(rest) = line.strip_prefix("{{#include ../../crates/") else { continue };
        let (file, anchor) = rest.trim_end_matches("}}").split_once(':').expect("an anchored include");
        let src = std::fs::read_to_string(root.join("crates").join(file)).unwrap();
        let lines: Vec<&str> = src.lines().collect();
        let find = |tag: &str| {
            let at: Vec<usize> =
                (0..lines.len()).filter(|&i| lines[i].trim() == format!("// {tag}: {anchor}")).collect();
            assert_eq!(at.len(), 1, "crates/{file} must hold exactly one `// {tag}: {anchor}`");
            at[0]
        };
        let (start, end) = (find("ANCHOR"), find("ANCHOR_END"));
        assert!(start + 2 < end, "crates/{file}: anchor {anchor} is empty");
        let (first, last) = (lines[start + 1], lines[end - 1]);
        let indent = |s: &str| s.len() - s.trim_start().len();
        assert!(
            first.contains("fn update") || first.contains("match decay"),
            "crates/{file}: anchor {anchor} no longer starts the block the chapter shows: {first:?}"
        );
        assert!(
            last.trim() == "}" && indent(last) == indent(first),
            "crates/{file}: anchor {anchor} does not end on the block's closing brace: {last:?}"
        );
        assert!(
            lines[start + 2..end - 1].iter().all(|l| l.trim().is_empty() || indent(l) > indent(first)),
            "crates/{file}: anchor {anchor} holds more than one block"
        );
        checked += 1;
    }
    assert!(checked >= 5, "expected the chapter to include the update rules, found {checked}");
}
