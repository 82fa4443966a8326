//! Progress of long loops: a live bar on a terminal, plain lines elsewhere (CI logs, pipes),
//! a line at every 10% of the work (at most one per two seconds) and nothing per iteration.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// Reports the progress of one pass over `total` steps.
pub struct Progress {
    bar: Option<ProgressBar>,
    plain_lines: bool,
    label: String,
    total: usize,
    next_line: usize,
    started: Instant,
    last_line: Instant,
}

/// Fast passes would print ten lines a second; keep plain output readable in a CI log.
const MIN_SECONDS_BETWEEN_LINES: f64 = 2.0;

impl Progress {
    /// Start reporting a pass called `label` of `total` steps.
    pub fn new(label: impl Into<String>, total: usize) -> Self {
        Self::with_plain_lines(label, total, true)
    }

    /// Like [`Progress::new`], but silent when stdout is not a terminal: for short passes whose
    /// result is printed anyway.
    pub fn terminal_only(label: impl Into<String>, total: usize) -> Self {
        Self::with_plain_lines(label, total, false)
    }

    fn with_plain_lines(label: impl Into<String>, total: usize, plain_lines: bool) -> Self {
        let label = label.into();
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30.cyan/blue}] {pos}/{len} {elapsed}<{eta} {msg}")
                    .expect("the template is valid")
                    .progress_chars("=> "),
            );
            bar.set_prefix(label.clone());
            bar
        });
        Progress {
            bar,
            plain_lines,
            label,
            total: total.max(1),
            next_line: 1,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    /// Record that `done` steps are finished; `msg` describes the state (loss, accuracy, ...).
    pub fn update(&mut self, done: usize, msg: impl FnOnce() -> String) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            if done.is_multiple_of(10) || done == self.total {
                bar.set_message(msg());
            }
        } else if self.plain_lines && done * 10 >= self.next_line * self.total {
            let pct = done * 100 / self.total;
            if self.last_line.elapsed().as_secs_f64() >= MIN_SECONDS_BETWEEN_LINES && done < self.total {
                self.last_line = Instant::now();
                println!(
                    "{} {pct:>3}% {done}/{} {:.1}s {}",
                    self.label,
                    self.total,
                    self.started.elapsed().as_secs_f64(),
                    msg()
                );
            }
            while self.next_line * self.total <= done * 10 {
                self.next_line += 1;
            }
        }
    }

    /// End the pass, clearing the live bar.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
