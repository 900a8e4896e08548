//! Just enough of the PostgreSQL wire protocol for the gateway: the untyped opening messages (SSLRequest,
//! GSSENCRequest, StartupMessage, CancelRequest), typed frames (a type byte, an int32 length that counts
//! itself, a body), the authentication requests and responses, and ErrorResponse.
//!
//! Formats: <https://www.postgresql.org/docs/current/protocol-message-formats.html>.

use anyhow::{Result, bail};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The SSLRequest code (1234 << 16 | 5679).
pub const SSL_REQUEST: u32 = 80_877_103;
/// The GSSENCRequest code (1234 << 16 | 5680).
pub const GSSENC_REQUEST: u32 = 80_877_104;
/// Protocol 3.0.
pub const PROTOCOL_3: u32 = 196_608;

/// `R` codes.
pub const AUTH_OK: i32 = 0;
pub const AUTH_CLEARTEXT: i32 = 3;
pub const AUTH_SASL: i32 = 10;
pub const AUTH_SASL_CONTINUE: i32 = 11;
pub const AUTH_SASL_FINAL: i32 = 12;

/// The largest opening or typed message the gateway reads during the login: anything bigger is not a
/// login.
const LARGEST: usize = 64 * 1024;

/// An untyped message: its int32 code (or protocol version) and the rest.
pub async fn read_untyped<S: AsyncRead + Unpin>(stream: &mut S) -> Result<(u32, Vec<u8>)> {
    let length = stream.read_u32().await? as usize;
    if !(8..=LARGEST).contains(&length) {
        bail!("an opening message of {length} bytes");
    }
    let code = stream.read_u32().await?;
    let mut rest = vec![0; length - 8];
    stream.read_exact(&mut rest).await?;
    Ok((code, rest))
}

/// A typed frame: (type byte, body).
pub async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> Result<(u8, Vec<u8>)> {
    let tag = stream.read_u8().await?;
    let length = stream.read_u32().await? as usize;
    if !(4..=LARGEST).contains(&length) {
        bail!("a '{}' message of {length} bytes", char::from(tag));
    }
    let mut body = vec![0; length - 4];
    stream.read_exact(&mut body).await?;
    Ok((tag, body))
}

pub async fn write_frame<S: AsyncWrite + Unpin>(stream: &mut S, tag: u8, body: &[u8]) -> Result<()> {
    stream.write_all(&frame(tag, body)).await?;
    stream.flush().await?;
    Ok(())
}

pub fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut frame = vec![tag];
    frame.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    frame.extend_from_slice(body);
    frame
}

/// The StartupMessage for `parameters` (the protocol version first).
pub fn startup(parameters: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(parameters.len() + 8);
    message.extend_from_slice(&(parameters.len() as u32 + 8).to_be_bytes());
    message.extend_from_slice(&PROTOCOL_3.to_be_bytes());
    message.extend_from_slice(parameters);
    message
}

/// The value of `name` in a StartupMessage's parameters (`name\0value\0…\0`).
pub fn parameter(parameters: &[u8], name: &str) -> Option<String> {
    let mut parts = parameters.split(|b| *b == 0);
    while let Some(key) = parts.next() {
        let value = parts.next()?;
        if key.is_empty() {
            return None;
        }
        if key == name.as_bytes() {
            return Some(String::from_utf8_lossy(value).into_owned());
        }
    }
    None
}

/// An `R` message body: the code and what follows it.
pub fn authentication(body: &[u8]) -> Option<(i32, &[u8])> {
    let code = i32::from_be_bytes(body.get(..4)?.try_into().ok()?);
    Some((code, &body[4..]))
}

pub fn authentication_request(code: i32, data: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(data);
    body
}

/// The text of a PasswordMessage (`p`, NUL-terminated).
pub fn password_text(body: &[u8]) -> Option<String> {
    let text = body.strip_suffix(&[0])?;
    String::from_utf8(text.to_vec()).ok()
}

/// A SASLInitialResponse body: the mechanism, NUL, the length of the data, the data.
pub fn sasl_initial_response(mechanism: &str, data: &[u8]) -> Vec<u8> {
    let mut body = mechanism.as_bytes().to_vec();
    body.push(0);
    body.extend_from_slice(&(data.len() as i32).to_be_bytes());
    body.extend_from_slice(data);
    body
}

/// The mechanisms an AuthenticationSASL request offers.
pub fn sasl_mechanisms(data: &[u8]) -> Vec<String> {
    data.split(|b| *b == 0).filter(|m| !m.is_empty()).map(|m| String::from_utf8_lossy(m).into_owned()).collect()
}

/// An ErrorResponse body: severity, SQLSTATE and message.
pub fn error_response(severity: &str, sqlstate: &str, message: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [(b'S', severity), (b'V', severity), (b'C', sqlstate), (b'M', message)] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    body
}

/// The message (`M`) and SQLSTATE (`C`) fields of an ErrorResponse body.
pub fn error_fields(body: &[u8]) -> (String, String) {
    let (mut message, mut code) = (String::new(), String::new());
    for field in body.split(|b| *b == 0) {
        match field.split_first() {
            Some((b'M', text)) => message = String::from_utf8_lossy(text).into_owned(),
            Some((b'C', text)) => code = String::from_utf8_lossy(text).into_owned(),
            _ => {}
        }
    }
    (message, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_parameters_are_found_by_name() {
        let parameters = b"user\0migrator\0database\0orders\0application_name\0migprep\0\0";
        assert_eq!(parameter(parameters, "user").as_deref(), Some("migrator"));
        assert_eq!(parameter(parameters, "database").as_deref(), Some("orders"));
        assert_eq!(parameter(parameters, "options"), None);
        let message = startup(parameters);
        assert_eq!(u32::from_be_bytes(message[..4].try_into().unwrap()) as usize, message.len());
    }

    #[test]
    fn authentication_and_error_bodies_round_trip() {
        let body = authentication_request(AUTH_SASL, b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0");
        let (code, data) = authentication(&body).unwrap();
        assert_eq!(code, AUTH_SASL);
        assert_eq!(sasl_mechanisms(data), ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
        let error = error_response("FATAL", "28P01", "password authentication failed for user \"x\"");
        assert_eq!(error_fields(&error), ("password authentication failed for user \"x\"".into(), "28P01".into()));
        assert_eq!(password_text(b"token\0").as_deref(), Some("token"));
        assert_eq!(password_text(b"no terminator"), None);
    }
}
