//! A loopback TCP proxy that puts network latency between a client and a local server, so PostgreSQL
//! connections can be slowed down the way the RDS and ARM stand-ins slow down their requests.
//!
//! The latency is a round trip: each direction delays every chunk it forwards by half of it, as a delay
//! line (chunks keep their order and are not delayed one after another), so one request and its answer
//! cost the latency, as one RDS or ARM request does. The TCP handshake is a round trip of its own: nothing
//! the client sends reaches the server before one latency after the connection was accepted, plus the half
//! way there. TLS passes through untouched (the proxy only sees bytes), so certificates still name the
//! server the client thinks it talks to, `127.0.0.1`.
//!
//! The proxy counts the connections it accepted: the number of PostgreSQL connections a run opened.

use anyhow::{Context, Result};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A running proxy from `127.0.0.1:port()` to `127.0.0.1:<upstream>`. Stops when dropped.
pub struct DelayProxy {
    port: u16,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    upstream: u16,
    /// The round-trip latency in microseconds; read once per connection, when it is accepted.
    latency_us: AtomicU64,
    connections: AtomicUsize,
}

impl DelayProxy {
    /// Listens on a free loopback port and forwards every connection to `127.0.0.1:upstream`.
    pub async fn start(upstream: u16) -> Result<Self> {
        Self::start_at(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), upstream).await
    }

    /// Listens on `address` (e.g. a loopback address of its own on a well-known port) and forwards every
    /// connection to `127.0.0.1:upstream`.
    pub async fn start_at(address: std::net::SocketAddr, upstream: u16) -> Result<Self> {
        let listener =
            TcpListener::bind(address).await.with_context(|| format!("binding the delay proxy to {address}"))?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared { upstream, latency_us: AtomicU64::new(0), connections: AtomicUsize::new(0) });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Self { port, shared, task })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The round-trip latency for connections accepted from now on.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.latency_us.store(latency.as_micros() as u64, Ordering::Relaxed);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        shared.connections.fetch_add(1, Ordering::Relaxed);
        let latency = Duration::from_micros(shared.latency_us.load(Ordering::Relaxed));
        let upstream = shared.upstream;
        tokio::spawn(async move {
            // The upstream is local: connecting costs nothing, the handshake's round trip is modelled by
            // holding back what the client sends (see `forward`).
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let accepted = Instant::now();
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            let half = latency / 2;
            // Client to server: not before the handshake's round trip plus the half way there.
            let up = forward(client_read, server_write, half, accepted + latency + half);
            let down = forward(server_read, client_write, half, accepted);
            tokio::join!(up, down);
        });
    }
}

/// Copies `from` to `to`, each chunk `delay` after it was read and not before `not_before`, as a delay
/// line: a reader queues chunks with their due time, a writer sends them when due. EOF is passed on (as a
/// shutdown of the write half) with the same delay.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    not_before: Instant,
) {
    let (queue, mut due) = mpsc::unbounded_channel::<(Instant, Option<Bytes>)>();
    let reader = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = from.read(&mut buffer).await;
            let at = (Instant::now() + delay).max(not_before);
            match read {
                Ok(0) | Err(_) => {
                    let _ = queue.send((at, None));
                    break;
                }
                Ok(n) => {
                    if queue.send((at, Some(Bytes::copy_from_slice(&buffer[..n])))).is_err() {
                        break;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            match chunk {
                Some(bytes) => {
                    if to.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                None => {
                    let _ = to.shutdown().await;
                    break;
                }
            }
        }
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server behind the proxy: one exchange costs the handshake plus one round trip.
    #[tokio::test]
    async fn a_round_trip_costs_the_latency() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = echo.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 16];
                    while let Ok(n) = socket.read(&mut buffer).await {
                        if n == 0 || socket.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let proxy = DelayProxy::start(upstream).await.unwrap();
        proxy.set_latency(Duration::from_millis(40));
        let started = std::time::Instant::now();
        let mut client = TcpStream::connect(("127.0.0.1", proxy.port())).await.unwrap();
        for _ in 0..2 {
            client.write_all(b"ping").await.unwrap();
            let mut answer = [0u8; 4];
            client.read_exact(&mut answer).await.unwrap();
            assert_eq!(&answer, b"ping");
        }
        // Handshake plus two round trips: at least 120 ms (no upper bound: the machine may be busy).
        assert!(started.elapsed() >= Duration::from_millis(120), "{:?}", started.elapsed());
        assert_eq!(proxy.connections(), 1);
    }
}
