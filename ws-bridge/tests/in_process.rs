//! The bridge as a library: `serve::run(listener, settings, shutdown)` in
//! the shape of mini-redis's `server::run`, started inside the test's own
//! runtime, answering over a real socket, and stopping when its shutdown
//! future completes.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use ws_bridge::serve::{self, ServeArgs};

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect to the bridge");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut response))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    response
}

#[tokio::test]
async fn a_bridge_runs_in_process_and_stops_when_told() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    let args = ServeArgs::from_flags(["--max-rcpts", "4"]).expect("flags");
    assert_eq!(args.max_rcpts, 4);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve::run(listener, args, async move {
        let _ = stopped.await;
    }));

    let health = get(addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // The API refuses in words, in-process as from a process.
    let refused = get(addr, "/api/check?host=127.0.0.1&port=25").await;
    assert!(refused.starts_with("HTTP/1.1 405"), "{refused}");

    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), server).await.expect("stops within 10 s");
    assert_eq!(result.expect("no panic"), Ok(()));
    assert!(TcpStream::connect(addr).await.is_err(), "nothing listens after shutdown");
}
