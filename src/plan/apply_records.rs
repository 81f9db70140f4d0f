//! The records of a row: the fields every record of an operation carries, a failed step's
//! error, a refusal (`skipped` when stable unless `--strict`), a row its cloud does not offer,
//! and an answer Graph gave that could not be read.

use crate::graph::{ErrorKind, GraphError, Response, methods};
use crate::job::{Action, Operation};
use crate::plan::change::Change;
use crate::plan::step::Refusal;
use crate::report::{Record, Status};

/// True for the answer Graph gives when a delete hits the default method while other methods
/// remain: 400 `badRequest` (graph-contract.md, "Rules"). The message is not parsed; the
/// caller also requires other deletes to be pending.
pub(super) fn refused_as_default(error: &GraphError) -> bool {
    error.kind == ErrorKind::Rejected
        && error.status == Some(400)
        && error.code.eq_ignore_ascii_case("badRequest")
}

/// True when the action creates a pass.
pub(super) fn wants_tap(action: &Action) -> bool {
    action.issues_pass()
}

pub(super) fn base_record(op: &Operation, user_id: Option<&str>) -> Record {
    Record {
        row: op.row,
        user: op.user.clone(),
        user_id: user_id.map(str::to_string),
        action: op.action.name().to_string(),
        extra: op.extra.clone(),
        ..Record::default()
    }
}

pub(super) fn fill_failure(record: &mut Record, step: Change, error: &GraphError, attempts: u32) {
    record.step = step;
    record.status = Some(if error.kind == ErrorKind::Cancelled {
        Status::Cancelled
    } else {
        Status::Failed
    });
    record.http_status = error.status;
    record.error_code = (!error.code.is_empty()).then(|| error.code.clone());
    record.error_message = Some(error.message.clone());
    record.request_id = error.request_id.clone();
    record.attempts = attempts;
}

/// The code of a row whose action the chosen cloud's Graph does not offer.
pub const NOT_IN_CLOUD: &str = "notInCloud";

/// The step a row refused in its cloud is reported on: the action's own check.
pub(super) fn refused_step(action: &Action) -> Change {
    match action {
        Action::EnableSmsSignIn => Change::SmsSignIn { on: true },
        Action::DisableSmsSignIn => Change::SmsSignIn { on: false },
        Action::RemoveMethod { method_type, .. } => Change::RemoveMethods {
            method_type: *method_type,
        },
        Action::IssueQrPin(_) => Change::IssueQrPin,
        Action::ResetQrPin => Change::ResetQrPin,
        _ => Change::AllSteps,
    }
}

/// The record of a refusal: `skipped` when it is stable (nothing can change it) unless
/// `strict`, else `failed`.
pub(super) fn refusal_record(
    op: &Operation,
    user_id: &str,
    refusal: Refusal,
    strict: bool,
) -> Record {
    let mut record = base_record(op, Some(user_id));
    record.status = Some(if refusal.is_stable() && !strict {
        Status::Skipped
    } else {
        Status::Failed
    });
    record.step = refusal.step;
    record.error_code = Some(refusal.code.to_string());
    record.error_message = Some(refusal.message);
    record
}

pub(super) fn wire_failure(error: methods::WireError, response: &Response) -> GraphError {
    GraphError {
        kind: ErrorKind::Rejected,
        status: Some(response.status),
        code: "unexpectedAnswer".into(),
        message: error.to_string(),
        request_id: response.request_id.clone(),
        attempts: response.attempts,
    }
}
