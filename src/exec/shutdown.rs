//! The run's one shutdown signal, cloned into every task (mini-redis style): the first Ctrl-C
//! or SIGTERM drains (no new row, no new write, no wait; requests already sent finish and
//! results are flushed), the second aborts (stop at once). Created by the command that runs a job; read by [`super::for_each_user`],
//! the executor's batcher and its batch tasks.

use std::sync::Arc;

use tokio::sync::watch;

/// Where the run is in its shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Working normally.
    Running,
    /// Asked once to stop: take no new work, send no new write, finish the requests sent.
    Draining,
    /// Asked twice: stop now.
    Abort,
}

/// A cloneable handle on the shutdown phase.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<Phase>>,
    rx: watch::Receiver<Phase>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal in the [`Phase::Running`] phase.
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(Phase::Running);
        Shutdown {
            tx: Arc::new(tx),
            rx,
        }
    }

    /// The phase now.
    pub fn phase(&self) -> Phase {
        *self.rx.borrow()
    }

    /// Move one phase on (Running to Draining, Draining to Abort); what a Ctrl-C does.
    pub fn escalate(&self) -> Phase {
        let mut now = Phase::Running;
        self.tx.send_modify(|phase| {
            *phase = match *phase {
                Phase::Running => Phase::Draining,
                Phase::Draining | Phase::Abort => Phase::Abort,
            };
            now = *phase;
        });
        now
    }

    /// Move to `phase` unless the run is already further.
    pub fn enter(&self, phase: Phase) {
        self.tx.send_if_modified(|current| {
            if phase > *current {
                *current = phase;
                true
            } else {
                false
            }
        });
    }

    /// Resolves once the phase is at least `phase`.
    pub async fn reached(&self, phase: Phase) {
        let mut rx = self.rx.clone();
        // The sender lives as long as any clone of `self`, so this only ends on the phase.
        let _ = rx.wait_for(|current| *current >= phase).await;
    }

    /// Escalate on every Ctrl-C (SIGINT) or SIGTERM (`systemctl stop`, `kill`, a container
    /// stop), logging what happens; the task ends after the second. SIGTERM used to kill the
    /// process hard, with no drain and no flushed report.
    pub fn listen_for_ctrl_c(&self) -> tokio::task::JoinHandle<()> {
        let shutdown = self.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            loop {
                #[cfg(unix)]
                let signalled = match term.as_mut() {
                    Some(term) => tokio::select! {
                        r = tokio::signal::ctrl_c() => r.is_ok(),
                        r = term.recv() => r.is_some(),
                    },
                    None => tokio::signal::ctrl_c().await.is_ok(),
                };
                #[cfg(not(unix))]
                let signalled = tokio::signal::ctrl_c().await.is_ok();
                if !signalled {
                    break;
                }
                match shutdown.escalate() {
                    Phase::Draining => tracing::warn!(
                        "interrupted: no new writes; rows in flight finish the request they sent, \
                         their other steps are reported cancelled (Ctrl-C again to stop now)"
                    ),
                    _ => {
                        tracing::warn!("interrupted again: stopping now");
                        break;
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_escalations_go_from_draining_to_abort_and_wake_waiters() {
        let shutdown = Shutdown::new();
        let waiter = {
            let shutdown = shutdown.clone();
            tokio::spawn(async move { shutdown.reached(Phase::Abort).await })
        };
        assert_eq!(shutdown.escalate(), Phase::Draining);
        assert!(!waiter.is_finished());
        assert_eq!(shutdown.escalate(), Phase::Abort);
        waiter.await.unwrap();
        shutdown.enter(Phase::Draining);
        assert_eq!(shutdown.phase(), Phase::Abort);
    }
}
