//! PostgreSQL connections to the Aurora writer and the flexible server, and what reaching them tells us.
//!
//! Every connection uses TLS unless the spec says `sslmode = "disable"`, which is honoured only for a
//! loopback host: migprep never falls back to plain text on its own. `verify-full`, the default, checks
//! the chain against the platform's roots plus the extra CA bundle, and the host name. `require` encrypts
//! without checking the certificate (libpq's meaning), so the server may be anyone: the driver is told to
//! require channel binding, and refuses a cleartext or MD5 password request, or SCRAM without `-PLUS`,
//! before sending anything. Passwords go to the driver and nowhere else; a token login gets a token of its
//! own for each connection ([`Password`]). Failures are classified
//! (refused, timeout, authentication, TLS, no channel binding) so the plan can say what to do about each.

mod password;
mod pool;

pub use password::{Mint, MintError, Password, TokenKind};
pub use pool::Pool;

use crate::tls::SslMode;
use crate::tls::{Trust, is_loopback_host};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::config::ChannelBinding;
use tokio_postgres::error::SqlState;

pub use crate::model::endpoints::Side;

/// Everything needed to open one connection.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub side: Side,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub database: String,
    pub password: Password,
    pub sslmode: SslMode,
}

impl Endpoint {
    /// `host:port` for messages, with IPv6 hosts bracketed.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// What a successful connection reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reachability {
    /// `server_version`, e.g. `15.4`.
    pub server_version: String,
    /// `server_version_num`, e.g. `150004`.
    pub server_version_num: u32,
    /// The TLS protocol in use (`TLSv1.3`), or `None` for plain text.
    pub tls: Option<String>,
}

/// Why a connection failed, classified so each gets its own remedy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("plain text to {host} is refused: sslmode = \"disable\" is allowed only for loopback hosts")]
    PlainTextNotAllowed { host: String },
    #[error("cannot resolve host {host}: {detail}")]
    Resolve { host: String, detail: String },
    #[error("connection refused at {address}")]
    Refused { address: String },
    #[error("no answer from {address} within {seconds} s")]
    Timeout { address: String, seconds: u64 },
    #[error("{}", refused_login(.user, *.token))]
    AuthFailed { user: String, token: Option<TokenKind> },
    #[error("cannot get {} for user {user:?} at {address}: {detail}", .kind.name())]
    Token { kind: TokenKind, user: String, address: String, detail: String, hint: Option<String> },
    #[error("the server refused a plain-text connection (it requires TLS): {server_message}")]
    TlsRequired { server_message: String },
    #[error("TLS handshake with {address} failed: {detail}")]
    Tls { address: String, detail: String },
    #[error(
        "{address} did not offer SCRAM with channel binding; with sslmode = \"require\" migprep sends no password without it"
    )]
    NoChannelBinding { address: String },
    #[error("the server refused the login: {server_message} (SQLSTATE {sqlstate})")]
    Rejected { sqlstate: String, server_message: String },
    #[error("connection to {address} failed: {detail}")]
    Other { address: String, detail: String },
}

impl ConnectError {
    /// What the user can do about it.
    pub fn hint(&self, side: Side) -> String {
        let key = format!("{}.connection", side.name());
        match self {
            ConnectError::PlainTextNotAllowed { .. } => format!("remove {key}.sslmode to use \"verify-full\" (the default)"),
            ConnectError::Resolve { .. } => format!("check {key}.host (or the endpoint the cloud API reports)"),
            ConnectError::Refused { .. } => {
                format!("check {key}.host and port, that the server runs, and that its firewall or security group admits this machine")
            }
            ConnectError::Timeout { .. } => "check network reachability: security groups, firewall rules, VPN or private endpoint".into(),
            ConnectError::AuthFailed { token: None, .. } => {
                format!("check {key}.user and the password source in {key}.password")
            }
            ConnectError::AuthFailed { token: Some(TokenKind::RdsIam), user } => format!(
                "for an IAM login the cluster needs IAM database authentication enabled, the user the rds_iam role \
                 (GRANT rds_iam TO {user:?}), and the AWS identity rds-db:connect on dbuser:<cluster resource id>/{user}"
            ),
            ConnectError::AuthFailed { token: Some(TokenKind::Entra), .. } => format!(
                "for an Entra login the server needs Microsoft Entra authentication enabled and {key}.user must be the \
                 name of a role created for this identity (pgaadauth_create_principal)"
            ),
            ConnectError::Token { hint: Some(hint), .. } => hint.clone(),
            ConnectError::Token { kind: TokenKind::RdsIam, .. } => {
                "check the AWS credentials: the token is signed with the same ones as the RDS calls".into()
            }
            ConnectError::Token { kind: TokenKind::Entra, .. } => {
                "check the Azure credential: the token comes from the same identity as the ARM calls".into()
            }
            ConnectError::TlsRequired { .. } => {
                format!("remove {key}.sslmode to use \"verify-full\" (the default), with the server's CA in ca_file")
            }
            ConnectError::Tls { detail, .. } if detail.contains("NotValidForName") || detail.contains("not valid for name") => {
                format!("set {key}.host to a name the server's certificate covers (an endpoint name, not an IP address)")
            }
            ConnectError::Tls { .. } => match side {
                Side::Source => AURORA_CA.into(),
                Side::Target => {
                    "with verify-full, add the server's CA to ca_file (or MIGPREP_CA_FILE); check the host name matches the certificate".into()
                }
            },
            ConnectError::NoChannelBinding { .. } => match side {
                Side::Source => format!("remove {key}.sslmode to use verify-full: {AURORA_CA}"),
                Side::Target => {
                    format!("remove {key}.sslmode to use verify-full, adding the server's CA to ca_file if the platform does not trust it")
                }
            },
            ConnectError::Rejected { .. } => format!("check pg_hba / firewall rules for {key}.user and the database"),
            ConnectError::Other { .. } => "run with -v for details".into(),
        }
    }
}

fn refused_login(user: &str, token: Option<TokenKind>) -> String {
    match token {
        None => format!("password authentication failed for user {user:?}"),
        Some(kind) => format!("the server refused {} for user {user:?}", kind.name()),
    }
}

/// How to make an Aurora writer's certificate verifiable: its CA is AWS's own, which platforms do not ship.
const AURORA_CA: &str = "download AWS's RDS CA bundle (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem) and set ca_file to it in the spec (or append it to the ca_file you have)";

/// How long to wait for a server to answer before calling it unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The databases a user could migrate: not templates, not the maintenance or RDS's own.
pub async fn user_databases(client: &tokio_postgres::Client) -> Result<Vec<String>, String> {
    let rows = client
        .query(
            "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn \
             AND datname NOT IN ('postgres', 'rdsadmin', 'azure_maintenance', 'azure_sys') ORDER BY datname",
            &[],
        )
        .await
        .map_err(|e| sql_error("listing the databases", e))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Opens a connection. The connection task is spawned on the current runtime and ends with the client.
pub async fn connect(
    endpoint: &Endpoint,
    trust: &Trust,
    timeout: Duration,
) -> Result<tokio_postgres::Client, ConnectError> {
    let password =
        endpoint.password.for_connection(&endpoint.host, endpoint.port, &endpoint.user).await.map_err(|e| {
            ConnectError::Token {
                kind: endpoint.password.token_kind().unwrap_or(TokenKind::RdsIam),
                user: endpoint.user.clone(),
                address: endpoint.address(),
                detail: e.detail,
                hint: e.hint,
            }
        })?;
    let mut config = tokio_postgres::Config::new();
    config
        .host(&endpoint.host)
        .port(endpoint.port)
        .user(&endpoint.user)
        .password(password.expose())
        .dbname(&endpoint.database)
        .application_name("migprep")
        .connect_timeout(timeout);

    let attempt = async {
        // Resolve first so a wrong host name is reported as such, not as a generic I/O failure.
        let _resolved = tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|e| ConnectError::Resolve { host: endpoint.host.clone(), detail: e.to_string() })?;
        match endpoint.sslmode {
            SslMode::Disable => {
                if !is_loopback_host(&endpoint.host) {
                    return Err(ConnectError::PlainTextNotAllowed { host: endpoint.host.clone() });
                }
                config.ssl_mode(tokio_postgres::config::SslMode::Disable);
                let (client, connection) =
                    config.connect(tokio_postgres::NoTls).await.map_err(|e| classify(&e, endpoint))?;
                tokio::spawn(connection);
                Ok(client)
            }
            SslMode::Require | SslMode::VerifyFull => {
                config.ssl_mode(tokio_postgres::config::SslMode::Require);
                let tls_config = match endpoint.sslmode {
                    SslMode::VerifyFull => trust.verifying_config_with(crate::tls::postgres_provider()),
                    _ => {
                        // An unverified server gets no password and no MD5 hash, only SCRAM bound to this
                        // TLS session, which it cannot relay to the real server. (Not for verify-full: Aurora
                        // often keeps md5 passwords, fine over a verified channel.)
                        config.channel_binding(ChannelBinding::Require);
                        encrypt_only_config()
                    }
                };
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config);
                let (client, connection) = config.connect(tls).await.map_err(|e| classify(&e, endpoint))?;
                tokio::spawn(connection);
                Ok(client)
            }
        }
    };
    // The driver's own timeout covers the TCP connect; this one also covers a server that accepts the
    // socket and then says nothing.
    match tokio::time::timeout(timeout + Duration::from_secs(1), attempt).await {
        Ok(result) => result,
        Err(_) => Err(ConnectError::Timeout { address: endpoint.address(), seconds: timeout.as_secs() }),
    }
}

/// Connects and reads the server version and the TLS protocol in use: the N1 observation, on a
/// connection of its own.
pub async fn probe(endpoint: &Endpoint, trust: &Trust, timeout: Duration) -> Result<Reachability, ConnectError> {
    let client = connect(endpoint, trust, timeout).await?;
    reachability(&client).await.map_err(|e| classify(&e, endpoint))
}

/// [`probe`] on the pool's shared connection to its main database.
pub async fn reach(pool: &Pool) -> Result<Reachability, ConnectError> {
    let client = pool.main().await?;
    reachability(&client).await.map_err(|e| classify(&e, pool.endpoint()))
}

async fn reachability(client: &tokio_postgres::Client) -> Result<Reachability, tokio_postgres::Error> {
    let row = client
        .query_typed_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int,
                    (SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl)",
            &[],
        )
        .await?;
    let version_num: i32 = row.get(1);
    Ok(Reachability {
        server_version: row.get::<_, String>(0).split_whitespace().next().unwrap_or_default().to_string(),
        server_version_num: version_num.max(0) as u32,
        tls: row.get(2),
    })
}

/// A failed statement as one line: what was being done, the server's message and its SQLSTATE.
pub fn sql_error(what: &str, error: tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{what}: {} (SQLSTATE {})", db.message(), db.code().code()),
        None => format!("{what}: {error}"),
    }
}

fn classify(error: &tokio_postgres::Error, endpoint: &Endpoint) -> ConnectError {
    if let Some(db) = error.as_db_error() {
        let code = db.code();
        if *code == SqlState::INVALID_PASSWORD {
            return ConnectError::AuthFailed { user: endpoint.user.clone(), token: endpoint.password.token_kind() };
        }
        if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION && endpoint.sslmode == SslMode::Disable {
            return ConnectError::TlsRequired { server_message: db.message().to_string() };
        }
        return ConnectError::Rejected { sqlstate: code.code().to_string(), server_message: db.message().to_string() };
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return ConnectError::Tls { address: endpoint.address(), detail: tls.to_string() };
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                return ConnectError::Tls { address: endpoint.address(), detail: tls.to_string() };
            }
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => ConnectError::Refused { address: endpoint.address() },
                std::io::ErrorKind::TimedOut => {
                    ConnectError::Timeout { address: endpoint.address(), seconds: CONNECT_TIMEOUT.as_secs() }
                }
                _ => ConnectError::Other { address: endpoint.address(), detail: io.to_string() },
            };
        }
        source = cause.source();
    }
    let detail = crate::error::chain(error);
    // tokio-postgres's own words when channel binding is required and the server asks for anything else.
    if endpoint.sslmode == SslMode::Require && detail.contains("did not use channel binding") {
        return ConnectError::NoChannelBinding { address: endpoint.address() };
    }
    if endpoint.sslmode != SslMode::Disable && detail.contains("TLS") {
        return ConnectError::Tls { address: endpoint.address(), detail };
    }
    ConnectError::Other { address: endpoint.address(), detail }
}

/// TLS that encrypts but does not authenticate the server, as libpq's `sslmode=require`. The handshake
/// signatures are still checked, so the session keys belong to whoever holds the presented certificate.
fn encrypt_only_config() -> rustls::ClientConfig {
    let provider = crate::tls::postgres_provider();
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the default provider supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
        .with_no_client_auth()
}

#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The groups of the key shares in a TLS ClientHello record (RFC 8446 §4.1.2 and §4.2.8).
    fn key_share_groups(record: &[u8]) -> Vec<u16> {
        let u16_at = |i: usize| u16::from_be_bytes([record[i], record[i + 1]]);
        // Record header (5), handshake header (4), version (2), random (32).
        let mut at = 5 + 4 + 2 + 32;
        at += 1 + usize::from(record[at]); // session id
        at += 2 + usize::from(u16_at(at)); // cipher suites
        at += 1 + usize::from(record[at]); // compression methods
        let end = at + 2 + usize::from(u16_at(at));
        at += 2;
        while at < end {
            let (kind, length) = (u16_at(at), usize::from(u16_at(at + 2)));
            if kind == 0x0033 {
                let (mut share, shares_end) = (at + 6, at + 6 + usize::from(u16_at(at + 4)));
                let mut groups = Vec::new();
                while share < shares_end {
                    groups.push(u16_at(share));
                    share += 4 + usize::from(u16_at(share + 2));
                }
                return groups;
            }
            at += 4 + length;
        }
        Vec::new()
    }

    /// PostgreSQL up to 17 takes one ECDH group, P-256 unless `ssl_ecdh_curve` says otherwise: a first
    /// key share for anything else costs every connection a HelloRetryRequest, one round trip more.
    #[tokio::test]
    async fn the_first_key_share_is_the_one_postgresql_takes() {
        for sslmode in [SslMode::VerifyFull, SslMode::Require] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut ssl_request = [0u8; 8];
                socket.read_exact(&mut ssl_request).await.unwrap();
                assert_eq!(ssl_request, [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f], "an SSLRequest");
                socket.write_all(b"S").await.unwrap();
                let mut header = [0u8; 5];
                socket.read_exact(&mut header).await.unwrap();
                let mut record = header.to_vec();
                record.resize(5 + usize::from(u16::from_be_bytes([header[3], header[4]])), 0);
                socket.read_exact(&mut record[5..]).await.unwrap();
                key_share_groups(&record)
            });
            let endpoint = Endpoint {
                side: Side::Source,
                host: "127.0.0.1".into(),
                port,
                user: "migprep".into(),
                database: "postgres".into(),
                password: Password::Fixed(crate::secret::Secret::new("never sent")),
                sslmode,
            };
            let trust = Trust::load(None).unwrap();
            // The listener hangs up after the ClientHello, so the connection fails; only what it sent counts.
            let _ = connect(&endpoint, &trust, Duration::from_secs(5)).await;
            let groups = server.await.unwrap();
            assert_eq!(
                groups.first(),
                Some(&0x0017),
                "{sslmode:?}: key shares for groups {groups:04x?}, not P-256 first"
            );
        }
    }

    #[test]
    fn an_untrusted_aurora_certificate_points_at_the_rds_bundle() {
        let error =
            ConnectError::Tls { address: "a:5432".into(), detail: "invalid peer certificate: UnknownIssuer".into() };
        let hint = error.hint(Side::Source);
        assert!(hint.contains("https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"), "{hint}");
        assert!(hint.contains("ca_file") && !hint.contains('\n'), "{hint}");
        assert!(!error.hint(Side::Target).contains("rds.amazonaws.com"));
        let wrong_name = ConnectError::Tls {
            address: "a:5432".into(),
            detail: "certificate not valid for name \"10.0.0.5\"".into(),
        };
        assert!(wrong_name.hint(Side::Source).starts_with("set source.connection.host"));
    }

    #[test]
    fn no_channel_binding_points_at_verify_full() {
        let error = ConnectError::NoChannelBinding { address: "a:5432".into() };
        assert!(error.to_string().contains("sslmode = \"require\""), "{error}");
        for side in [Side::Source, Side::Target] {
            let hint = error.hint(side);
            assert!(hint.contains("verify-full") && hint.contains("ca_file"), "{hint}");
        }
    }
}
