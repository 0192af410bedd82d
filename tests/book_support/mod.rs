//! Shared by the book chapters' tests (`tests/book_chNN.rs`): the output committed under
//! `book/src/generated/chNN/` must be exactly what the chapter's example produces now.

use std::path::Path;

/// Asserts that `book/src/generated/<chapter>/` holds exactly `files` (`(path relative to that
/// directory, content)`), byte for byte, and no other file (a stray file is the leftover of an
/// older version of the example). `example` names the example in the failure message.
pub fn assert_generated_matches<'a>(
    chapter: &str,
    example: &str,
    files: impl IntoIterator<Item = (String, &'a str)>,
) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src/generated").join(chapter);
    let mut names = Vec::new();
    for (name, content) in files {
        let path = dir.join(&name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == content,
            "{} differs from what examples/{example}.rs produces now; run scripts/book.sh --regenerate",
            path.display()
        );
        names.push(name);
    }
    let mut on_disk = Vec::new();
    files_under(&dir, "", &mut on_disk);
    on_disk.sort();
    names.sort();
    assert_eq!(on_disk, names, "stray or missing files in {}", dir.display());
}

/// Every file below `dir`, as paths relative to it with `/` separators.
fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type().unwrap().is_dir() {
            files_under(&entry.path(), &format!("{name}/"), out);
        } else {
            out.push(name);
        }
    }
}
