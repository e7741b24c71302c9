//! The live progress line on stderr: what is running and how far it got.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// A counter shown on stderr while a phase runs; the display stops when it is dropped.
pub struct Progress {
    done: Arc<AtomicU64>,
    painter: JoinHandle<()>,
    label: String,
    total: u64,
    started: Instant,
}

impl Progress {
    /// Starts showing `label` with `total` steps (0: unknown).
    pub fn start(label: impl Into<String>, total: u64) -> Progress {
        let label = label.into();
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let tty = std::io::stderr().is_terminal();
        let painter = {
            let (done, label) = (done.clone(), label.clone());
            // On a terminal the line is redrawn in place; in a log, one line every 10 s.
            let period = if tty { Duration::from_millis(250) } else { Duration::from_secs(10) };
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let line = render(&label, &done, total, started);
                    let mut err = std::io::stderr().lock();
                    let _ = if tty { write!(err, "\r\x1b[2K{line}") } else { writeln!(err, "{line}") };
                    let _ = err.flush();
                }
            })
        };
        Progress { done, painter, label, total, started }
    }

    pub fn inc(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// A handle for tasks to count on.
    pub fn counter(&self) -> Arc<AtomicU64> {
        self.done.clone()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.painter.abort();
        let line = render(&self.label, &self.done, self.total, self.started);
        let mut err = std::io::stderr().lock();
        let clear = if err.is_terminal() { "\r\x1b[2K" } else { "" };
        let _ = writeln!(err, "{clear}{line}");
    }
}

fn render(label: &str, done: &AtomicU64, total: u64, started: Instant) -> String {
    let done = done.load(Ordering::Relaxed);
    let of = if total > 0 { format!("/{total}") } else { String::new() };
    format!("  {label}: {done}{of} in {:.1} s", started.elapsed().as_secs_f64())
}
