//! Book, chapter 6: the checkpoint output is a snapshot, and the printed output, figures and run
//! report committed under `book/src/generated/ch06/` are exactly what `examples/ch06_capstone.rs`
//! produces now (regenerate them with `scripts/book.sh --regenerate`).

mod book_support;
#[allow(dead_code)]
#[path = "../examples/ch06_capstone.rs"]
mod chapter;

#[test]
fn committed_output_figures_and_report_match_the_example() {
    let ch = chapter::chapter().unwrap();
    let report = ch.report.iter().map(|(name, content)| (format!("report/{name}"), content.as_str()));
    let top = ch.texts.iter().chain(&ch.figures).map(|(name, content)| (name.to_string(), content.as_str()));
    book_support::assert_generated_matches("ch06", "ch06_capstone", top.chain(report));
}

#[test]
fn checkpoint_output() {
    let ch = chapter::chapter().unwrap();
    insta::assert_snapshot!("ch06_checkpoint", ch.text("checkpoint.txt"));
}
