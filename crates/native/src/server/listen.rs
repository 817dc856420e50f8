//! The accept loop: each connection served as HTTP/1.1 by hyper with a deadline for its request
//! headers, which `axum::serve` does not set (hyper's `header_read_timeout` needs a timer, and
//! axum gives it none), so a client that never finishes its headers would hold its connection
//! and task for ever. Bodies get their own deadline in the routes (`read_body_within`).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};

/// Connections the kernel queues for `accept` (it caps this at `net.core.somaxconn`). Tokio's
/// `TcpListener::bind` asks for 128: a burst of more new connections than that between two
/// accepts drops SYNs, and each dropped client waits a full second for its retry.
const ACCEPT_BACKLOG: u32 = 4096;

/// Listens on `addr` with [`ACCEPT_BACKLOG`] (and `SO_REUSEADDR`, as `TcpListener::bind` sets, so a
/// restart does not wait for the old connections' TIME_WAIT).
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets the
/// requests in flight finish (idle keep-alive connections are closed), and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // the listener itself is fine; wait a moment rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client gone mid-request, or headers too slow: nothing to answer.
            let _ = connection.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;
    use std::time::Duration;

    /// More connections than Tokio's default backlog of 128 complete their handshake while
    /// nothing accepts (as between two accepts under a burst); with 128, the 130th SYN is
    /// dropped and its connect waits a second for the retry.
    #[test]
    fn a_burst_of_connections_waits_in_the_accept_queue() {
        const BURST: usize = 600;
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(usize::MAX);
        if somaxconn < BURST {
            eprintln!("skipped: net.core.somaxconn is {somaxconn}, below {BURST}");
            return;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let _guard = runtime.enter();
        let listener = super::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        // Held until the end, so every connection stays in the queue.
        let mut held = Vec::with_capacity(BURST);
        for i in 0..BURST {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                Ok(stream) => held.push(stream),
                Err(e) => panic!("connection {i} of {BURST} not queued: {e}"),
            }
        }
    }
}
