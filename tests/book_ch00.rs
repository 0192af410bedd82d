//! Book, chapter 0: the checkpoint output is a snapshot, and the printed output and figures
//! committed under `book/src/generated/ch00/` are exactly what `examples/ch00_first_model.rs` produces now
//! (regenerate them with `scripts/book.sh --regenerate`).

mod book_support;
#[allow(dead_code)]
#[path = "../examples/ch00_first_model.rs"]
mod chapter;

#[test]
fn committed_output_and_figures_match_the_example() {
    let ch = chapter::chapter().unwrap();
    let files =
        ch.texts.iter().chain(&ch.figures).map(|(name, content)| (name.to_string(), content.as_str()));
    book_support::assert_generated_matches("ch00", "ch00_first_model", files);
}

#[test]
fn checkpoint_output() {
    let ch = chapter::chapter().unwrap();
    insta::assert_snapshot!("ch00_checkpoint", ch.text("train.txt"));
}
