//! A token-checking gateway in front of a PostgreSQL stand-in, as RDS IAM authentication and Microsoft
//! Entra authentication put one in front of the real services: passwordless logins are tested, not
//! assumed.
//!
//! For each client it answers the SSLRequest, completes TLS with the stand-ins' certificate, reads the
//! startup message and asks for a cleartext password (`AuthenticationCleartextPassword`, as both
//! services do for a token). The password must be a token that [`verify`] accepts for this login; if
//! it is not, the client gets what the services send, `FATAL` with SQLSTATE 28P01, and nothing reaches
//! the stand-in. If it is, the gateway logs in to the stand-in as the same user with the real password
//! (TLS, SCRAM), hands the client `AuthenticationOk` and everything the stand-in said after it, and
//! from then on relays bytes both ways.
//!
//! Every attempt is recorded (user, database, outcome, and when the token was made, never the token),
//! and tests can move the gateway's clock or declare every token made before an instant expired.

mod verify;
mod wire;

pub use verify::{Accepted, DATABASE_AUDIENCE, EntraCheck, IamCheck};

use crate::postgres::Login;
use crate::tls::CertAuthority;
use anyhow::{Context, Result, bail};
use postgres_protocol::authentication::sasl::{ChannelBinding, SCRAM_SHA_256, ScramSha256};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use wire::*;

/// How long one login may take before the gateway gives up on the client.
const LOGIN_LIMIT: Duration = Duration::from_secs(30);

/// Which tokens the gateway takes.
#[derive(Clone)]
pub enum Check {
    RdsIam(IamCheck),
    Entra(EntraCheck),
}

/// How to start a [`Gateway`].
#[derive(Clone)]
pub struct GatewayConfig {
    pub check: Check,
    /// The host name clients connect to; IAM tokens are signed for it and the gateway's port.
    pub host: String,
    /// The stand-in's port on 127.0.0.1.
    pub upstream_port: u16,
    pub ca: Arc<CertAuthority>,
    /// The stand-in's logins, with their real passwords.
    pub logins: Vec<Login>,
}

/// Why a login was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The client did not ask for TLS.
    NoTls,
    /// The password is not a token of the expected kind.
    NotAToken,
    /// The signature does not verify (altered, or signed with other credentials or another key).
    Signature,
    /// Outside its validity window.
    Expired,
    /// An IAM token for another host or port.
    WrongEndpoint,
    /// A token for another user (or a role no principal was created for).
    WrongUser,
    /// An Entra token for another resource (ARM's, say).
    WrongAudience,
    WrongTenant,
    /// The gateway has no real password for the user.
    UnknownLogin,
    /// The stand-in refused the real login (its message).
    Upstream(String),
}

/// One login attempt as the gateway saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub user: String,
    pub database: String,
    /// When the token was made, if it was a token the gateway could read.
    pub token_issued: Option<SystemTime>,
    pub outcome: Result<(), Refusal>,
}

struct Shared {
    config: GatewayConfig,
    port: u16,
    attempts: Mutex<Vec<Attempt>>,
    /// Added to the gateway's clock.
    skew: Mutex<Duration>,
    /// Tokens made before this are treated as expired.
    not_before: Mutex<Option<SystemTime>>,
}

/// A running gateway; it stops when dropped.
pub struct Gateway {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Gateway {
    /// Starts the gateway on a free loopback port.
    pub async fn start(config: GatewayConfig) -> Result<Self> {
        let acceptor = acceptor(&config.ca)?;
        let connector = connector(&config.ca)?;
        let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the gateway to a loopback port")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            config,
            port,
            attempts: Mutex::new(Vec::new()),
            skew: Mutex::new(Duration::ZERO),
            not_before: Mutex::new(None),
        });
        let task = tokio::spawn(serve(listener, acceptor, connector, shared.clone()));
        Ok(Self { shared, task })
    }

    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// Every login attempt so far, in order.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.shared.attempts.lock().unwrap().clone()
    }

    /// Runs the gateway's clock `ahead` of the machine's: tokens expire that much sooner.
    pub fn set_clock_ahead(&self, ahead: Duration) {
        *self.shared.skew.lock().unwrap() = ahead;
    }

    /// Treats every token made before `instant` (to the second) as expired: what a server sees when a
    /// client keeps using a token minted before a long wait.
    pub fn expire_tokens_made_before(&self, instant: SystemTime) {
        *self.shared.not_before.lock().unwrap() = Some(instant);
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn acceptor(ca: &CertAuthority) -> Result<TlsAcceptor> {
    let certificates = CertificateDer::pem_slice_iter(ca.leaf_cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(ca.leaf_key_pem.as_bytes())?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certificates, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn connector(ca: &CertAuthority) -> Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(ca.ca_pem.as_bytes()) {
        roots.add(certificate?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, connector: TlsConnector, shared: Arc<Shared>) {
    // The connection tasks belong to this one, so aborting it ends them too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _peer)) = accepted else { continue };
                let (acceptor, connector, shared) = (acceptor.clone(), connector.clone(), shared.clone());
                connections.spawn(async move {
                    let _ = session(tcp, acceptor, connector, shared).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One client: the login (bounded in time), then the relay (as long as both sides want).
async fn session(
    mut tcp: TcpStream,
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    shared: Arc<Shared>,
) -> Result<()> {
    let login = tokio::time::timeout(LOGIN_LIMIT, async {
        // SSLRequest, else a GSSENCRequest first (declined), else plain text.
        let mut opening = read_untyped(&mut tcp).await?;
        if opening.0 == GSSENC_REQUEST {
            tokio::io::AsyncWriteExt::write_all(&mut tcp, b"N").await?;
            opening = read_untyped(&mut tcp).await?;
        }
        if opening.0 != SSL_REQUEST {
            if opening.0 == PROTOCOL_3 {
                let user = parameter(&opening.1, "user").unwrap_or_default();
                record(&shared, &opening.1, None, Err(Refusal::NoTls));
                let message = format!("no pg_hba.conf entry for host \"127.0.0.1\", user \"{user}\", SSL off");
                write_frame(&mut tcp, b'E', &error_response("FATAL", "28000", &message)).await?;
            }
            bail!("no TLS");
        }
        tokio::io::AsyncWriteExt::write_all(&mut tcp, b"S").await?;
        let mut client = acceptor.accept(tcp).await?;
        let (version, parameters) = read_untyped(&mut client).await?;
        if version != PROTOCOL_3 {
            bail!("protocol {version:#x}");
        }
        write_frame(&mut client, b'R', &authentication_request(AUTH_CLEARTEXT, &[])).await?;
        let (tag, body) = read_frame(&mut client).await?;
        let token = if tag == b'p' { password_text(&body) } else { None };
        let user = parameter(&parameters, "user").unwrap_or_default();
        let checked = check(&shared, token.as_deref().unwrap_or_default(), &user);
        let upstream = match &checked {
            Ok(_) => login_upstream(&shared, &connector, &parameters, &user).await,
            Err(refusal) => Err(refusal.clone()),
        };
        record(
            &shared,
            &parameters,
            checked.as_ref().ok().map(|a| a.issued),
            upstream.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        match upstream {
            Ok((server, after_ok)) => {
                write_frame(&mut client, b'R', &authentication_request(AUTH_OK, &[])).await?;
                tokio::io::AsyncWriteExt::write_all(&mut client, &after_ok).await?;
                Ok((client, server))
            }
            Err(refusal) => {
                write_frame(&mut client, b'E', &refused(&shared.config.check, &user, &refusal)).await?;
                bail!("refused");
            }
        }
    })
    .await??;
    let (mut client, mut server) = login;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}

/// Checks the token with the gateway's clock and the tests' expiry rule.
fn check(shared: &Shared, token: &str, user: &str) -> Result<Accepted, Refusal> {
    let now = SystemTime::now() + *shared.skew.lock().unwrap();
    let accepted = match &shared.config.check {
        Check::RdsIam(iam) => iam.verify(token, &shared.config.host, shared.port, user, now)?,
        Check::Entra(entra) => entra.verify(token, user, now)?,
    };
    let not_before = *shared.not_before.lock().unwrap();
    if not_before.is_some_and(|instant| accepted.issued + Duration::from_secs(1) <= instant) {
        return Err(Refusal::Expired);
    }
    Ok(accepted)
}

fn record(shared: &Shared, parameters: &[u8], token_issued: Option<SystemTime>, outcome: Result<(), Refusal>) {
    let attempt = Attempt {
        user: parameter(parameters, "user").unwrap_or_default(),
        database: parameter(parameters, "database").unwrap_or_default(),
        token_issued,
        outcome,
    };
    shared.attempts.lock().unwrap().push(attempt);
}

/// The ErrorResponse the service sends for a refused token: RDS words it as a PAM failure.
fn refused(check: &Check, user: &str, refusal: &Refusal) -> Vec<u8> {
    if let Refusal::Upstream(message) = refusal {
        return error_response("FATAL", "28P01", message);
    }
    let message = match check {
        Check::RdsIam(_) => format!("PAM authentication failed for user \"{user}\""),
        Check::Entra(_) => format!("password authentication failed for user \"{user}\""),
    };
    error_response("FATAL", "28P01", &message)
}

type Upstream = tokio_rustls::client::TlsStream<TcpStream>;

/// Logs in to the stand-in as `user` with the real password: TLS, the client's startup parameters,
/// SCRAM-SHA-256. Returns the connection and the bytes the stand-in sent after `AuthenticationOk`
/// up to its first ReadyForQuery (parameter statuses, the key data), which belong to the client.
async fn login_upstream(
    shared: &Shared,
    connector: &TlsConnector,
    parameters: &[u8],
    user: &str,
) -> Result<(Upstream, Vec<u8>), Refusal> {
    let password = shared.config.logins.iter().find(|l| l.user == user).ok_or(Refusal::UnknownLogin)?.password.clone();
    let failed = |e: anyhow::Error| Refusal::Upstream(format!("the gateway could not reach the stand-in: {e:#}"));
    let mut tcp = TcpStream::connect(("127.0.0.1", shared.config.upstream_port)).await.map_err(|e| failed(e.into()))?;
    tokio::io::AsyncWriteExt::write_all(&mut tcp, &8u32.to_be_bytes()).await.map_err(|e| failed(e.into()))?;
    tokio::io::AsyncWriteExt::write_all(&mut tcp, &SSL_REQUEST.to_be_bytes()).await.map_err(|e| failed(e.into()))?;
    let answer = tokio::io::AsyncReadExt::read_u8(&mut tcp).await.map_err(|e| failed(e.into()))?;
    if answer != b'S' {
        return Err(failed(anyhow::anyhow!("the stand-in declined TLS")));
    }
    let name = ServerName::try_from("localhost").expect("a valid name");
    let mut server = connector.connect(name, tcp).await.map_err(|e| failed(e.into()))?;
    tokio::io::AsyncWriteExt::write_all(&mut server, &startup(parameters)).await.map_err(|e| failed(e.into()))?;
    let mut scram: Option<ScramSha256> = None;
    loop {
        let (tag, body) = read_frame(&mut server).await.map_err(failed)?;
        match (tag, authentication(&body)) {
            (b'R', Some((AUTH_OK, _))) => break,
            (b'R', Some((AUTH_SASL, data))) if sasl_mechanisms(data).iter().any(|m| m == SCRAM_SHA_256) => {
                let exchange = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
                let response = sasl_initial_response(SCRAM_SHA_256, exchange.message());
                write_frame(&mut server, b'p', &response).await.map_err(failed)?;
                scram = Some(exchange);
            }
            (b'R', Some((AUTH_SASL_CONTINUE, data))) => {
                let exchange = scram.as_mut().ok_or_else(|| failed(anyhow::anyhow!("SASL out of order")))?;
                exchange.update(data).map_err(|e| failed(e.into()))?;
                write_frame(&mut server, b'p', exchange.message()).await.map_err(failed)?;
            }
            (b'R', Some((AUTH_SASL_FINAL, data))) => {
                let exchange = scram.as_mut().ok_or_else(|| failed(anyhow::anyhow!("SASL out of order")))?;
                exchange.finish(data).map_err(|e| failed(e.into()))?;
            }
            (b'E', _) => return Err(Refusal::Upstream(error_fields(&body).0)),
            (tag, _) => return Err(failed(anyhow::anyhow!("unexpected '{}' during the login", char::from(tag)))),
        }
    }
    // What follows AuthenticationOk up to ReadyForQuery is the client's.
    let mut after_ok = Vec::new();
    loop {
        let (tag, body) = read_frame(&mut server).await.map_err(failed)?;
        after_ok.extend_from_slice(&frame(tag, &body));
        if tag == b'Z' || tag == b'E' {
            break;
        }
    }
    Ok((server, after_ok))
}
