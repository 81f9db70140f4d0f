//! Sending one step of a row ([`Applier::run_step`]): a delete answered 404 has reached the
//! desired state; a write whose answer was lost (`UnknownOutcome`) is checked against a
//! re-read state before it is sent again, at most `MAX_SENDS_UNKNOWN` sends in all. A pass
//! whose create answer was lost is replaced once, so that the pass in `--tap-out` is the one
//! that works; a QR code PIN method whose create answer was lost cannot be recovered (its key
//! is gone); a PIN reset whose answer was lost is reset again. What a step creates goes to
//! [`super::deliver`].

use std::sync::Arc;

use super::{Applier, Done, Failure, MAX_SENDS_UNKNOWN, Needs, REPLACED_ORPHAN_PASS};
use crate::graph::{ApiVersion, ErrorKind, GraphCall, GraphError, requests};
use crate::job::MethodType;
use crate::plan::state::UserState;
use crate::plan::step::{Effect, Step};

impl<G: GraphCall> Applier<'_, G> {
    /// Send one step, handling a lost answer, a 404 delete and a created pass.
    pub(super) async fn run_step(
        &self,
        user: &str,
        user_id: &str,
        extra: &[(Arc<str>, String)],
        step: &Step,
        before: &UserState,
    ) -> Result<Done, Failure> {
        let mut attempts = 0;
        let request = requests::write(user_id, &step.write);
        // A pass created by an earlier send whose answer was lost: its value is known to nobody.
        let mut orphan_pass = false;
        // A PIN reset whose answer was lost: the resend's PIN replaces that one.
        let mut lost_reset = false;
        for _ in 0..MAX_SENDS_UNKNOWN {
            match self.graph.call(user, request.clone()).await {
                Ok(response) => {
                    attempts += response.attempts;
                    if matches!(step.effect, Effect::QrPinIssued | Effect::QrPinReset) {
                        let mut done =
                            self.deliver_qr(user, user_id, step, &request, response, attempts)?;
                        if lost_reset {
                            done.note = done.note.map(|n| {
                                format!("{n}; it replaced a PIN whose reset answer was lost")
                            });
                        }
                        return Ok(done);
                    }
                    if step.effect == Effect::TapIssued {
                        let mut done =
                            self.deliver_tap(user, user_id, extra, response, attempts)?;
                        if orphan_pass {
                            done.note = Some(REPLACED_ORPHAN_PASS.into());
                        }
                        return Ok(done);
                    }
                    return Ok(Done {
                        response: Some(response),
                        note: None,
                        attempts,
                    });
                }
                Err(error) if error.kind == ErrorKind::NotFound && step.change.is_delete() => {
                    attempts += error.attempts;
                    return Ok(Done {
                        response: None,
                        note: Some(format!(
                            "already gone (Graph answered 404{})",
                            error
                                .request_id
                                .as_deref()
                                .map(|id| format!(", request-id {id}"))
                                .unwrap_or_default()
                        )),
                        attempts,
                    });
                }
                Err(error) if error.kind == ErrorKind::UnknownOutcome => {
                    attempts += error.attempts;
                    tracing::warn!(user, step = %step.change, "answer lost; re-reading the state");
                    let needs = Needs {
                        beta: request.version == ApiVersion::Beta,
                        preferences: matches!(step.effect, Effect::Preferences { .. }),
                    };
                    let reread = match self.read(user, user_id, needs).await {
                        Ok(read) => read.state,
                        Err((_, read_error)) => {
                            let mut error = error;
                            error.message = format!(
                                "{}; the state could not be re-read to check it ({})",
                                error.message, read_error.message
                            );
                            return Err(Failure { error, attempts });
                        }
                    };
                    if step.effect == Effect::QrPinReset {
                        // Resetting again makes the PIN whose answer was lost void.
                        lost_reset = true;
                        continue;
                    }
                    if step.effect == Effect::QrPinIssued {
                        let known = before.of_type(MethodType::QrCodePin).map(|m| m.id.clone());
                        let known: Vec<String> = known.collect();
                        let created = reread
                            .of_type(MethodType::QrCodePin)
                            .any(|m| !known.contains(&m.id));
                        if created {
                            // Graph keeps no copy of the QR code's key: it is lost for good,
                            // and a second create would be refused while this one is active.
                            return Err(Failure {
                                error: GraphError {
                                    kind: ErrorKind::Rejected,
                                    status: error.status,
                                    code: "qrPinValueLost".into(),
                                    message: "the QR code PIN method was created but the answer \
                                              holding its QR code and PIN was lost; nothing \
                                              reached --secrets-out: issue a new one with \
                                              --replace"
                                        .into(),
                                    request_id: error.request_id.clone(),
                                    attempts,
                                },
                                attempts,
                            });
                        }
                        continue;
                    }
                    if step.effect == Effect::TapIssued {
                        // A new pass the state did not have before was created by the lost send;
                        // nobody knows its value. The next send replaces it (a user has one pass,
                        // and "creating a new pass replaces the existing one"), so the pass that
                        // reaches --tap-out is the one that works. None: the create did not run.
                        let known = before.tap_ids();
                        orphan_pass |= reread.tap_ids().iter().any(|id| !known.contains(id));
                        continue;
                    }
                    if reread.shows(&step.effect) == Some(true) {
                        return Ok(Done {
                            response: None,
                            note: Some(format!(
                                "{} (answer lost; confirmed by re-reading)",
                                step.after
                            )),
                            attempts,
                        });
                    }
                }
                Err(error) => {
                    attempts += error.attempts;
                    return Err(Failure { error, attempts });
                }
            }
        }
        let message = if step.effect == Effect::TapIssued {
            format!(
                "the answer to the pass create was lost {MAX_SENDS_UNKNOWN} times: a pass whose \
                 value nobody knows may exist (it expires on its own); run the row again to \
                 replace it with one that reaches --tap-out"
            )
        } else if step.effect == Effect::QrPinReset {
            format!(
                "the answer to the PIN reset was lost {MAX_SENDS_UNKNOWN} times: the PIN was \
                 reset to one nobody knows; reset it again with a new row"
            )
        } else {
            format!(
                "the answer was lost {MAX_SENDS_UNKNOWN} times and the state does not show \
                 the change"
            )
        };
        Err(Failure {
            error: GraphError {
                kind: ErrorKind::UnknownOutcome,
                status: None,
                code: "unknownOutcome".into(),
                message,
                request_id: None,
                attempts,
            },
            attempts,
        })
    }
}
