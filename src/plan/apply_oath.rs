//! Carrying out `assign-oath-token` and `unassign-oath-token` rows: the token is looked up in
//! the inventory by its serial number (`crate::graph::oath`, beta), the row is planned against
//! it ([`crate::plan::oath`]) and the steps are sent like any other write (write-ahead journal,
//! `$batch`, retries). A write whose answer was lost is checked against the token re-read from
//! the inventory before it is sent again, so a token is never assigned twice. The verification
//! code goes only into the activate request.

use std::time::Instant;

use super::{
    Applier, Done, Failure, MAX_SENDS_UNKNOWN, Read, Records, base_record, fill_failure,
    wire_failure,
};
use crate::graph::{ErrorKind, GraphCall, GraphError, oath as wire, requests};
use crate::job::{Action, Operation};
use crate::plan::change::Change;
use crate::plan::oath::{self, Token};
use crate::plan::step::{Step, Write};
use crate::report::Status;

impl<G: GraphCall> Applier<'_, G> {
    /// Plan and carry out (or, in a dry run, report) one hardware OATH row of the user
    /// `user_id`.
    pub(super) async fn apply_oath<R: Records>(
        &self,
        user: &str,
        user_id: &str,
        op: &Operation,
        out: &mut R,
    ) {
        let serial = match &op.action {
            Action::AssignOathToken { serial, .. } | Action::UnassignOathToken { serial } => {
                serial.clone()
            }
            _ => return,
        };
        let token = match self.find_token(user, &serial).await {
            Ok(token) => token,
            Err(error) => {
                let mut record = base_record(op, Some(user_id));
                fill_failure(
                    &mut record,
                    Change::ReadOathToken { serial },
                    &error,
                    error.attempts,
                );
                out.record(record).await;
                return;
            }
        };
        let plan = oath::plan(&op.action, token.as_ref(), user_id);
        if self.dry_run || plan.steps().is_empty() {
            self.emit_plan(user, user_id, op, plan, &Read::default(), out)
                .await;
            return;
        }
        let mut stop: Option<(Status, &'static str)> = None;
        for step in plan.steps() {
            let mut record = base_record(op, Some(user_id));
            record.step = step.change.clone();
            record.before = step.before.clone();
            record.after = step.after.clone();
            if let Some((status, why)) = stop {
                record.status = Some(status);
                record.error_message = Some(why.into());
                out.record(record).await;
                continue;
            }
            out.before_write(&step.change).await;
            let started = Instant::now();
            let result = self.send_oath_step(user, user_id, &serial, step).await;
            record.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            match result {
                Ok(done) => {
                    record.status = Some(Status::Ok);
                    record.attempts = done.attempts;
                    record.request_id = done.response.and_then(|r| r.request_id);
                    if let Some(note) = done.note {
                        record.after = note;
                    }
                }
                Err(failure) => {
                    fill_failure(
                        &mut record,
                        step.change.clone(),
                        &failure.error,
                        failure.attempts,
                    );
                    stop = Some(if failure.error.kind == ErrorKind::Cancelled {
                        (Status::Cancelled, "interrupted before it ran")
                    } else {
                        (Status::Skipped, "earlier step failed")
                    });
                }
            }
            out.record(record).await;
        }
    }

    /// The token with `serial` in the inventory, `None` when there is none.
    async fn find_token(&self, user: &str, serial: &str) -> Result<Option<Token>, GraphError> {
        let response = self.graph.call(user, wire::find_by_serial(serial)).await?;
        wire::parse_found(&response.body, serial).map_err(|e| wire_failure(e, &response))
    }

    /// Send one step; a lost answer is checked against the re-read token before a resend.
    async fn send_oath_step(
        &self,
        user: &str,
        user_id: &str,
        serial: &str,
        step: &Step,
    ) -> Result<Done, Failure> {
        let request = requests::write(user_id, &step.write);
        let mut attempts = 0;
        for _ in 0..MAX_SENDS_UNKNOWN {
            match self.graph.call(user, request.clone()).await {
                Ok(response) => {
                    attempts += response.attempts;
                    return Ok(Done {
                        response: Some(response),
                        note: None,
                        attempts,
                    });
                }
                Err(error)
                    if error.kind == ErrorKind::NotFound
                        && matches!(step.write, Write::UnassignOathToken { .. }) =>
                {
                    attempts += error.attempts;
                    return Ok(Done {
                        response: None,
                        note: Some("already unassigned (Graph answered 404)".into()),
                        attempts,
                    });
                }
                Err(error) if error.kind == ErrorKind::UnknownOutcome => {
                    attempts += error.attempts;
                    tracing::warn!(user, step = %step.change, "answer lost; re-reading the token");
                    match self.find_token(user, serial).await {
                        Ok(token) if oath::shows(&step.write, token.as_ref(), user_id) => {
                            return Ok(Done {
                                response: None,
                                note: Some(format!(
                                    "{} (answer lost; confirmed by re-reading)",
                                    step.after
                                )),
                                attempts,
                            });
                        }
                        Ok(_) => {}
                        Err(read_error) => {
                            let mut error = error;
                            error.message = format!(
                                "{}; the token could not be re-read to check it ({})",
                                error.message, read_error.message
                            );
                            return Err(Failure { error, attempts });
                        }
                    }
                }
                Err(error) => {
                    attempts += error.attempts;
                    return Err(Failure { error, attempts });
                }
            }
        }
        Err(Failure {
            error: GraphError {
                kind: ErrorKind::UnknownOutcome,
                status: None,
                code: "unknownOutcome".into(),
                message: format!(
                    "the answer was lost {MAX_SENDS_UNKNOWN} times and the token does not show \
                     the change"
                ),
                request_id: None,
                attempts,
            },
            attempts,
        })
    }
}
