//! The README's quick start is compiled and run as a doctest of the facade crate; this test keeps
//! `examples/quickstart.rs` identical to it, so the two cannot drift apart.

#[test]
fn quickstart_example_is_the_readme_listing() {
    let readme = include_str!("../README.md");
    let example = include_str!("../examples/quickstart.rs");
    let start = readme.find("```rust\n").expect("README has a rust block") + "```rust\n".len();
    let len = readme[start..].find("```").expect("the rust block is closed");
    let listing = &readme[start..start + len];
    let body: String = example
        .lines()
        .skip_while(|l| l.starts_with("//!") || l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        body, listing,
        "examples/quickstart.rs must equal the README's quick start (after its doc header)"
    );
}
