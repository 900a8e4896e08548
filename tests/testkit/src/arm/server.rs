//! The fake ARM's listener: TLS (rustls, HTTP/1.1) on a loopback port, one task per connection, all of
//! them owned by the accept loop so aborting it closes every open connection too.

use super::{Shared, routes};
use crate::tls::CertAuthority;
use anyhow::{Context, Result};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

pub(crate) fn tls_acceptor(authority: &CertAuthority) -> Result<TlsAcceptor> {
    let certificates = CertificateDer::pem_slice_iter(authority.leaf_cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("reading the fake ARM's certificate")?;
    let key = PrivateKeyDer::from_pem_slice(authority.leaf_key_pem.as_bytes()).context("reading the fake ARM's key")?;
    // The provider is named rather than taken from the process default, which another test may not set.
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certificates, key)
            .context("building the fake ARM's TLS configuration")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

pub(crate) async fn serve(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _peer)) = accepted else { continue };
                let (acceptor, shared) = (acceptor.clone(), shared.clone());
                connections.spawn(async move {
                    // A client that gives up during the handshake is its own business.
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = service_fn(move |request| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(routes::handle(shared, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
            // Reap finished connections so the set does not grow for the life of a long test.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
