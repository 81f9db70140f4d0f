//! The plan a run makes before it asks (`run` on a terminal, or with `--max-changes`), kept for
//! the apply that follows so that no user is read twice: each planned row with the whole state
//! it was planned against ([`super::PlannedRow::read`]), in an unnamed temporary file sorted by the
//! row's sequence number ([`crate::plan::spill`]), so memory stays flat; then handed back in
//! row order ([`KeptPlan::next_for`]) to the apply pass, which reads the job's rows again in
//! the same order. Rows wait for the disk as their JSON text (more compact than the values,
//! with their many small strings), in runs of [`LIMIT`], so that neither the planning pass nor
//! the apply's merge of the runs holds much of the plan.

use std::io;
use std::sync::Mutex;

use super::{PlanSink, PlannedRow};
use crate::plan::spill::{Sorted, Spill};

/// Rows held in memory before they are written out as one sorted run; a million rows make 489
/// runs to merge, each read through its own small buffer.
pub const LIMIT: usize = 2048;

/// Bytes of read buffer per run while merging: a few rows each, as 489 buffers of the default
/// 8 KiB would hold almost 4 MiB.
const RUN_BUFFER: usize = 2048;

/// The planned rows of a run's planning pass, gathered as they are planned.
pub struct PlanOnce {
    rows: Mutex<Spill<u64, String>>,
    /// The first write that failed: the apply then reads every user as before.
    failed: Mutex<Option<io::Error>>,
}

impl Default for PlanOnce {
    fn default() -> Self {
        PlanOnce {
            rows: Mutex::new(Spill::new(LIMIT).with_run_buffer(RUN_BUFFER)),
            failed: Mutex::new(None),
        }
    }
}

impl PlanSink for PlanOnce {
    fn row(&self, seq: u64, row: PlannedRow) {
        let text = match serde_json::to_string(&row) {
            Ok(text) => text,
            Err(error) => {
                if let Ok(mut failed) = self.failed.lock() {
                    failed.get_or_insert(error.into());
                }
                return;
            }
        };
        let Ok(mut rows) = self.rows.lock() else {
            return;
        };
        if let Err(error) = rows.push(seq, text)
            && let Ok(mut failed) = self.failed.lock()
        {
            failed.get_or_insert(error);
        }
    }

    fn keeps_state(&self) -> bool {
        true
    }
}

impl PlanOnce {
    /// The rows in sequence order, for the apply; an error when the plan could not be kept
    /// whole (the apply then plans every row again).
    pub fn finish(self) -> io::Result<KeptPlan> {
        if let Some(error) = self.failed.into_inner().ok().flatten() {
            return Err(error);
        }
        let rows = self
            .rows
            .into_inner()
            .map_err(|_| io::Error::other("the plan was poisoned"))?;
        Ok(KeptPlan {
            sorted: rows.sorted()?,
            next: None,
        })
    }
}

/// A run's own plan, handed back in sequence order.
pub struct KeptPlan {
    sorted: Sorted<u64, String>,
    next: Option<(u64, String)>,
}

impl KeptPlan {
    /// The planned row of sequence number `seq`, asked in increasing order; `None` when the
    /// row was not planned (a user not found, a refusal, an excluded user: the apply handles
    /// it as before) or the plan cannot be read further.
    pub fn next_for(&mut self, seq: u64) -> Option<PlannedRow> {
        loop {
            if self.next.is_none() {
                self.next = self.sorted.next_item().ok().flatten();
            }
            match &self.next {
                Some((at, _)) if *at < seq => self.next = None,
                Some((at, _)) if *at == seq => {
                    let (_, text) = self.next.take()?;
                    return serde_json::from_str(&text).ok();
                }
                _ => return None,
            }
        }
    }
}
