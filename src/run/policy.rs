//! The authentication methods policy, read once before planning (part of the connect phase,
//! [`super::session`]): the TAP and SMS configurations for rows the policy governs, and the QR
//! code PIN configuration for rows issuing QR codes and PINs. What cannot be read decides
//! nothing: a warning, and the plan goes on without it.

use crate::exec::Executor;
use crate::graph::{ErrorKind, GraphCall, methods, requests};
use crate::plan::policy::MethodsPolicy;

/// Read the QR code PIN configuration of the authentication methods policy (`pinLength`,
/// `standardQRCodeLifetimeInDays`, `state`); when it cannot be read, a warning, and the rows
/// are planned with Microsoft's defaults (8 digits, 365 days).
pub(super) async fn read_qr(exec: &Executor) -> Option<crate::plan::qr_pin::QrPinPolicy> {
    let read = exec
        .call(POLICY_KEY, requests::read_method_configuration("qrCodePin"))
        .await
        .map_err(|e| match e.kind {
            ErrorKind::Permission => format!(
                "{e}; the app needs Policy.Read.AuthenticationMethod (or \
                 Policy.ReadWrite.AuthenticationMethod)"
            ),
            _ => e.to_string(),
        })
        .and_then(|answer| {
            crate::graph::qr_pin::parse_policy(&answer.body).map_err(|e| e.to_string())
        });
    match read {
        Ok(policy) => Some(policy),
        Err(why) => {
            eprintln!(
                "warning: the plan cannot read the QR code PIN policy (qrCodePin: {why}); PINs \
                 get 8 digits and QR codes live 365 days unless a row says otherwise"
            );
            None
        }
    }
}

/// The `Executor` key of the policy reads (they belong to no user).
const POLICY_KEY: &str = "authentication methods policy";

/// Read the TAP and SMS configurations of the authentication methods policy; what cannot be
/// read decides nothing, with a warning on stderr (without Policy.Read.AuthenticationMethod
/// Graph answers 403: the run goes on, and Graph refuses what it refuses).
pub(super) async fn read(exec: &Executor) -> Option<MethodsPolicy> {
    let mut policy = MethodsPolicy::default();
    let warn = |what: &str, why: String| {
        eprintln!(
            "warning: the plan cannot check the authentication methods policy ({what}: {why}); \
             rows it governs are planned without it, and Graph refuses what it refuses"
        );
    };
    match exec
        .call(
            POLICY_KEY,
            requests::read_method_configuration("TemporaryAccessPass"),
        )
        .await
    {
        Ok(answer) => match methods::parse_tap_policy(&answer.body) {
            Ok(tap) => policy.tap = Some(tap),
            Err(e) => warn("TemporaryAccessPass", e.to_string()),
        },
        Err(e) if e.kind == ErrorKind::Permission => {
            // The same permission reads the SMS configuration: one warning is enough.
            warn(
                "TemporaryAccessPass",
                format!(
                    "{e}; the app needs Policy.Read.AuthenticationMethod (or \
                     Policy.ReadWrite.AuthenticationMethod)"
                ),
            );
            return None;
        }
        Err(e) => warn("TemporaryAccessPass", e.to_string()),
    }
    match exec
        .call(POLICY_KEY, requests::read_method_configuration("Sms"))
        .await
    {
        Ok(answer) => match methods::parse_sms_policy(&answer.body) {
            Ok(sms) => policy.sms = Some(sms),
            Err(e) => warn("Sms", e.to_string()),
        },
        Err(e) => warn("Sms", e.to_string()),
    }
    (policy != MethodsPolicy::default()).then_some(policy)
}
