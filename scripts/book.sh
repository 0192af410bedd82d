#!/usr/bin/env bash
# Builds the course book (book/ -> book/book) offline, and checks it.
#
#   scripts/book.sh                # install the pinned tools if absent, build, check
#   scripts/book.sh --regenerate   # first re-run every chapter example, rewriting book/src/generated/
#   scripts/book.sh --check        # first re-run every chapter example into a scratch directory and
#                                  # fail if its output differs from the committed book/src/generated/
#
# Tools: mdBook and the mdbook-katex preprocessor (math rendered to HTML at build time), installed
# with `cargo install --locked` at the versions pinned below when the installed ones differ.
# The KaTeX stylesheet and fonts are vendored in book/src/katex (linked from book/theme/head.hbs).
#
# Checks (each fails the script):
#   - the build logs no warning or error (a broken {{#include}} is only a warning in mdBook);
#   - no unresolved {{#include}} / {{#rustdoc_include}} is left in the HTML, and every included file
#     and named anchor exists (mdBook silently includes nothing for a missing anchor);
#   - every ```rust block in book/src is only includes of compiled code, with no ignore / no_run;
#   - every image the chapters show exists;
#   - the chapters with math hold KaTeX output (a formula KaTeX rejects fails the build);
#   - nothing in the built book loads from the network.
set -euo pipefail
cd "$(dirname "$0")/.."

MDBOOK_VERSION=0.5.3 # the version mdbook-katex 0.10.0 is built against
MDBOOK_KATEX_VERSION=0.10.0

mode=build
for arg in "$@"; do
    case "$arg" in
        --regenerate) mode=regenerate ;;
        --check) mode=check ;;
        -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "book.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
    esac
done

fail() { echo "book.sh: $*" >&2; exit 1; }

# install BINARY VERSION CARGO-INSTALL-ARGS...: installs when the binary is missing or another version.
install() {
    local bin=$1 version=$2
    shift 2
    if "$bin" --version 2>/dev/null | grep -qw "v\?$version"; then
        echo "book.sh: $bin $version present"
        return
    fi
    echo "book.sh: installing $bin $version (cargo install --locked)"
    local start=$SECONDS
    cargo install --locked --quiet --version "$version" "$@"
    echo "book.sh: installed $bin $version in $((SECONDS - start)) s"
}
install mdbook "$MDBOOK_VERSION" mdbook --no-default-features --features search
install mdbook-katex "$MDBOOK_KATEX_VERSION" mdbook-katex

# The chapter examples: examples/chNN_*.rs, each writing book/src/generated/chNN/ (or a given dir).
chapters=()
for f in examples/ch[0-9][0-9]_*.rs; do chapters+=("$(basename "$f" .rs)"); done

case "$mode" in
    regenerate)
        for ex in "${chapters[@]}"; do
            dir="book/src/generated/${ex%%_*}"
            rm -rf "$dir"
            cargo run --quiet --release --example "$ex" -- "$dir" > /dev/null
            echo "book.sh: regenerated $dir from examples/$ex.rs"
        done
        ;;
    check)
        scratch=$(mktemp -d)
        trap 'rm -rf "$scratch"' EXIT
        for ex in "${chapters[@]}"; do
            ch=${ex%%_*}
            cargo run --quiet --release --example "$ex" -- "$scratch/$ch" > /dev/null
            diff -r "book/src/generated/$ch" "$scratch/$ch" > "$scratch/$ch.diff" ||
                fail "book/src/generated/$ch drifted from examples/$ex.rs (run scripts/book.sh --regenerate):
$(head -40 "$scratch/$ch.diff")"
            echo "book.sh: book/src/generated/$ch matches examples/$ex.rs"
        done
        ;;
esac

# Listings: only includes inside ```rust blocks, and nothing ignored or not run.
bad=$(grep -nE '^```.*\b(ignore|no_run|should_panic|compile_fail)\b' book/src/*.md || true)
[ -z "$bad" ] || fail "ignored or unrun code blocks are not allowed:
$bad"
bad=$(awk '/^```rust/ { inrust = 1; next } /^```/ { inrust = 0; next }
    inrust && !/^\{\{#(rustdoc_)?include [^}]+\}\}$/ { print FILENAME ":" FNR ": " $0 }' book/src/*.md)
[ -z "$bad" ] || fail "a rust block holds code typed into the book; include it from a compiled example instead:
$bad"
# mdBook includes nothing, silently, for an anchor the file does not have: check every anchor.
while IFS=: read -r md file anchor; do
    src="book/src/$file"
    [ -f "$src" ] || fail "$md includes $file, which does not exist"
    [ -z "$anchor" ] && continue
    grep -qE "ANCHOR: *$anchor\b" "$src" && grep -qE "ANCHOR_END: *$anchor\b" "$src" ||
        fail "$md includes anchor '$anchor' of $file, which has no ANCHOR/ANCHOR_END pair by that name"
done < <(grep -oE '\{\{#(rustdoc_)?include [^}]+\}\}' book/src/*.md |
    sed -E 's/^([^:]+):\{\{#(rustdoc_)?include ([^:} ]+)(:([A-Za-z_][A-Za-z0-9_]*))?.*$/\1:\3:\5/')
for img in $(grep -ohE '\]\(generated/[^)]+\)' book/src/*.md | sed 's/^](//; s/)$//'); do
    [ -f "book/src/$img" ] || fail "missing figure book/src/$img (run scripts/book.sh --regenerate)"
done

# Build; any warning (e.g. an include that cannot be resolved) is an error.
rm -rf book/book
log=$(mktemp)
start=$SECONDS
if ! mdbook build book > "$log" 2>&1; then
    cat "$log" >&2
    fail "mdbook build failed"
fi
if grep -E 'WARN|ERROR' "$log" > /dev/null; then
    cat "$log" >&2
    fail "mdbook build logged warnings or errors"
fi
rm -f "$log"
echo "book.sh: built book/book in $((SECONDS - start)) s"

html=(book/book/*.html)
bad=$(grep -lE '\{\{#(rustdoc_)?include' "${html[@]}" || true)
[ -z "$bad" ] || fail "unresolved includes in: $bad"
# Every chapter that writes math must come out with KaTeX's HTML in it.
for md in book/src/*.md; do
    grep -qE '\$[^$ ]' "$md" || continue
    page=$(basename "$md" .md)
    grep -q 'class="katex"' "book/book/$page.html" || fail "no KaTeX output in $page.html (from $md)"
done

# Nothing may load from the network: no remote scripts, stylesheets, images, frames or fonts.
bad=$(grep -rnoE '<(script|link|img|iframe|source)[^>]*(src|href)="(https?:)?//[^"]*"|url\((["'"'"'])?(https?:)?//[^)]*\)|@import[^;]*(https?:)?//[^;]*' \
    book/book --include='*.html' --include='*.css' | head -20 || true)
[ -z "$bad" ] || fail "the built book loads from the network:
$bad"
# mdBook's script asks the online Rust playground about any block marked as a playground.
bad=$(grep -l 'class="playground"' "${html[@]}" || true)
[ -z "$bad" ] || fail "playground blocks (they call the online playground) in: $bad"
echo "book.sh: ok (${#chapters[@]} chapter examples; no network loads, no unresolved includes)"
