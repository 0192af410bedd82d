//! Book, chapter 3: the checkpoint output is a snapshot, and the printed output and figures
//! committed under `book/src/generated/ch03/` are exactly what `examples/ch03_learning_rate.rs` produces now
//! (regenerate them with `scripts/book.sh --regenerate`).

mod book_support;
#[allow(dead_code)]
#[path = "../examples/ch03_learning_rate.rs"]
mod chapter;

#[test]
fn committed_output_and_figures_match_the_example() {
    let ch = chapter::chapter().unwrap();
    let files =
        ch.texts.iter().chain(&ch.figures).map(|(name, content)| (name.to_string(), content.as_str()));
    book_support::assert_generated_matches("ch03", "ch03_learning_rate", files);
}

#[test]
fn checkpoint_output() {
    let ch = chapter::chapter().unwrap();
    insta::assert_snapshot!("ch03_checkpoint", ch.text("checkpoint.txt"));
}
