//! The library's panic sites outside its tests. User input must come back as a typed error, so
//! `unwrap`, `expect`, `panic!`, `unreachable!` and (debug) asserts in `crates/*/src` (outside
//! `#[cfg(test)] mod … { … }` blocks, which every file keeps at its end) are allowed only where
//! they state an invariant the library itself guarantees. Each such site is listed below with
//! why no input can reach it; a new one fails this test until it is turned into an error or
//! added here with its reason.

use std::path::{Path, PathBuf};

/// (file under `crates/`, the site's line with its whitespace trimmed, why no input reaches it).
const AUDITED: &[(&str, &str, &str)] = &[
    (
        "optim/src/engine.rs",
        r#"assert!(n <= outs.len(), "an update rule with more than {} buffers", outs.len() - 1);"#,
        "`Rule` is crate-private; every rule has at most 3 buffers",
    ),
    (
        "tensor/src/tape.rs",
        r#"debug_assert_eq!(out.len(), shape.numel(), "{op}: kernel wrote the wrong length");"#,
        "checks the library's own kernels, in debug builds",
    ),
    (
        "tensor/src/tensor.rs",
        "debug_assert_eq!(shape.numel(), data.len());",
        "`from_parts` and `from_arc` are crate-private; their callers size the buffer",
    ),
    ("tensor/src/fastmath.rs", "let zs: &[T; 8] = zs.try_into().unwrap();", "a `chunks_exact(8)` chunk"),
    ("tensor/src/fastmath.rs", "let ys: &[T; 8] = ys.try_into().unwrap();", "a `chunks_exact(8)` chunk"),
    (
        "tensor/src/ops/linalg.rs",
        "assert!(x.len() == out.len() * k && w.len() == k);",
        "matmul checks the shapes before it calls the kernel",
    ),
    (
        "tensor/src/ops/linalg.rs",
        "let mut acc: [T; K] = p.try_into().unwrap();",
        "`by_k!` picks this kernel only when `p` holds K values",
    ),
    ("tensor/src/ops/linalg.rs", "let xr: &[T; K] = xr.try_into().unwrap();", "a `chunks_exact(K)` chunk"),
    (
        "tensor/src/ops/linalg.rs",
        r#"assert!(a.data.len() >= m * k && b.data.len() >= k * n && c.len() == m * n, "gemm: buffer sizes");"#,
        "matmul checks the shapes and sizes the output before it calls the GEMM",
    ),
];

const MARKERS: &[&str] =
    &[".unwrap()", ".expect(", "panic!(", "unreachable!(", "assert!(", "assert_eq!(", "assert_ne!("];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The trimmed lines of `text` before its first `#[cfg(test)]` module, comments left out.
fn library_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| {
            let next = w[1].trim();
            w[0].trim() == "#[cfg(test)]"
                && next.ends_with('{')
                && next.split_whitespace().any(|t| t == "mod")
        })
        .unwrap_or(lines.len());
    lines[..end].iter().map(|l| l.trim()).filter(|l| !l.starts_with("//")).collect()
}

#[test]
fn every_panic_site_in_the_library_is_an_audited_invariant() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    let mut found = Vec::new();
    for krate in std::fs::read_dir(&crates).unwrap() {
        let src = krate.unwrap().path().join("src");
        if !src.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for file in files {
            let rel = file.strip_prefix(&crates).unwrap().to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(&file).unwrap();
            for line in library_lines(&text) {
                if MARKERS.iter().any(|m| line.contains(m)) {
                    found.push((rel.clone(), line.to_string()));
                }
            }
        }
    }
    let new: Vec<_> =
        found.iter().filter(|(f, l)| !AUDITED.iter().any(|(af, al, _)| af == f && al == l)).collect();
    assert!(
        new.is_empty(),
        "panic sites in library code that are not audited (turn them into typed errors, or add \
         them to AUDITED with why no input can reach them):\n{new:#?}"
    );
    let gone: Vec<_> =
        AUDITED.iter().filter(|(af, al, _)| !found.iter().any(|(f, l)| af == f && al == l)).collect();
    assert!(gone.is_empty(), "audited sites that no longer exist (remove them from AUDITED):\n{gone:#?}");
}
