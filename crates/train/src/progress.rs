//! A progress bar for training runs, drawn with [indicatif](https://docs.rs/indicatif) on
//! standard error.
//!
//! The bar is drawn only when a person is watching: standard error is a terminal and the `CI`
//! environment variable is not set. Piped into a file, captured by a test harness or run in CI,
//! it is silent. It only reads the run's numbers after they are computed, so it never changes a
//! result, a log or a report byte ([`FitConfig::progress`](crate::fit::FitConfig::progress)
//! turns it off altogether).

use std::io::IsTerminal;

use indicatif::{ProgressDrawTarget, ProgressStyle};

use crate::log::EpochRecord;
use crate::stop::StopReason;

/// Whether `fit` draws a progress bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// Draw a bar when standard error is a terminal and `CI` is not set (the default).
    #[default]
    Auto,
    /// Never draw a bar.
    Never,
}

impl ProgressMode {
    /// Whether a bar is drawn in this process (looks at standard error and the `CI` variable).
    pub fn enabled(self) -> bool {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
        self.decide(std::io::stderr().is_terminal(), ci)
    }

    /// The rule behind [`ProgressMode::enabled`]: `Auto` draws on a terminal outside CI only.
    pub fn decide(self, stderr_is_terminal: bool, ci: bool) -> bool {
        match self {
            ProgressMode::Auto => stderr_is_terminal && !ci,
            ProgressMode::Never => false,
        }
    }
}

/// How often (in steps) the bar's message is refreshed with the latest loss.
const MESSAGE_EVERY: u64 = 16;

/// The bar of one `run_until` call: position = optimizer steps, length = the run's step budget.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: indicatif::ProgressBar,
    last_epoch: String,
}

impl Progress {
    /// A bar on standard error if `mode` says so, else `None`.
    pub(crate) fn for_run(mode: ProgressMode, total: u64, position: u64) -> Option<Self> {
        mode.enabled().then(|| Self::with_target(ProgressDrawTarget::stderr(), total, position))
    }

    /// A bar drawing to `target` (tests give a recording terminal).
    pub(crate) fn with_target(target: ProgressDrawTarget, total: u64, position: u64) -> Self {
        let bar = indicatif::ProgressBar::with_draw_target(Some(total), target);
        // The template is a constant known to parse; fall back to the default style if not.
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} steps ({per_sec}, eta {eta}) {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_position(position);
        Progress { bar, last_epoch: String::new() }
    }

    /// After step `step` (0-based) of epoch `epoch` with mini-batch loss `loss`.
    pub(crate) fn step(&mut self, step: u64, epoch: u64, loss: f64) {
        self.bar.set_position(step + 1);
        if step.is_multiple_of(MESSAGE_EVERY) {
            self.bar.set_message(format!("epoch {epoch} loss {loss:.4}{}", self.last_epoch));
        }
    }

    /// After an epoch's evaluation.
    pub(crate) fn epoch(&mut self, rec: &EpochRecord) {
        self.last_epoch = match rec.val_loss {
            Some(v) => format!(" | epoch {}: train {:.4} val {v:.4}", rec.epoch, rec.train_loss),
            None => format!(" | epoch {}: train {:.4}", rec.epoch, rec.train_loss),
        };
    }

    /// When the run stops (the bar stays on screen with the reason).
    pub(crate) fn finish(&self, stop: &StopReason) {
        self.bar.set_message(format!("{}{}", stop.code(), self.last_epoch));
        self.bar.finish();
    }

    /// When a `run_until` call returns before the run ends.
    pub(crate) fn pause(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A terminal that records what is written to it.
    #[derive(Clone, Debug, Default)]
    pub(crate) struct Recorder(pub(crate) Arc<Mutex<String>>);

    impl Recorder {
        pub(crate) fn text(&self) -> String {
            self.0.lock().map(|s| s.clone()).unwrap_or_default()
        }
        fn push(&self, s: &str) -> std::io::Result<()> {
            if let Ok(mut t) = self.0.lock() {
                t.push_str(s);
            }
            Ok(())
        }
    }

    impl indicatif::TermLike for Recorder {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.push(s)?;
            self.push("\n")
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.push(s)
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn auto_draws_only_on_a_terminal_outside_ci() {
        assert!(ProgressMode::Auto.decide(true, false));
        assert!(!ProgressMode::Auto.decide(false, false), "piped or captured: silent");
        assert!(!ProgressMode::Auto.decide(true, true), "CI: silent");
        assert!(!ProgressMode::Never.decide(true, false));
        // Under `cargo test` standard error is captured, so the default draws nothing here.
        assert!(Progress::for_run(ProgressMode::Never, 10, 0).is_none());
    }

    #[test]
    fn the_bar_shows_steps_epochs_and_the_stop_reason() {
        let rec = Recorder::default();
        let mut p = Progress::with_target(ProgressDrawTarget::term_like(Box::new(rec.clone())), 40, 0);
        for s in 0..40 {
            p.step(s, s / 10, 0.5);
            if s % 10 == 9 {
                p.epoch(&EpochRecord {
                    epoch: s / 10,
                    steps: s + 1,
                    train_loss: 0.25,
                    val_loss: Some(0.375),
                    metrics: Default::default(),
                });
            }
        }
        p.finish(&StopReason::MaxEpochs);
        let text = rec.text();
        assert!(text.contains("40/40 steps"), "{text}");
        assert!(text.contains("max_epochs | epoch 3: train 0.2500 val 0.3750"), "{text}");
    }
}
