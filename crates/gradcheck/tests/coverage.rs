//! The catalogue covers the tensor crate: every public op method has an entry, every op name the
//! kernels record is exercised, and every entry records exactly the ops it claims.
//!
//! The op list is read from the tensor crate's sources (`crates/tensor/src/ops/*.rs`), so adding
//! an op without a catalogue entry fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

use downhill_gradcheck::catalog::{self, Family};

/// Public functions in `ops/` that are not ops, each with the reason it needs no entry.
///
/// Empty today: the generic extension hooks `map_unary` and `map_binary` do get entries (family
/// `custom`, with catalogue-defined ops), as does `Tape::custom`. A future helper that records
/// nothing on the tape belongs here, with its reason.
const NOT_OPS: &[(&str, &str)] = &[];

fn ops_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tensor/src/ops")
}

/// `(file name, contents)` of every `ops/*.rs`, sorted.
fn sources() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fs::read_dir(ops_dir())
        .expect("crates/tensor/src/ops exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), fs::read_to_string(&p).unwrap()))
        .collect();
    out.sort();
    out
}

fn ident_at(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// Public method names (`pub fn NAME(` or `pub fn NAME<`), `try_` stripped, with their file.
fn public_fns() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (file, src) in sources() {
        for (i, _) in src.match_indices("pub fn ") {
            let rest = &src[i + "pub fn ".len()..];
            let name = ident_at(rest);
            let after = rest[name.len()..].chars().next();
            assert!(matches!(after, Some('(' | '<')), "unexpected `pub fn {name}` syntax in {file}");
            let name = name.strip_prefix("try_").unwrap_or(name);
            out.insert(name.to_string(), file.clone());
        }
    }
    out
}

/// The op name of each `unary_op!(` invocation: the first string literal after its doc comment.
fn unary_op_names(src: &str) -> Vec<String> {
    src.match_indices("unary_op!(")
        .filter_map(|(i, _)| {
            let body = &src[i + "unary_op!(".len()..];
            let line = body.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("///"))?;
            let lit = &line[line.find('"')? + 1..];
            Some(lit[..lit.find('"')?].to_string())
        })
        .collect()
}

/// The first string literal after each occurrence of `needle`, if it is the first argument.
fn string_args(src: &str, needle: &str) -> Vec<String> {
    src.match_indices(needle)
        .filter_map(|(i, _)| {
            let rest = &src[i + needle.len()..];
            let start = rest.find('"')?;
            if !rest[..start].trim().is_empty() {
                return None;
            }
            let lit = &rest[start + 1..];
            Some(lit[..lit.find('"')?].to_string())
        })
        .collect()
}

/// Every op name a kernel records on the tape, with its file.
fn recorded_op_names() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (file, src) in sources() {
        let mut names = Vec::new();
        names.extend(string_args(&src, "const NAME: &'static str ="));
        names.extend(unary_op_names(&src));
        for callee in [".push(", "push_with_grad_flag(", ".gather(", "reduce_all(", "reduce_axis("] {
            names.extend(string_args(&src, callee));
        }
        for n in names {
            out.insert(n, file.clone());
        }
    }
    out
}

#[test]
fn the_source_parsers_find_the_ops() {
    // Guards against a parser that silently finds nothing after a refactor.
    let fns = public_fns();
    for known in ["exp", "matmul", "sum_axis", "concat", "custom", "pick", "broadcast_add", "map_unary"] {
        assert!(fns.contains_key(known), "{known} not found; found {:?}", fns.keys());
    }
    assert!(fns.len() >= 45, "only {} public fns found", fns.len());
    let ops = recorded_op_names();
    for known in
        ["neg", "rdiv_scalar", "add", "maximum", "sum", "max_axis", "log_sum_exp", "permute", "detach"]
    {
        assert!(ops.contains_key(known), "{known} not found; found {:?}", ops.keys());
    }
    assert!(ops.len() >= 35, "only {} op names found: {:?}", ops.len(), ops.keys());
}

#[test]
fn every_public_op_has_a_catalogue_entry() {
    // Composites use many ops but do not count: every op needs a row of its own.
    let covered: BTreeSet<&str> = catalog::entries()
        .iter()
        .filter(|e| e.family != Family::Composite)
        .flat_map(|e| e.methods.iter().copied())
        .collect();
    let ignored: BTreeSet<&str> = NOT_OPS.iter().map(|(n, _)| *n).collect();
    let missing: Vec<String> = public_fns()
        .into_iter()
        .filter(|(name, _)| !covered.contains(name.as_str()) && !ignored.contains(name.as_str()))
        .map(|(name, file)| format!("{name} (ops/{file})"))
        .collect();
    assert!(
        missing.is_empty(),
        "public ops without a catalogue entry: {missing:?}; add an Entry in crates/gradcheck/src/catalog/ (or, if it records nothing on the tape, list it in NOT_OPS with the reason)"
    );
}

#[test]
fn ignored_names_and_claimed_methods_exist() {
    let fns = public_fns();
    for (name, reason) in NOT_OPS {
        assert!(fns.contains_key(*name), "NOT_OPS lists {name} ({reason}), which no longer exists");
    }
    for e in catalog::entries() {
        for m in e.methods {
            assert!(
                fns.contains_key(*m),
                "entry {} claims method {m}, which is not a public fn in ops/",
                e.name
            );
        }
    }
}

#[test]
fn every_recorded_op_name_is_exercised() {
    let exercised: BTreeSet<&str> =
        catalog::entries().iter().flat_map(|e| e.records.iter().copied()).collect();
    let missing: Vec<String> = recorded_op_names()
        .into_iter()
        .filter(|(name, _)| !exercised.contains(name.as_str()))
        .map(|(name, file)| format!("{name} (ops/{file})"))
        .collect();
    assert!(
        missing.is_empty(),
        "op names recorded by kernels that no catalogue entry exercises: {missing:?}"
    );
}

#[test]
fn every_entry_records_exactly_the_ops_it_claims() {
    for e in catalog::entries() {
        let claimed: BTreeSet<&str> = e.records.iter().copied().collect();
        assert_eq!(claimed.len(), e.records.len(), "{}: records lists a name twice", e.name);
        for seed in 0..4 {
            let mut cases = vec![("case", e.case(seed))];
            if let Some(make) = e.kink {
                cases.push(("kink case", make(&mut downhill_tensor::seeded_rng(seed))));
            }
            for (what, case) in cases {
                let names =
                    case.op_names().unwrap_or_else(|err| panic!("{} {what} (seed {seed}): {err}", e.name));
                let recorded: BTreeSet<&str> = names.into_iter().collect();
                assert_eq!(
                    recorded, claimed,
                    "{} {what} (seed {seed}) records other ops than it claims",
                    e.name
                );
            }
        }
    }
}

#[test]
fn entry_names_are_unique_and_every_family_is_populated() {
    let entries = catalog::entries();
    let names: BTreeSet<&str> = entries.iter().map(|e| e.name).collect();
    assert_eq!(names.len(), entries.len(), "duplicate entry names");
    for family in Family::ALL {
        assert!(entries.iter().any(|e| e.family == family), "no entry in family {family}");
    }
    // Entries are grouped by family, in Family::ALL order.
    let families: Vec<Family> = entries.iter().map(|e| e.family).collect();
    assert!(families.windows(2).all(|w| w[0] <= w[1]), "entries are not grouped by family");
}

#[test]
fn cases_are_deterministic_per_seed_and_vary_across_seeds() {
    for e in catalog::entries() {
        let (a, b) = (e.case(11), e.case(11));
        assert_eq!(a.inputs.len(), b.inputs.len());
        for ((na, ta), (nb, tb)) in a.inputs.iter().zip(&b.inputs) {
            assert_eq!(
                (na, ta.shape(), ta.data()),
                (nb, tb.shape(), tb.data()),
                "{}: same seed, other case",
                e.name
            );
        }
        assert_eq!(a.args, b.args);
        let differs = (0..8u64).any(|s| {
            let c = e.case(s);
            c.inputs.iter().zip(&a.inputs).any(|((_, x), (_, y))| x.data() != y.data())
        });
        assert!(differs, "{}: every seed draws the same values", e.name);
    }
}
