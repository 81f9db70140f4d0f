//! Progress display of a run or an export: an indicatif bar on stderr when it is a terminal
//! (users done of total, writes per second, throttling state, ETA), otherwise a log line every
//! [`LOG_EVERY`]. A UI concern, so it lives with the report, not in the engine: the collector
//! ([`super::collect`]) calls [`Progress::inc`] as rows end; the counters are read from the
//! executor's [`Stats`] and [`Throttle`].

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::exec::stats::Stats;
use crate::throttle::Throttle;

/// How often the plain log line is written without a terminal.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The progress display; [`Progress::finish`] it at the end.
#[derive(Debug)]
pub struct Progress {
    done: Arc<AtomicU64>,
    bar: Option<ProgressBar>,
    ticker: JoinHandle<()>,
}

impl Progress {
    /// Start showing progress of `total` users (unknown for a streamed target list).
    pub fn start(total: Option<u64>, stats: Arc<Stats>, throttle: Arc<Throttle>) -> Progress {
        let done = Arc::new(AtomicU64::new(0));
        let terminal = std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = match total {
                Some(total) => ProgressBar::new(total),
                None => ProgressBar::new_spinner(),
            };
            bar.set_draw_target(ProgressDrawTarget::stderr());
            let template = if total.is_some() {
                "{elapsed_precise} [{bar:30}] {pos}/{len} rows  {msg}  ETA {eta}"
            } else {
                "{elapsed_precise} {spinner} {pos} rows  {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        let ticker = {
            let done = done.clone();
            let bar = bar.clone();
            tokio::spawn(async move {
                let every = if bar.is_some() {
                    Duration::from_millis(500)
                } else {
                    LOG_EVERY
                };
                let start = Instant::now();
                let mut last_writes = 0u64;
                let mut last = start;
                let mut interval = tokio::time::interval_at(start + every, every);
                loop {
                    interval.tick().await;
                    let now = Instant::now();
                    let snapshot = stats.snapshot();
                    let state = throttle.state();
                    let secs = (now - last).as_secs_f64().max(1e-3);
                    let writes_per_s = (snapshot.writes - last_writes) as f64 / secs;
                    last_writes = snapshot.writes;
                    last = now;
                    let throttling = if state.paused {
                        "paused (Retry-After)"
                    } else if state.slowed {
                        "slowed by the service"
                    } else {
                        "at budget"
                    };
                    let users = done.load(Ordering::Relaxed);
                    match &bar {
                        Some(bar) => {
                            bar.set_position(users);
                            bar.set_message(format!(
                                "{writes_per_s:.1} writes/s  {throttling}  429s {}",
                                snapshot.throttled
                            ));
                        }
                        None => tracing::info!(
                            rows = users,
                            total = total.unwrap_or(0),
                            reads = snapshot.reads,
                            writes = snapshot.writes,
                            writes_per_s = format!("{writes_per_s:.1}"),
                            throttled = snapshot.throttled,
                            retries = snapshot.retries,
                            state = throttling,
                            "progress"
                        ),
                    }
                }
            })
        };
        Progress { done, bar, ticker }
    }

    /// `n` more users done.
    pub fn inc(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Stop the display (the bar is cleared; the summary follows).
    pub fn finish(self) {
        self.ticker.abort();
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
