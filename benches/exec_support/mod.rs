//! Shared by the executor's benchmarks: the per-user work they run (reads and writes through the
//! executor) and the driver that runs it as a real run does. The simulator in a child process
//! of `exec_speed` and `exec_memory` is in `benches/exec_child/`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use authbulk::testing::exec::{Executor, UserWork};
use authbulk::testing::graph::{ApiVersion, GraphCall, Request, path};

/// Per user: `reads` GETs of the methods list, then `writes` session revocations, in order.
pub struct Work {
    pub exec: Executor,
    pub reads: u32,
    pub writes: u32,
    pub failed: AtomicU64,
}

impl UserWork for Work {
    type Item = usize;
    type Output = ();

    fn user_key(&self, item: &usize) -> String {
        item.to_string()
    }

    async fn run(&self, item: usize) {
        let user = authbulk::sim::upn(item);
        let base = path::user(&user);
        for _ in 0..self.reads {
            let request = Request::get(ApiVersion::V1, format!("{base}/authentication/methods"));
            if self.exec.call(&user, request).await.is_err() {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        for _ in 0..self.writes {
            let request = Request::post(
                ApiVersion::V1,
                format!("{base}/revokeSignInSessions"),
                serde_json::json!({}),
            );
            if self.exec.call(&user, request).await.is_err() {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn cancelled(&self, _item: usize) {}
}

/// Run every user `0..users` through `work`, with `active` users at a time; outputs go to one
/// collector task, as in a real run.
pub async fn drive(work: Arc<Work>, users: usize, active: usize) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let collector = tokio::spawn(async move {
        let mut n = 0u64;
        while rx.recv().await.is_some() {
            n += 1;
        }
        n
    });
    let end = authbulk::testing::exec::for_each_user(
        work,
        futures::stream::iter(0..users),
        active,
        tx,
        authbulk::testing::exec::Shutdown::new(),
    )
    .await;
    assert_eq!(end, authbulk::testing::exec::DriveEnd::Completed);
    let collected = collector.await.expect("collector");
    assert_eq!(collected, users as u64);
}
