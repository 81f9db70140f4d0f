//! The client certificate credential: an app registration's certificate and private key, from
//! a PEM file (certificate + PKCS#8 or PKCS#1 key, the key possibly PKCS#8-encrypted) or a
//! PFX/PKCS#12 file with its password, loaded once and checked before any work (wrong
//! password, key not matching the certificate, certificate expired), then used to sign a
//! [client assertion](super::assertion) for every token request.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use futures::future::BoxFuture;
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

use super::AuthError;
use super::assertion::client_assertion;
use super::credential::Secret;
use super::credential::{
    AccessToken, Credential, EntraApp, JWT_BEARER, Retry, TokenRequest, request_token, unix_now,
};

/// A certificate and its RSA private key.
pub(crate) struct ClientCertificate {
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// Its private key.
    pub key: RsaPrivateKey,
}

impl ClientCertificate {
    /// base64url SHA-256 of the DER certificate (`x5t#S256`).
    pub(crate) fn thumbprint_sha256(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(&self.der))
    }
}

/// Client credentials with a certificate.
pub(crate) struct ClientCertificateCredential {
    pub app: EntraApp,
    pub certificate: ClientCertificate,
    pub http: reqwest::Client,
}

impl Credential for ClientCertificateCredential {
    fn fetch(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let what = self.app.describe("certificate");
            let assertion = client_assertion(
                &self.certificate,
                &self.app.client_id,
                &self.app.token_url,
                unix_now() as i64,
            );
            let request = self.app.request(
                &self.http,
                &[
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", assertion.as_str()),
                ],
            );
            request_token(TokenRequest {
                request,
                what: &what,
                redact: &[assertion.as_str()],
                retry: Retry::Standard,
            })
            .await
        })
    }
}

/// Load a PEM or PFX file (told apart by content, not by name).
pub(crate) fn load(path: &Path, password: Option<&Secret>) -> Result<ClientCertificate, AuthError> {
    let fail =
        |why: String| AuthError::Unavailable(format!("certificate {}: {why}", path.display()));
    let bytes = std::fs::read(path).map_err(|err| fail(err.to_string()))?;
    let (certificates, key) = if bytes.windows(10).any(|w| w == b"-----BEGIN") {
        load_pem(&bytes, password).map_err(fail)?
    } else {
        load_pfx(&bytes, password).map_err(fail)?
    };
    pick(certificates, key, unix_now() as i64).map_err(fail)
}

/// A PEM block: its label, whether its headers say it is encrypted, and its DER.
struct PemBlock {
    label: String,
    encrypted_headers: bool,
    der: Vec<u8>,
}

/// Every `-----BEGIN X-----` ... `-----END X-----` block, ignoring text around them (OpenSSL
/// writes "Bag Attributes" lines before each block of a converted PFX).
fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, String> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, bool, String)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            open = Some((label.to_string(), false, String::new()));
        } else if let Some(label) = line
            .strip_prefix("-----END ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            let Some((open_label, encrypted_headers, body)) = open.take() else {
                continue;
            };
            if open_label != label {
                return Err(format!("PEM block {open_label} ends as {label}"));
            }
            let der = STANDARD
                .decode(body)
                .map_err(|err| format!("PEM block {label} is not valid base64 ({err})"))?;
            blocks.push(PemBlock {
                label: open_label,
                encrypted_headers,
                der,
            });
        } else if let Some((_, encrypted, body)) = open.as_mut() {
            if line.contains(':') {
                // RFC 1421 headers (Proc-Type: 4,ENCRYPTED / DEK-Info) of legacy encrypted keys.
                *encrypted |= line.contains("ENCRYPTED");
            } else {
                body.push_str(line);
            }
        }
    }
    Ok(blocks)
}

fn load_pem(
    bytes: &[u8],
    password: Option<&Secret>,
) -> Result<(Vec<Vec<u8>>, RsaPrivateKey), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the PEM file is not text".to_string())?;
    let mut certificates = Vec::new();
    let mut key = None;
    for block in pem_blocks(text)? {
        match block.label.as_str() {
            "CERTIFICATE" => certificates.push(block.der),
            "PRIVATE KEY" => {
                key = Some(
                    RsaPrivateKey::from_pkcs8_der(&block.der)
                        .map_err(|err| format!("the private key is not an RSA PKCS#8 key ({err}); Microsoft Entra accepts RSA certificates"))?,
                );
            }
            "RSA PRIVATE KEY" if block.encrypted_headers => {
                return Err("the private key uses legacy PEM encryption; convert it with `openssl pkcs8 -topk8` (PKCS#8 encryption is supported) or use a PFX file".into());
            }
            "RSA PRIVATE KEY" => {
                key = Some(
                    RsaPrivateKey::from_pkcs1_der(&block.der)
                        .map_err(|err| format!("the RSA private key cannot be read ({err})"))?,
                );
            }
            "ENCRYPTED PRIVATE KEY" => {
                let Some(password) = password else {
                    return Err("the private key is encrypted: set AZURE_CLIENT_CERTIFICATE_PASSWORD (or --certificate-password-file)".into());
                };
                let info = pkcs8::EncryptedPrivateKeyInfo::try_from(block.der.as_slice())
                    .map_err(|err| format!("the encrypted private key cannot be read ({err})"))?;
                let document = info.decrypt(password.expose()).map_err(|_| {
                    "the private key cannot be decrypted: wrong certificate password".to_string()
                })?;
                key = Some(
                    RsaPrivateKey::from_pkcs8_der(document.as_bytes())
                        .map_err(|err| format!("the private key is not an RSA key ({err}); Microsoft Entra accepts RSA certificates"))?,
                );
            }
            "EC PRIVATE KEY" => {
                return Err(
                    "the private key is an EC key; Microsoft Entra accepts RSA certificates only"
                        .into(),
                );
            }
            _ => {}
        }
    }
    let key =
        key.ok_or("the PEM file has no private key (it needs the certificate and its key)")?;
    Ok((certificates, key))
}

fn load_pfx(
    bytes: &[u8],
    password: Option<&Secret>,
) -> Result<(Vec<Vec<u8>>, RsaPrivateKey), String> {
    let password = password.map(Secret::expose).unwrap_or("");
    let store = p12_keystore::KeyStore::from_pkcs12(bytes, password).map_err(|err| match err {
        p12_keystore::error::Error::MacError(_) => {
            "wrong certificate password (AZURE_CLIENT_CERTIFICATE_PASSWORD or --certificate-password-file)".to_string()
        }
        other => format!("not a PEM or PFX/PKCS#12 file, or an unsupported one ({other})"),
    })?;
    let Some((_, chain)) = store.private_key_chain() else {
        return Err("the PFX file has no private key with its certificate".into());
    };
    let key = RsaPrivateKey::from_pkcs8_der(chain.key())
        .or_else(|_| RsaPrivateKey::from_pkcs1_der(chain.key()))
        .map_err(|_| {
            "the PFX private key is not an RSA key; Microsoft Entra accepts RSA certificates"
                .to_string()
        })?;
    let certificates = chain.chain().iter().map(|c| c.as_der().to_vec()).collect();
    Ok((certificates, key))
}

/// The certificate that belongs to `key` (a PEM file may hold a chain), checked for expiry.
fn pick(
    certificates: Vec<Vec<u8>>,
    key: RsaPrivateKey,
    now: i64,
) -> Result<ClientCertificate, String> {
    if certificates.is_empty() {
        return Err("no certificate in the file (it needs the certificate and its key)".into());
    }
    let modulus = key.n().to_bytes_be();
    for der in certificates {
        let (_, parsed) = x509_parser::parse_x509_certificate(&der)
            .map_err(|err| format!("a certificate cannot be read ({err})"))?;
        let Ok(x509_parser::public_key::PublicKey::RSA(public)) = parsed.public_key().parsed()
        else {
            continue;
        };
        if strip_zeros(public.modulus) != strip_zeros(&modulus) {
            continue;
        }
        let not_after = parsed.validity().not_after;
        if not_after.timestamp() < now {
            return Err(format!(
                "the certificate expired on {not_after}; upload a new one to the app registration"
            ));
        }
        drop(parsed);
        return Ok(ClientCertificate { der, key });
    }
    Err("the private key does not belong to any certificate in the file".into())
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}
