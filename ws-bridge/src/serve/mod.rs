//! `ws-bridge serve`: the page, the websocket bridge and the hosted API in
//! one program, in the manner of mini-redis: parse the settings, bind, run
//! until a shutdown signal, then let sessions say goodbye.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use clap::Args;
use relay_core::GuardLimits;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::resolve::Resolver;
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::store::{Rate, Store};
use app::App;
use lab::Lab;
use limits::{LimitConfig, Limits};
use policy::{AllowTarget, Cidr, Policy, DEFAULT_PORTS};

pub mod api;
pub mod app;
pub mod assets;
pub mod audit_socket;
pub mod cache;
pub mod destination;
pub mod lab;
pub mod limits;
pub mod metrics;
pub mod policy;
pub mod replies;
pub mod session;
pub mod ws;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address and port to listen on. Keep it on loopback behind a TLS reverse
    /// proxy when serving the internet (see docs/self-hosting.md).
    #[arg(long, default_value = "127.0.0.1:8025")]
    pub listen: SocketAddr,
    /// An origin allowed to open sessions (repeatable), e.g. https://relaycheck.example.
    /// Default: only the origin the page itself is served from.
    #[arg(long = "origin", value_name = "URL")]
    pub origins: Vec<String>,
    /// Open exactly this HOST:PORT whatever the policy says (repeatable); for tests.
    #[arg(long = "allow-target", value_name = "HOST:PORT")]
    pub allow_targets: Vec<AllowTarget>,
    /// An address block the bridge never connects to (repeatable), besides
    /// the private and reserved ranges and its own networks.
    #[arg(long = "deny", value_name = "CIDR")]
    pub deny: Vec<Cidr>,
    /// A NAT64 prefix (a /96) besides 64:ff9b::/96 (repeatable): the IPv4
    /// address it embeds is checked as if connected to.
    #[arg(long = "nat64-prefix", value_name = "CIDR")]
    pub nat64_prefixes: Vec<Cidr>,
    /// Serve /metrics on this address instead of the main listener.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<SocketAddr>,
    /// Destination ports sessions may reach.
    #[arg(long = "allow-port", value_name = "PORT", default_values_t = DEFAULT_PORTS)]
    pub allowed_ports: Vec<u16>,
    /// Start two demo mail servers on loopback (one closed, one an open relay)
    /// and allow exactly those, so the page shows both outcomes anywhere.
    #[arg(long)]
    pub lab: bool,
    /// DNS server to ask (IP:PORT) instead of the system's resolver.
    #[arg(long, value_name = "IP:PORT")]
    pub resolver: Option<SocketAddr>,
    /// Take the client's address from X-Forwarded-For, when the request
    /// comes from a trusted proxy (--trusted-proxy; loopback by default).
    #[arg(long)]
    pub behind_proxy: bool,
    /// A proxy whose X-Forwarded-For is believed (repeatable), as an address
    /// block such as 10.0.0.0/8; implies --behind-proxy. Default: loopback.
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxies: Vec<Cidr>,
    /// Sessions at once, from everyone.
    #[arg(long, default_value_t = LimitConfig::default().max_sessions)]
    pub max_sessions: usize,
    /// Sessions at once from one client address.
    #[arg(long, default_value_t = LimitConfig::default().max_sessions_per_ip)]
    pub max_sessions_per_ip: usize,
    /// New sessions per minute from one client address.
    #[arg(long, default_value_t = LimitConfig::default().connects_per_ip_per_minute)]
    pub connects_per_ip: u32,
    /// New connections per minute to one mail server address, from everyone.
    #[arg(long, default_value_t = LimitConfig::default().connects_per_destination_per_minute)]
    pub connects_per_destination: u32,
    /// Connections open at once to one mail server address (an IPv6 one by
    /// its /64), from everyone together. An audit opens up to 8 at once.
    #[arg(long, default_value_t = LimitConfig::default().max_connections_per_destination)]
    pub connections_per_destination: usize,
    /// Seconds a session may sit without SMTP bytes either way (websocket
    /// pings and text frames do not count).
    #[arg(long, default_value_t = LimitConfig::default().idle_timeout.as_secs())]
    pub idle_timeout: u64,
    /// Seconds a session may last in all.
    #[arg(long, default_value_t = LimitConfig::default().session_lifetime.as_secs())]
    pub session_lifetime: u64,
    /// Bytes a page may send toward the server in one session.
    #[arg(long, default_value_t = LimitConfig::default().max_bytes_up)]
    pub max_bytes_up: u64,
    /// Bytes the server may send toward the page in one session.
    #[arg(long, default_value_t = LimitConfig::default().max_bytes_down)]
    pub max_bytes_down: u64,
    /// Largest websocket frame accepted, in bytes.
    #[arg(long, default_value_t = LimitConfig::default().max_frame)]
    pub max_frame: usize,
    /// RCPT commands a page may send in one session.
    #[arg(long, default_value_t = GuardLimits::default().max_rcpts)]
    pub max_rcpts: u32,
    /// An outside domain of yours with a working MX: a hosted audit asks a
    /// probe again at it when the server refuses the recipient's domain
    /// before it judges relaying (the reserved example domains publish a
    /// null MX). Nothing is ever sent there: no probe goes past RCPT.
    #[arg(long, value_name = "DOMAIN")]
    pub probe_domain: Option<String>,
    /// Seconds to wait for a connection or a reply (hosted audits too).
    #[arg(long, default_value_t = 20)]
    pub timeout: u64,
    /// Share the per-destination limits, the result cache and the opt-out
    /// list with the other bridges of a fleet through this Redis
    /// (redis://HOST:PORT). Default: this bridge's own memory.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// Bridges in the fleet: while Redis cannot be reached, each bridge holds
    /// every destination to its limits divided by this.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub fleet_size: u32,
    /// A file of domains and address blocks whose owners asked not to be
    /// tested, one a line (managed with `ws-bridge optout --file`); read at
    /// every audit, so changes hold at once.
    #[arg(long, value_name = "PATH")]
    pub optout_file: Option<std::path::PathBuf>,
    /// Seconds a hosted audit's result is answered from the cache, for the
    /// same server, port and options (0: no cache).
    #[arg(long, default_value_t = 600)]
    pub cache_ttl: u64,
    /// Fresh runs (`"fresh": true`) per hour of one mail server whose result
    /// is in the cache, from everyone.
    #[arg(long, default_value_t = 6)]
    pub fresh_per_destination: u32,
}

pub fn router(app: Arc<App>) -> Router {
    let router = if app.metrics_on_main {
        Router::new().route("/metrics", get(crate::serve::api::metrics))
    } else {
        Router::new()
    };
    router
        .route(relay_core::wire::WS_PATH, get(crate::serve::ws::upgrade))
        .route(relay_core::wire::audit_socket::AUDIT_WS_PATH, get(crate::serve::audit_socket::upgrade))
        .route("/api/check", post(crate::serve::api::check).get(crate::serve::api::check_get))
        .route("/api/mx", get(crate::serve::api::mx))
        .route("/api/lab", get(crate::serve::api::lab))
        .route("/healthz", get(crate::serve::api::healthz))
        .fallback(crate::serve::assets::serve)
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&app), check_host))
        .with_state(app)
}

/// Answers only requests whose Host names this bridge (see
/// [`App::host_allowed`]); `/healthz` answers whatever a probe calls it.
async fn check_host(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if request.uri().path() == "/healthz" || app.host_allowed(request.headers()) {
        return next.run(request).await;
    }
    let code = relay_core::ErrorCode::HostNotAllowed;
    crate::serve::api::refuse(
        &app,
        code,
        "This bridge answers only to an IP address, localhost, or the names of the origins it was set up for (--origin).",
    )
}

/// `ws-bridge serve` from the command line: binds `--listen` and runs until
/// SIGINT or SIGTERM.
pub async fn main(args: ServeArgs) -> Result<(), String> {
    let listener = listen(args.listen).map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    run(listener, args, shutdown_signal()).await
}

/// Serves on `listener` with these settings until `shutdown` completes, then
/// lets running sessions send their closing event and stops the lab. Tests
/// call it in-process, with a listener on `127.0.0.1:0` and a shutdown future
/// of their own, as mini-redis's `server::run` is called.
pub async fn run(
    listener: TcpListener,
    args: ServeArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let metrics_listener = match args.metrics_listen {
        Some(addr) => Some(listen(addr).map_err(|e| format!("cannot listen on {addr} for metrics: {e}"))?),
        None => None,
    };
    let (app, lab) = build_app(args, shutdown_rx.clone()).await?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // On stdout for people and scripts; logs go to stderr.
    println!("relaycheck is serving http://{local}/");
    if let Some(lab) = &lab {
        println!("lab: a closed mail server at {} and an open relay at {}", lab.closed.addr, lab.open.addr);
    }
    // After the lab's line: scripts read the first lines in this order.
    if let Some(metrics) = metrics_listener {
        let addr = metrics.local_addr().map_err(|e| e.to_string())?;
        println!("metrics: http://{addr}/metrics");
        let metrics_router =
            Router::new().route("/metrics", get(crate::serve::api::metrics)).with_state(Arc::clone(&app));
        let mut stop = shutdown_rx.clone();
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            let _ = axum::serve(metrics, metrics_router).with_graceful_shutdown(stopped).await;
        });
    }
    serve(listener, app, async move {
        shutdown.await;
        let _ = shutdown_tx.send(true);
    })
    .await?;
    if let Some(lab) = lab {
        let _ = tokio::time::timeout(Duration::from_secs(3), lab.stopped()).await;
    }
    tracing::info!("relaycheck bridge stopped");
    Ok(())
}

/// Binds with a deep accept queue: a page opens several websockets at once,
/// and with many pages a short queue drops connections, which clients then
/// retry only after seconds (the kernel caps it at net.core.somaxconn).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Serves until `shutdown` completes, then gives running sessions a moment
/// to send their closing event.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let limits = Arc::clone(&app.limits);
    let service = router(app).into_make_service_with_connect_info::<SocketAddr>();
    // Each SMTP reply is a small websocket frame, written as it comes: with
    // Nagle's algorithm on, the kernel held one back until the page's ACK,
    // which a browser delays up to 40 ms.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await.map_err(|e| e.to_string())?;
    // Upgraded websockets outlive the HTTP server; each has seen the
    // shutdown flag and is closing with an event. An audit socket outlives
    // its connections' sessions: it still has their closing events to send.
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while limits.active_sessions() + limits.active_sockets() > 0 && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The shared state, and the lab when `--lab` asked for one.
pub async fn build_app(args: ServeArgs, shutdown: watch::Receiver<bool>) -> Result<(Arc<App>, Option<Lab>), String> {
    if let Some(domain) = args.probe_domain.as_deref().filter(|d| !relay_core::config::is_domain(d)) {
        return Err(format!("--probe-domain {domain:?} is not a domain name (such as probes.example.org)"));
    }
    let mut allow_targets = args.allow_targets;
    let lab = if args.lab {
        let lab = Lab::start(shutdown.clone()).await.map_err(|e| format!("cannot start the lab: {e}"))?;
        for server in [&lab.closed, &lab.open] {
            allow_targets.push(AllowTarget::exact(server.addr));
        }
        tracing::info!(closed = %lab.closed.addr, open = %lab.open.addr, "lab mail servers started");
        Some(lab)
    } else {
        None
    };
    let timeout = Duration::from_secs(args.timeout.max(1));
    let resolver = Resolver::new(args.resolver, timeout).map_err(|e| format!("cannot set up DNS: {e}"))?;
    let store: Arc<dyn Store> = match &args.redis {
        Some(url) => {
            let store = RedisStore::connect(url, args.fleet_size).map_err(|e| e.to_string())?;
            // An early answer, so that /healthz and the log say at once
            // whether Redis is there; a Redis that is not is waited for.
            match store.optout_list().await {
                Ok(list) => {
                    tracing::info!(redis = %url, optouts = list.len(), "sharing limits, cache and opt-outs through redis")
                }
                Err(e) => tracing::warn!(error = %e, "redis does not answer yet: local limits until it does"),
            }
            Arc::new(store)
        }
        None => Arc::new(MemoryStore::new()),
    };
    if let Some(path) = &args.optout_file {
        crate::store::optout::read_file(path).map_err(|e| e.to_string())?;
    }
    let limits = Limits::with_store(
        LimitConfig {
            max_sessions: args.max_sessions,
            max_sessions_per_ip: args.max_sessions_per_ip,
            connects_per_ip_per_minute: args.connects_per_ip,
            connects_per_destination_per_minute: args.connects_per_destination,
            max_connections_per_destination: args.connections_per_destination,
            idle_timeout: Duration::from_secs(args.idle_timeout),
            session_lifetime: Duration::from_secs(args.session_lifetime),
            max_bytes_up: args.max_bytes_up,
            max_bytes_down: args.max_bytes_down,
            max_frame: args.max_frame,
        },
        store,
    );
    // An --allow-target name is opened at the addresses it has now, never
    // at whatever it points to later.
    for target in allow_targets.iter_mut().filter(|t| t.addrs.is_empty()) {
        target.addrs = resolver
            .lookup_ip(&target.host)
            .await
            .map_err(|e| format!("cannot resolve --allow-target {target}: {e}"))?;
    }
    if let Some(bad) = args.nat64_prefixes.iter().find(|c| c.len != 96 || c.net.is_ipv4()) {
        return Err(format!("--nat64-prefix {bad}: only IPv6 /96 prefixes are supported"));
    }
    let lab_targets = lab.iter().flat_map(|l| [&l.closed, &l.open]).map(|s| (s.policy, s.addr)).collect();
    let app = Arc::new(App {
        policy: Policy {
            allowed_ports: args.allowed_ports,
            allow_targets,
            deny: args.deny,
            own_networks: crate::serve::policy::own_networks(),
            nat64_prefixes: args.nat64_prefixes,
        },
        limits,
        metrics: Default::default(),
        resolver,
        origins: args.origins,
        metrics_on_main: args.metrics_listen.is_none(),
        behind_proxy: args.behind_proxy || !args.trusted_proxies.is_empty(),
        trusted_proxies: if args.trusted_proxies.is_empty() { Cidr::loopback() } else { args.trusted_proxies },
        connect_timeout: timeout,
        reply_timeout: timeout,
        probe_domain: args.probe_domain,
        guard_limits: GuardLimits { max_rcpts: args.max_rcpts, ..GuardLimits::default() },
        shutdown,
        lab_targets,
        optout_file: args.optout_file,
        cache_ttl: Duration::from_secs(args.cache_ttl),
        fresh_rate: Rate { count: args.fresh_per_destination, period: Duration::from_secs(3600) },
    });
    Ok((app, lab))
}

impl ServeArgs {
    /// The settings that these command-line flags give (`--listen` is
    /// ignored by [`run`], which is handed its listener).
    pub fn from_flags<'a>(flags: impl IntoIterator<Item = &'a str>) -> Result<ServeArgs, clap::Error> {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            args: ServeArgs,
        }
        use clap::Parser;
        Flags::try_parse_from(std::iter::once("serve").chain(flags)).map(|f| f.args)
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down: closing sessions");
}
