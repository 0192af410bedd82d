//! What every book chapter example returns and how it writes it: named text sections and SVG
//! figures, written to `book/src/generated/chNN/` (or the directory given as the first argument).
//! Shared by `examples/chNN_*.rs` with `#[path = "support/chapter.rs"] mod book;`.

use std::error::Error;

/// Everything the chapter prints and draws: named text sections and named SVG figures.
pub struct Chapter {
    /// `(file name, text)`, in print order.
    pub texts: Vec<(&'static str, String)>,
    /// `(file name, svg)`.
    pub figures: Vec<(&'static str, String)>,
}

impl Chapter {
    /// The text section written to `name`.
    pub fn text(&self, name: &str) -> &str {
        self.texts.iter().find(|(n, _)| *n == name).map(|(_, t)| t.as_str()).unwrap_or("")
    }

    /// Prints every text section and writes the texts and figures to the directory given as the
    /// program's first argument, or to `book/src/generated/<chapter>/`.
    pub fn write(&self, chapter: &str) -> Result<(), Box<dyn Error>> {
        let dir = std::env::args()
            .nth(1)
            .unwrap_or_else(|| format!("{}/book/src/generated/{chapter}", env!("CARGO_MANIFEST_DIR")));
        std::fs::create_dir_all(&dir)?;
        for (name, text) in &self.texts {
            println!("== {name}\n{text}");
            std::fs::write(format!("{dir}/{name}"), text)?;
        }
        for (name, svg) in &self.figures {
            std::fs::write(format!("{dir}/{name}"), svg)?;
        }
        println!("wrote {} text files and {} figures to {dir}", self.texts.len(), self.figures.len());
        Ok(())
    }
}
