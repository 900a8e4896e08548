//! A fake PostgreSQL server that nobody should trust, for checking what a client gives away.
//!
//! It listens on a loopback port, answers the SSLRequest with `S`, completes a TLS handshake with a
//! freshly generated self-signed certificate (no CA anyone trusts), reads the startup message, and then
//! asks for a password the way it was told to: `AuthenticationCleartextPassword`, or `AuthenticationSASL`
//! offering only `SCRAM-SHA-256` (no `-PLUS`, so no channel binding). Everything the client sends after
//! that request is recorded byte for byte. A cleartext password is answered with an authentication
//! failure; a SCRAM client-first message gets a server-first message, so a client that goes on sends its
//! proof (enough for an offline guess at the password), which is recorded too, and then it fails.
//!
//! Frame formats: <https://www.postgresql.org/docs/current/protocol-message-formats.html>.

use anyhow::{Context, Result};
use rcgen::{CertificateParams, DnType, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// The SSLRequest code (1234 << 16 | 5679).
const SSL_REQUEST: u32 = 80_877_103;
/// How long one connection is kept open waiting for the client, at most.
const SESSION_LIMIT: Duration = Duration::from_secs(30);

/// How the fake server asks for authentication once the client has sent its startup message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthRequest {
    /// `AuthenticationCleartextPassword` (`R`, code 3): the password itself, in a `p` message.
    CleartextPassword,
    /// `AuthenticationSASL` (`R`, code 10) offering only `SCRAM-SHA-256`.
    ScramSha256,
}

/// What one client connection did.
#[derive(Clone, Default)]
pub struct Session {
    /// The client sent an SSLRequest (rather than plain-text startup).
    pub ssl_requested: bool,
    /// The TLS handshake completed (the client accepted the certificate).
    pub tls_established: bool,
    /// The startup message's body (protocol version and parameters), if one arrived.
    pub startup: Option<Vec<u8>>,
    /// Every byte the client sent after the authentication request, decrypted.
    pub after_auth_request: Vec<u8>,
    /// The connection is over (the client closed it, or the server gave up).
    pub finished: bool,
}

impl Session {
    /// The complete frames in [`Session::after_auth_request`], as (type byte, body).
    pub fn messages(&self) -> Vec<(u8, Vec<u8>)> {
        frames(&self.after_auth_request).0
    }

    /// Whether the client sent any `p` message: a password, an MD5 hash, or a SASL response.
    pub fn sent_password_message(&self) -> bool {
        self.messages().iter().any(|(tag, _)| *tag == b'p')
    }

    /// Whether `needle` occurs anywhere in what the client sent after the authentication request.
    pub fn sent_bytes(&self, needle: &[u8]) -> bool {
        !needle.is_empty() && self.after_auth_request.windows(needle.len()).any(|window| window == needle)
    }

    /// The `user` parameter of the startup message.
    pub fn user(&self) -> Option<String> {
        let startup = self.startup.as_ref()?;
        let mut parts = startup.get(4..)?.split(|b| *b == 0);
        while let Some(key) = parts.next() {
            let value = parts.next()?;
            if key == b"user" {
                return Some(String::from_utf8_lossy(value).into_owned());
            }
        }
        None
    }
}

impl std::fmt::Debug for Session {
    /// The flags, the user, and each message as its type and length: readable in a failed assertion.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let messages: Vec<String> =
            self.messages().iter().map(|(tag, body)| format!("{}({} bytes)", char::from(*tag), body.len())).collect();
        f.debug_struct("Session")
            .field("ssl_requested", &self.ssl_requested)
            .field("tls_established", &self.tls_established)
            .field("user", &self.user())
            .field(
                "after_auth_request",
                &format_args!("{} bytes: {}", self.after_auth_request.len(), messages.join(" ")),
            )
            .field("finished", &self.finished)
            .finish()
    }
}

/// A running fake server; it stops when dropped.
pub struct FakePg {
    port: u16,
    sessions: Arc<Mutex<Vec<Session>>>,
    task: JoinHandle<()>,
}

impl FakePg {
    /// Starts the server on a free loopback port with a new self-signed certificate.
    pub async fn start(auth: AuthRequest) -> Result<Self> {
        let acceptor = self_signed_acceptor()?;
        let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the fake PostgreSQL port")?;
        let port = listener.local_addr()?.port();
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(serve(listener, acceptor, auth, sessions.clone()));
        Ok(Self { port, sessions, task })
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every connection so far, in the order they arrived.
    pub fn sessions(&self) -> Vec<Session> {
        self.sessions.lock().unwrap().clone()
    }

    /// Waits until every connection so far is over (or `limit` passes), then returns them: what a client
    /// sent just before closing is recorded by then.
    pub async fn settled(&self, limit: Duration) -> Vec<Session> {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline && !self.sessions().iter().all(|s| s.finished) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.sessions()
    }
}

impl Drop for FakePg {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TLS acceptor presenting a self-signed certificate for the loopback names, generated here and
/// trusted by nobody.
fn self_signed_acceptor() -> Result<TlsAcceptor> {
    let key = KeyPair::generate().context("generating the fake server's key")?;
    let mut params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into(), "::1".into()])?;
    params.distinguished_name.push(DnType::CommonName, "untrusted fake PostgreSQL");
    let cert = params.self_signed(&key).context("self-signing the fake server's certificate")?;
    let certificates = vec![CertificateDer::from(cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    // The provider is named rather than taken from the process default, which another test may not set.
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .context("building the fake server's TLS configuration")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, auth: AuthRequest, sessions: Arc<Mutex<Vec<Session>>>) {
    // The connection tasks belong to this one, so aborting it ends them too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _peer)) = accepted else { continue };
                let index = {
                    let mut sessions = sessions.lock().unwrap();
                    sessions.push(Session::default());
                    sessions.len() - 1
                };
                let record = Recorder { sessions: sessions.clone(), index };
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    let _ = tokio::time::timeout(SESSION_LIMIT, session(tcp, acceptor, auth, &record)).await;
                    record.update(|s| s.finished = true);
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One connection's entry in the shared list.
struct Recorder {
    sessions: Arc<Mutex<Vec<Session>>>,
    index: usize,
}

impl Recorder {
    fn update(&self, change: impl FnOnce(&mut Session)) {
        change(&mut self.sessions.lock().unwrap()[self.index]);
    }
}

async fn session(
    mut tcp: tokio::net::TcpStream,
    acceptor: TlsAcceptor,
    auth: AuthRequest,
    record: &Recorder,
) -> Result<()> {
    let (length, code) = (tcp.read_u32().await?, tcp.read_u32().await?);
    if length != 8 || code != SSL_REQUEST {
        // Plain text (or GSSAPI encryption): not what this server is for.
        return Ok(());
    }
    record.update(|s| s.ssl_requested = true);
    tcp.write_all(b"S").await?;
    let mut tls = acceptor.accept(tcp).await?;
    record.update(|s| s.tls_established = true);

    let length = tls.read_u32().await? as usize;
    let mut startup = vec![0; length.saturating_sub(4)];
    tls.read_exact(&mut startup).await?;
    record.update(|s| s.startup = Some(startup));

    match auth {
        AuthRequest::CleartextPassword => send(&mut tls, b'R', &3_i32.to_be_bytes()).await?,
        AuthRequest::ScramSha256 => {
            let mut body = 10_i32.to_be_bytes().to_vec();
            body.extend_from_slice(b"SCRAM-SHA-256\0\0");
            send(&mut tls, b'R', &body).await?;
        }
    }

    // Record everything from here on, answering each password message so a client that gives one away
    // goes as far as it would with a real server.
    let mut received = Vec::new();
    let (mut handled, mut passwords) = (0, 0);
    let mut chunk = [0; 4096];
    loop {
        let read = tls.read(&mut chunk).await.unwrap_or(0);
        if read == 0 {
            return Ok(());
        }
        received.extend_from_slice(&chunk[..read]);
        record.update(|s| s.after_auth_request.extend_from_slice(&chunk[..read]));
        let (messages, _) = frames(&received);
        for (tag, body) in messages.iter().skip(handled) {
            handled += 1;
            if *tag != b'p' {
                continue;
            }
            passwords += 1;
            match (auth, passwords) {
                // The SASLInitialResponse: answer with a server-first message so the client sends its proof.
                (AuthRequest::ScramSha256, 1) => {
                    let nonce = client_nonce(body).unwrap_or_default();
                    let server_first = format!("r={nonce}ZmFrZS1zZXJ2ZXItbm9uY2U,s=c2FsdHNhbHRzYWx0c2FsdA==,i=4096");
                    let mut reply = 11_i32.to_be_bytes().to_vec();
                    reply.extend_from_slice(server_first.as_bytes());
                    send(&mut tls, b'R', &reply).await?;
                }
                _ => send(&mut tls, b'E', &auth_failed()).await?,
            }
        }
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, tag: u8, body: &[u8]) -> Result<()> {
    let mut frame = vec![tag];
    frame.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    frame.extend_from_slice(body);
    stream.write_all(&frame).await?;
    stream.flush().await?;
    Ok(())
}

/// An ErrorResponse body: FATAL 28P01.
fn auth_failed() -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [(b'S', "FATAL"), (b'V', "FATAL"), (b'C', "28P01"), (b'M', "password authentication failed")]
    {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    body
}

/// The `r=` nonce of a SASLInitialResponse's client-first message.
fn client_nonce(body: &[u8]) -> Option<String> {
    let mechanism_end = body.iter().position(|b| *b == 0)?;
    let data = body.get(mechanism_end + 5..)?;
    let text = std::str::from_utf8(data).ok()?;
    text.split(',').find_map(|part| part.strip_prefix("r=")).map(str::to_string)
}

/// Splits typed frames (type byte, int32 length including itself, body) off `bytes`; returns the
/// complete ones and the number of bytes they span.
fn frames(bytes: &[u8]) -> (Vec<(u8, Vec<u8>)>, usize) {
    let mut frames = Vec::new();
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + 5) {
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let Some(body) = bytes.get(at + 5..at + 1 + length.max(4)) else { break };
        frames.push((header[0], body.to_vec()));
        at += 1 + length.max(4);
    }
    (frames, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_split_and_a_partial_one_is_left() {
        let bytes = [b'p', 0, 0, 0, 8, b'a', b'b', b'c', 0, b'X', 0, 0, 0, 4, b'Q', 0, 0];
        let (frames, used) = frames(&bytes);
        assert_eq!(frames, vec![(b'p', b"abc\0".to_vec()), (b'X', vec![])]);
        assert_eq!(used, 14);
    }

    #[test]
    fn the_nonce_of_a_client_first_message() {
        let mut body = b"SCRAM-SHA-256\0".to_vec();
        let message = b"n,,n=,r=abc123";
        body.extend_from_slice(&(message.len() as i32).to_be_bytes());
        body.extend_from_slice(message);
        assert_eq!(client_nonce(&body).as_deref(), Some("abc123"));
    }

    /// A client that trusts nothing extra never completes the handshake; one that skips verification
    /// does, and a cleartext password it then sends is recorded.
    #[tokio::test]
    async fn records_what_a_client_sends() {
        let fake = FakePg::start(AuthRequest::CleartextPassword).await.unwrap();
        let mut config = tokio_postgres::Config::new();
        config.host("127.0.0.1").port(fake.port()).user("alice").password("hunter2").dbname("postgres");
        config.ssl_mode(tokio_postgres::config::SslMode::Require);

        let roots = rustls::RootCertStore::empty();
        let verifying =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        let Err(error) = config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(verifying)).await else {
            panic!("connected to an untrusted server")
        };
        assert!(format!("{error:?}").contains("UnknownIssuer"), "{error:?}");

        let trusting =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(TrustAnything))
                .with_no_client_auth();
        let Err(error) = config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(trusting)).await else {
            panic!("the fake server let the client in")
        };
        assert_eq!(error.as_db_error().map(|e| e.code().code()), Some("28P01"), "{error:?}");

        let sessions = fake.settled(Duration::from_secs(5)).await;
        assert_eq!(sessions.len(), 2, "{sessions:?}");
        assert!(sessions[0].ssl_requested && !sessions[0].tls_established, "{:?}", sessions[0]);
        assert!(sessions[0].after_auth_request.is_empty());
        assert!(sessions[1].tls_established);
        assert_eq!(sessions[1].user().as_deref(), Some("alice"));
        assert!(sessions[1].sent_password_message());
        assert!(sessions[1].sent_bytes(b"hunter2\0"));
    }

    #[derive(Debug)]
    struct TrustAnything;

    impl rustls::client::danger::ServerCertVerifier for TrustAnything {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }

        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms.supported_schemes()
        }
    }
}
