//! Book, chapter 7: the checkpoint output is a snapshot, and the printed output and figures
//! committed under `book/src/generated/ch07/` are exactly what `examples/ch07_churn.rs` produces now
//! (regenerate them with `scripts/book.sh --regenerate`).

mod book_support;
#[allow(dead_code)]
#[path = "../examples/ch07_churn.rs"]
mod chapter;

use std::sync::OnceLock;

/// The chapter runs for a few seconds: both tests share one run.
fn chapter() -> &'static chapter::Chapter {
    static CH: OnceLock<chapter::Chapter> = OnceLock::new();
    CH.get_or_init(|| chapter::chapter().unwrap())
}

#[test]
fn committed_output_and_figures_match_the_example() {
    let ch = chapter();
    let files =
        ch.texts.iter().chain(&ch.figures).map(|(name, content)| (name.to_string(), content.as_str()));
    book_support::assert_generated_matches("ch07", "ch07_churn", files);
}

#[test]
fn checkpoint_output() {
    let ch = chapter();
    insta::assert_snapshot!("ch07_checkpoint", ch.text("checkpoint.txt"));
}
