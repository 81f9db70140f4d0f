//! Delivering what a step created: a temporary access pass to the [`TapSink`] (`--tap-out`),
//! a QR code and PIN to the [`SecretSink`] (`--secrets-out`). The answer holding the secret is
//! dropped here; the step's record names the files, never their content.
//!
//! [`TapSink`]: crate::plan::TapSink
//! [`SecretSink`]: crate::plan::secrets_out::SecretSink

use std::sync::Arc;

use super::{Applier, Done, Failure};
use crate::graph::{ErrorKind, GraphCall, GraphError, Request, Response, methods, qr_pin};
use crate::plan::secrets_out::{IssuedQrPin, QrContent};
use crate::plan::step::{Effect, Step};
use crate::plan::tap_out::IssuedTap;

impl<G: GraphCall> Applier<'_, G> {
    /// Hand an issued QR code and PIN to the `--secrets-out` sink; the response (which holds
    /// them) is dropped here. The record's `after` names the files, never their content.
    pub(super) fn deliver_qr(
        &self,
        user: &str,
        user_id: &str,
        step: &Step,
        request: &Request,
        response: Response,
        attempts: u32,
    ) -> Result<Done, Failure> {
        let request_id = response.request_id.clone();
        let fail = |code: &str, message: String| Failure {
            error: GraphError {
                kind: ErrorKind::Rejected,
                status: Some(response.status),
                code: code.into(),
                message,
                request_id: request_id.clone(),
                attempts,
            },
            attempts,
        };
        let secret = if step.effect == Effect::QrPinIssued {
            let created =
                qr_pin::parse_created(&response.body, qr_pin::sent_pin(request).as_deref())
                    .map_err(|e| {
                        fail(
                            "qrPinMissingInAnswer",
                            format!("the QR code PIN method was created but {e}"),
                        )
                    })?;
            let qr = QrContent {
                raw: created.raw_content,
                level: created.level,
            };
            IssuedQrPin::new(user.into(), user_id.into(), created.pin, Some(qr))
                .valid(created.start, created.expiry)
        } else {
            let pin = qr_pin::parse_reset(&response.body)
                .map_err(|e| fail("qrPinMissingInAnswer", format!("the PIN was reset but {e}")))?;
            IssuedQrPin::new(user.into(), user_id.into(), pin, None)
        };
        let Some(sink) = self.secrets else {
            return Err(fail(
                "secretsOutRequired",
                "the secret was issued but --secrets-out is not set".into(),
            ));
        };
        let files = sink.deliver(&secret).map_err(|e| {
            fail(
                "secretsOutWriteFailed",
                format!(
                    "the secret was issued but could not be written to --secrets-out ({e}); \
                     issue a new one"
                ),
            )
        })?;
        let what = match step.effect {
            Effect::QrPinIssued => "QR code and PIN",
            _ => "new temporary PIN",
        };
        Ok(Done {
            response: Some(Response {
                status: response.status,
                body: serde_json::Value::Null.into(),
                request_id,
                attempts: response.attempts,
            }),
            note: Some(format!("{what} in --secrets-out: {}", files.join(", "))),
            attempts,
        })
    }

    /// Hand a created pass to the sink; the response (which holds the secret) is dropped here.
    pub(super) fn deliver_tap(
        &self,
        user: &str,
        user_id: &str,
        extra: &[(Arc<str>, String)],
        response: Response,
        attempts: u32,
    ) -> Result<Done, Failure> {
        let request_id = response.request_id.clone();
        let fail = |code: &str, message: String| Failure {
            error: GraphError {
                kind: ErrorKind::Rejected,
                status: Some(response.status),
                code: code.into(),
                message,
                request_id: request_id.clone(),
                attempts,
            },
            attempts,
        };
        let created = methods::parse_created_tap(&response.body).map_err(|e| {
            fail(
                "tapMissingInAnswer",
                format!("the pass was created but {e}"),
            )
        })?;
        let Some(sink) = self.taps else {
            return Err(fail(
                "tapOutRequired",
                "the pass was created but --tap-out is not set".into(),
            ));
        };
        let tap = IssuedTap::new(
            user.to_string(),
            user_id.to_string(),
            created.pass,
            created.start,
            created.lifetime_minutes,
        )
        .with_extra(extra.to_vec());
        sink.deliver(&tap).map_err(|e| {
            fail(
                "tapOutWriteFailed",
                format!(
                    "the pass was created but could not be written to --tap-out ({e}); issue a \
                     new one"
                ),
            )
        })?;
        Ok(Done {
            response: Some(Response {
                status: response.status,
                body: serde_json::Value::Null.into(),
                request_id,
                attempts: response.attempts,
            }),
            note: None,
            attempts,
        })
    }
}
