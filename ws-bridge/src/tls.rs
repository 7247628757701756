//! TLS toward a mail server, and the facts read off it.
//!
//! The bridge and `check` speak TLS themselves (after `STARTTLS` → `220`, or
//! from the first byte on port 465); the page never does, so that the guard
//! keeps reading every command in plain text (docs/architecture.md, "The bridge's
//! policy").
//!
//! An audit must go on whatever the certificate is like: a relay that only
//! opens after STARTTLS is as open with a self-signed certificate as with a
//! good one. So the verifier here asks rustls's own WebPKI verifier (Mozilla's
//! roots from webpki-roots, never the machine's store) for its verdict,
//! records it, and lets the handshake proceed regardless. The verdict and the
//! chain become [`TlsFacts`]; what went wrong becomes a sentence.
//!
//! Memory stays bounded: rustls caps records and handshake messages, at most
//! [`MAX_CHAIN`] certificates and [`MAX_NAMES`] names each are described, and
//! only the first [`FIRST_BYTES`] bytes the server sent are kept, to quote
//! them when they were not TLS.

use std::fmt::Write as _;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use relay_core::tls::{CertificateFacts, TlsFacts, TlsFailure};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// At most this many certificates of a chain are described (real chains
/// have two to four; the rest is cut, not parsed).
pub const MAX_CHAIN: usize = 8;
/// At most this many names of one certificate are listed.
pub const MAX_NAMES: usize = 50;
/// How many of the server's first bytes are kept, to quote them when they
/// are not TLS.
pub const FIRST_BYTES: usize = 64;

/// A TLS connection to a mail server, as [`handshake`] returns it.
pub type TlsStream<S> = tokio_rustls::client::TlsStream<Watched<S>>;

/// How the connection comes to TLS; the words of a failure differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// After the server's `220` to `STARTTLS`.
    StartTls,
    /// From the first byte (port 465, RFC 8314), before any banner.
    Implicit,
}

/// Moves `stream` into TLS: after the server answered `220` to `STARTTLS`,
/// or on a freshly connected stream for implicit TLS. `server_name` is the
/// host that was asked for (the MX name; an address when the user gave
/// one): it goes in SNI and the certificate is checked against it. The
/// whole handshake gets `timeout`.
pub async fn handshake<S>(
    stream: S,
    server_name: &str,
    timeout: Duration,
    start: Start,
) -> Result<(TlsStream<S>, TlsFacts), TlsFailure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    run(stream, server_name, timeout, start).await
}

async fn run<S>(
    stream: S,
    server_name: &str,
    timeout: Duration,
    start: Start,
) -> Result<(TlsStream<S>, TlsFacts), TlsFailure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = server_name_of(server_name);
    let recorder = Arc::new(Recorder { webpki: Arc::clone(webpki()), verdict: Mutex::new(None) });
    let connector = TlsConnector::from(Arc::new(client_config(Arc::clone(&recorder))));
    let watched = Watched::new(stream);
    let tls = match tokio::time::timeout(timeout, connector.connect(name.clone(), watched)).await {
        Err(_) => {
            return Err(failure(format!(
                "the server did not finish the TLS handshake within {} s",
                timeout.as_secs_f64().ceil() as u64
            )))
        }
        Ok(Err(e)) => return Err(failure(handshake_error(&e, start))),
        Ok(Ok(tls)) => tls,
    };
    let (_, conn) = tls.get_ref();
    let verdict = recorder.verdict.lock().expect("verdict lock").take();
    let chain = conn.peer_certificates().unwrap_or_default();
    let facts = facts_of(
        conn.protocol_version().and_then(|v| v.as_str()).map(|v| v.replace('_', ".")),
        conn.negotiated_cipher_suite().and_then(|s| s.suite().as_str()).map(|s| s.replace("TLS13_", "TLS_")),
        chain,
        server_name,
        &name,
        verdict,
        SystemTime::now(),
    );
    Ok((tls, facts))
}

fn failure(reason: String) -> TlsFailure {
    TlsFailure { reason }
}

/// The name for SNI and the name check. An address stays an address (and a
/// certificate must list it as such); anything else that is not a valid
/// host name cannot be named by a certificate, so nothing will match it.
fn server_name_of(host: &str) -> ServerName<'static> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return ServerName::IpAddress(ip.into());
    }
    ServerName::try_from(host.trim_end_matches('.').to_string())
        .unwrap_or(ServerName::IpAddress(IpAddr::from([0, 0, 0, 0]).into()))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// rustls's verifier over Mozilla's roots, built once.
fn webpki() -> &'static Arc<WebPkiServerVerifier> {
    static VERIFIER: OnceLock<Arc<WebPkiServerVerifier>> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .expect("Mozilla's roots make a verifier")
    })
}

/// A client config whose verifier records the WebPKI verdict and never
/// stops the handshake for it. One per handshake: each records its own.
/// No session resumption: a resumed session shows no certificate, and every
/// handshake must show the chain the server sends today.
fn client_config(recorder: Arc<Recorder>) -> ClientConfig {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(recorder)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    config
}

/// The verifier: WebPKI's verdict is written down, the handshake goes on.
/// Handshake signatures are still checked for real (delegated), so a server
/// that cannot prove it holds its certificate's key still fails.
#[derive(Debug)]
struct Recorder {
    webpki: Arc<WebPkiServerVerifier>,
    verdict: Mutex<Option<Result<(), rustls::Error>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        *self.verdict.lock().expect("verdict lock") = Some(verdict.map(|_| ()));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The facts of a finished handshake. `verdict` is WebPKI's, as recorded
/// during the handshake (`None` if the server sent no certificate).
fn facts_of(
    version: Option<String>,
    cipher: Option<String>,
    chain: &[CertificateDer<'_>],
    checked_name: &str,
    name: &ServerName<'static>,
    verdict: Option<Result<(), rustls::Error>>,
    now: SystemTime,
) -> TlsFacts {
    let now_s = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let described: Vec<(CertificateFacts, Option<(i64, i64)>)> =
        chain.iter().take(MAX_CHAIN).map(|der| describe(der, now_s)).collect();
    let name_matches = chain.first().is_some_and(|leaf| {
        rustls::server::ParsedCertificate::try_from(leaf)
            .is_ok_and(|parsed| rustls::client::verify_server_name(&parsed, name).is_ok())
    });
    let trusted = matches!(verdict, Some(Ok(())));
    let trust_problem =
        if trusted { None } else { Some(trust_problem(chain, &described, checked_name, name_matches, verdict, now_s)) };
    TlsFacts {
        version: version.unwrap_or_else(|| "unknown".into()),
        cipher: cipher.unwrap_or_else(|| "unknown".into()),
        chain: described.into_iter().map(|(facts, _)| facts).collect(),
        checked_name: checked_name.to_string(),
        name_matches,
        trusted,
        trust_problem,
    }
}

/// Why the chain is not trusted, in words: every problem found, most
/// pressing first, so that fixing one does not reveal the next by surprise.
fn trust_problem(
    chain: &[CertificateDer<'_>],
    described: &[(CertificateFacts, Option<(i64, i64)>)],
    checked_name: &str,
    name_matches: bool,
    verdict: Option<Result<(), rustls::Error>>,
    now_s: i64,
) -> String {
    let Some((leaf, validity)) = described.first() else {
        return "the server sent no certificate".into();
    };
    let mut problems = Vec::new();
    if let Some((not_before, not_after)) = *validity {
        if now_s > not_after {
            problems.push(format!("the certificate expired on {}", leaf.not_after));
        } else if now_s < not_before {
            problems.push(format!("the certificate is not valid before {}", leaf.not_before));
        }
    }
    for (cert, validity) in described.iter().skip(1) {
        if validity.is_some_and(|(_, not_after)| now_s > not_after) {
            problems.push(format!("the issuing certificate {} expired on {}", cert.subject, cert.not_after));
        }
    }
    // Whether the chain leads to a Mozilla root, asked again at a moment
    // every certificate of it is valid (when there is one), so that an
    // expired certificate from an unknown issuer is reported as both.
    let windows = described.iter().filter_map(|(_, validity)| *validity);
    let from = windows.clone().map(|(not_before, _)| not_before).max().unwrap_or(now_s);
    let to = windows.map(|(_, not_after)| not_after).min().unwrap_or(now_s);
    let inside = if from <= to { from + (to - from) / 2 } else { now_s };
    let at = UnixTime::since_unix_epoch(Duration::from_secs(inside.max(0) as u64));
    let any_name = ServerName::IpAddress(IpAddr::from([0, 0, 0, 0]).into());
    let chain_error = match webpki().verify_server_cert(&chain[0], &chain[1..], &any_name, &[], at) {
        Err(rustls::Error::InvalidCertificate(e)) if !is_name_error(&e) && !is_time_error(&e) => Some(e),
        _ => None,
    };
    match &chain_error {
        Some(CertificateError::UnknownIssuer) if leaf.self_signed => {
            problems.push("it is signed by nobody Mozilla trusts (self-signed)".into())
        }
        Some(CertificateError::UnknownIssuer) => {
            problems.push(format!("it is signed by {}, an issuer Mozilla does not trust (unknown issuer)", leaf.issuer))
        }
        Some(other) => problems.push(certificate_error(other)),
        None => {}
    }
    if !name_matches {
        let names = if leaf.names.is_empty() { leaf.subject.clone() } else { leaf.names.join(", ") };
        problems.push(format!("it is for {names}, not {checked_name}"));
    }
    if problems.is_empty() {
        // WebPKI refused for a reason the checks above do not cover.
        problems.push(match verdict {
            Some(Err(rustls::Error::InvalidCertificate(e))) => certificate_error(&e),
            Some(Err(e)) => format!("the certificate could not be checked: {e}"),
            Some(Ok(())) | None => "the certificate could not be checked".into(),
        });
    }
    problems.join("; ")
}

fn is_time_error(e: &CertificateError) -> bool {
    matches!(
        e,
        CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. }
    )
}

fn is_name_error(e: &CertificateError) -> bool {
    matches!(e, CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })
}

/// A certificate error as an administrator reads it.
fn certificate_error(e: &CertificateError) -> String {
    match e {
        CertificateError::BadSignature => "a certificate of the chain is not correctly signed by its issuer".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "the certificate is not meant for a server (its extended key usage lacks serverAuth)".into()
        }
        CertificateError::Revoked => "the certificate has been revoked".into(),
        CertificateError::UnknownIssuer => "it is signed by nobody Mozilla trusts (unknown issuer)".into(),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "a certificate of the chain has expired".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "a certificate of the chain is not valid yet".into()
        }
        CertificateError::BadEncoding => "the certificate is not correctly encoded".into(),
        other => format!("the certificate was refused ({other:?})"),
    }
}

/// One certificate as people read it, and its validity in Unix seconds.
fn describe(der: &CertificateDer<'_>, now_s: i64) -> (CertificateFacts, Option<(i64, i64)>) {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
        let unreadable = CertificateFacts {
            subject: "(a certificate that could not be read)".into(),
            issuer: String::new(),
            names: Vec::new(),
            not_before: String::new(),
            not_after: String::new(),
            days_left: 0,
            self_signed: false,
        };
        return (unreadable, None);
    };
    let mut names = Vec::new();
    let mut more = 0usize;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for general in &san.value.general_names {
            let name = match general {
                x509_parser::extensions::GeneralName::DNSName(dns) => Some(dns.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(bytes) => ip_of(bytes).map(|ip| ip.to_string()),
                _ => None,
            };
            match name {
                Some(n) if names.len() < MAX_NAMES => names.push(n),
                Some(_) => more += 1,
                None => {}
            }
        }
    }
    if more > 0 {
        names.push(format!("… and {more} more"));
    }
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    // Self-signed: it names itself as issuer and its own key verifies it.
    let self_signed = cert.subject().as_raw() == cert.issuer().as_raw() && cert.verify_signature(None).is_ok();
    let facts = CertificateFacts {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        names,
        not_before: date(not_before),
        not_after: date(not_after),
        days_left: (not_after - now_s).div_euclid(86_400),
        self_signed,
    };
    (facts, Some((not_before, not_after)))
}

fn ip_of(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

/// `YYYY-MM-DD` (UTC) of a Unix time (Howard Hinnant's civil-from-days).
fn date(unix: i64) -> String {
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A failed handshake in words.
fn handshake_error(e: &io::Error, start: Start) -> String {
    // tokio-rustls reports the peer's bytes that were not TLS through an
    // io::Error wrapping rustls's error.
    let tls = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let first = e.get_ref().and_then(|inner| inner.downcast_ref::<NotTls>());
    if let Some(NotTls(bytes)) = first {
        return not_tls(bytes, start);
    }
    match (e.kind(), tls) {
        (_, Some(error)) => tls_error(error),
        (io::ErrorKind::UnexpectedEof, _) => match start {
            Start::StartTls => "the server closed the connection during the TLS handshake, after agreeing to STARTTLS",
            Start::Implicit => "the server closed the connection during the TLS handshake",
        }
        .into(),
        (io::ErrorKind::ConnectionReset, _) => "the server reset the connection during the TLS handshake".into(),
        _ => format!("the TLS handshake failed: {e}"),
    }
}

/// What rustls found wrong, as an administrator reads it.
fn tls_error(error: &rustls::Error) -> String {
    use rustls::PeerIncompatible as P;
    const VERSIONS: &str = "no protocol version in common: the server offers only TLS 1.1 or older, \
        which are no longer safe (this checker, like current mail clients, speaks TLS 1.2 and 1.3)";
    match error {
        rustls::Error::AlertReceived(AlertDescription::ProtocolVersion) => VERSIONS.into(),
        rustls::Error::PeerIncompatible(
            P::ServerDoesNotSupportTls12Or13 | P::Tls12NotOffered | P::Tls12NotOfferedOrEnabled,
        ) => VERSIONS.into(),
        rustls::Error::AlertReceived(AlertDescription::HandshakeFailure | AlertDescription::InsufficientSecurity) => {
            "the server refused the handshake: no protocol version or cipher suite in common \
             (this checker offers TLS 1.2 and 1.3 with current cipher suites only)"
                .into()
        }
        rustls::Error::PeerIncompatible(P::NoCipherSuitesInCommon) => {
            "no cipher suite in common: the server offers only old or weak ones".into()
        }
        rustls::Error::PeerIncompatible(P::NoKxGroupsInCommon) => "no key exchange group in common".into(),
        rustls::Error::AlertReceived(alert) => {
            format!("the server ended the TLS handshake with the alert \"{}\"", alert_name(*alert))
        }
        rustls::Error::InvalidMessage(_) => "the server's TLS handshake is malformed".into(),
        rustls::Error::PeerMisbehaved(what) => format!("the server broke the TLS protocol ({what:?})"),
        rustls::Error::PeerIncompatible(what) => {
            format!("the server's TLS is incompatible with this checker ({what:?})")
        }
        rustls::Error::InvalidCertificate(_) => "the server could not prove that it holds its certificate's key".into(),
        other => format!("the TLS handshake failed: {other}"),
    }
}

/// An alert as RFC 8446 writes it (`protocol_version`), from rustls's
/// CamelCase name.
fn alert_name(alert: AlertDescription) -> String {
    let mut out = String::new();
    for (i, c) in format!("{alert:?}").chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The server's first bytes were not a TLS record: quote them, since they
/// are usually a plain-text SMTP reply that says what is wrong.
fn not_tls(bytes: &[u8], start: Start) -> String {
    let text = quote(bytes);
    match start {
        Start::StartTls => {
            format!("after agreeing to STARTTLS, the server answered with something that is not TLS: {text}")
        }
        Start::Implicit if bytes.starts_with(b"220") => format!(
            "this port speaks plain SMTP, not TLS from the first byte: it answered {text} (use STARTTLS on it instead)"
        ),
        Start::Implicit => format!("the server answered with something that is not TLS: {text}"),
    }
}

/// The bytes as printable text in quotes, control bytes escaped.
fn quote(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('"');
    s
}

/// The error a [`Watched`] stream reports when the server's first byte
/// cannot start a TLS record: the bytes, to quote.
#[derive(Debug)]
struct NotTls(Vec<u8>);

impl std::fmt::Display for NotTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not TLS: {}", quote(&self.0))
    }
}

impl std::error::Error for NotTls {}

/// A stream that looks at the server's first bytes: a TLS record starts
/// with a content type from 20 to 24; anything else (usually a plain-text
/// SMTP reply) is refused before rustls reads it, so that the failure can
/// quote what the server said. After the first byte it only passes bytes
/// through.
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    /// Whether the first byte has been seen.
    seen: bool,
}

impl<S> Watched<S> {
    fn new(inner: S) -> Watched<S> {
        Watched { inner, seen: false }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.seen || !matches!(poll, Poll::Ready(Ok(()))) || buf.filled().len() == before {
            return poll;
        }
        this.seen = true;
        let fresh = &buf.filled()[before..];
        if (20..=24).contains(&fresh[0]) {
            return poll;
        }
        let quoted = fresh[..fresh.len().min(FIRST_BYTES)].to_vec();
        buf.set_filled(before);
        Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, NotTls(quoted))))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A connection to a mail server that can move into TLS in place: plain TCP
/// until `STARTTLS` → `220`, TLS after.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while a handshake holds the socket; never read or written.
    Moving,
}

impl Stream {
    /// Moves a plain connection into TLS after `STARTTLS` → `220`, in place;
    /// as [`Stream::upgrade`].
    pub async fn start_tls(&mut self, server_name: &str, timeout: Duration) -> Result<TlsFacts, TlsFailure> {
        self.upgrade(server_name, timeout, Start::StartTls).await
    }

    /// Moves a freshly connected plain connection into TLS before any
    /// banner (port 465), in place; as [`Stream::upgrade`].
    pub async fn start_implicit(&mut self, server_name: &str, timeout: Duration) -> Result<TlsFacts, TlsFailure> {
        self.upgrade(server_name, timeout, Start::Implicit).await
    }

    /// Moves a plain connection into TLS ([`handshake`]), in place. On
    /// failure the connection is gone (it is mid-handshake, of no use to
    /// SMTP) and the stream is left closed.
    pub async fn upgrade(
        &mut self,
        server_name: &str,
        timeout: Duration,
        start: Start,
    ) -> Result<TlsFacts, TlsFailure> {
        match std::mem::replace(self, Stream::Moving) {
            Stream::Plain(tcp) => {
                let (tls, facts) = run(tcp, server_name, timeout, start).await?;
                *self = Stream::Tls(Box::new(tls));
                Ok(facts)
            }
            Stream::Tls(tls) => {
                *self = Stream::Tls(tls);
                Err(failure("this connection is already in TLS".into()))
            }
            Stream::Moving => Err(failure("the connection was lost before TLS could start".into())),
        }
    }
}

fn moving() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection is moving into TLS")
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Moving => Poll::Ready(Err(moving())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Moving => Poll::Ready(Err(moving())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Moving => Poll::Ready(Err(moving())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Moving => Poll::Ready(Err(moving())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relaycheck_tests::certs::{self, Cert, TestCa, Validity, CA_NAME};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const TIMEOUT: Duration = Duration::from_secs(20);

    /// A TLS server on loopback with this certificate: it answers one line
    /// inside TLS, then closes.
    async fn tls_server(cert: &Cert) -> std::net::SocketAddr {
        let chain = cert.chain_der.iter().map(|d| CertificateDer::from(d.clone())).collect();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let Ok(mut tls) = acceptor.accept(tcp).await else { return };
            let mut line = [0u8; 64];
            let n = tls.read(&mut line).await.unwrap_or(0);
            if line[..n].starts_with(b"EHLO") {
                let _ = tls.write_all(b"250 mx.example.org\r\n").await;
                let _ = tls.flush().await;
            }
        });
        addr
    }

    /// A server that reads the ClientHello and then does `then`.
    async fn rogue_server(then: &'static [u8], close: bool) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut hello = [0u8; 4096];
            let _ = tcp.read(&mut hello).await;
            let _ = tcp.write_all(then).await;
            if close {
                return;
            }
            // Hold the connection open, reading, until the client goes.
            while tcp.read(&mut hello).await.is_ok_and(|n| n > 0) {}
        });
        addr
    }

    async fn facts_from(cert: &Cert, name: &str) -> TlsFacts {
        let addr = tls_server(cert).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut tls, facts) = handshake(tcp, name, TIMEOUT, Start::StartTls).await.unwrap();
        // The connection carries SMTP after the handshake.
        tls.write_all(b"EHLO relaycheck.invalid\r\n").await.unwrap();
        tls.flush().await.unwrap();
        let mut reply = [0u8; 64];
        let n = tls.read(&mut reply).await.unwrap();
        assert_eq!(&reply[..n], b"250 mx.example.org\r\n");
        facts
    }

    async fn failure_from(addr: std::net::SocketAddr, timeout: Duration) -> String {
        let tcp = TcpStream::connect(addr).await.unwrap();
        match handshake(tcp, "mx.example.org", timeout, Start::StartTls).await {
            Ok(_) => panic!("the handshake with a rogue server succeeded"),
            Err(failure) => failure.reason,
        }
    }

    fn days_until(date: &str) -> i64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        // The day count from the date string, inverted through `date`.
        let mut day = now.div_euclid(86_400);
        while super::date(day * 86_400).as_str() < date {
            day += 1;
        }
        (day * 86_400 - now).div_euclid(86_400)
    }

    #[tokio::test]
    async fn a_chain_to_a_private_ca_is_read_and_untrusted_for_its_unknown_issuer() {
        let ca = TestCa::new();
        let facts = facts_from(&ca.leaf(&["mx.example.org"], Validity::Current), "mx.example.org").await;
        assert_eq!(facts.version, "TLSv1.3");
        assert!(facts.cipher.starts_with("TLS_") && !facts.cipher.starts_with("TLS13_"), "{}", facts.cipher);
        assert_eq!(facts.checked_name, "mx.example.org");
        assert!(facts.name_matches);
        // Mozilla's roots do not know the test CA: trust is theirs, not the machine's.
        assert!(!facts.trusted);
        let problem = facts.trust_problem.as_deref().unwrap();
        assert!(problem.contains("unknown issuer") && problem.contains(CA_NAME), "{problem}");
        assert!(!problem.contains("expired") && !problem.contains("self-signed"), "{problem}");
        assert_eq!(facts.chain.len(), 2);
        let leaf = &facts.chain[0];
        assert_eq!(leaf.subject, "CN=mx.example.org");
        assert!(leaf.issuer.contains(&format!("CN={CA_NAME}")), "{}", leaf.issuer);
        assert_eq!(leaf.names, vec!["mx.example.org".to_string()]);
        assert_eq!((leaf.not_before.as_str(), leaf.not_after.as_str()), Validity::Current.dates());
        assert_eq!(leaf.days_left, days_until("2036-01-01"));
        assert!(!leaf.self_signed);
        assert!(facts.chain[1].self_signed, "the CA signs itself");
    }

    #[tokio::test]
    async fn long_chains_and_many_names_are_described_within_bounds() {
        let ca = TestCa::new();
        let names: Vec<String> = (0..MAX_NAMES + 10).map(|i| format!("mx{i}.example.org")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut cert = ca.leaf(&names, Validity::Current);
        // The CA's certificate sent again and again after the leaf.
        let ca_der = cert.chain_der[1].clone();
        cert.chain_der.extend(std::iter::repeat_n(ca_der, MAX_CHAIN + 4));
        let facts = facts_from(&cert, "mx3.example.org").await;
        assert_eq!(facts.chain.len(), MAX_CHAIN);
        let leaf = &facts.chain[0];
        assert_eq!(leaf.names.len(), MAX_NAMES + 1);
        assert_eq!(leaf.names[MAX_NAMES], "… and 10 more");
        assert!(facts.name_matches);
    }

    #[tokio::test]
    async fn a_self_signed_certificate_is_said_to_be_one() {
        let cert = certs::self_signed(&["mx.example.org"], Validity::Current);
        let facts = facts_from(&cert, "mx.example.org").await;
        assert!(facts.chain[0].self_signed);
        assert!(facts.name_matches);
        assert!(!facts.trusted);
        assert_eq!(facts.trust_problem.as_deref(), Some("it is signed by nobody Mozilla trusts (self-signed)"));
    }

    #[tokio::test]
    async fn an_expired_certificate_says_when_and_why_else() {
        let ca = TestCa::new();
        let facts = facts_from(&ca.leaf(&["mx.example.org"], Validity::Expired), "mx.example.org").await;
        let leaf = &facts.chain[0];
        assert!(leaf.days_left < -300, "{}", leaf.days_left);
        let problem = facts.trust_problem.unwrap();
        assert!(problem.starts_with("the certificate expired on 2021-01-01"), "{problem}");
        // The unknown issuer is said too, so that renewing it alone is not a surprise.
        assert!(problem.contains("unknown issuer"), "{problem}");
    }

    #[tokio::test]
    async fn a_certificate_for_another_name_names_both() {
        let ca = TestCa::new();
        let facts = facts_from(&ca.leaf(&["other.example"], Validity::Current), "mx.example.org").await;
        assert!(!facts.name_matches);
        let problem = facts.trust_problem.unwrap();
        assert!(problem.contains("it is for other.example, not mx.example.org"), "{problem}");
    }

    #[tokio::test]
    async fn an_address_is_checked_as_an_address() {
        let ca = TestCa::new();
        let facts = facts_from(&ca.leaf(&["mx.example.org", "127.0.0.1"], Validity::Current), "127.0.0.1").await;
        assert_eq!(facts.chain[0].names, vec!["mx.example.org".to_string(), "127.0.0.1".to_string()]);
        assert!(facts.name_matches);
        assert_eq!(facts.checked_name, "127.0.0.1");
        let wrong = facts_from(&ca.leaf(&["mx.example.org"], Validity::Current), "127.0.0.1").await;
        assert!(!wrong.name_matches);
    }

    #[tokio::test]
    async fn a_plain_connection_moves_into_tls_in_place() {
        let ca = TestCa::new();
        let addr = tls_server(&ca.leaf(&["mx.example.org"], Validity::Current)).await;
        let mut stream = Stream::Plain(TcpStream::connect(addr).await.unwrap());
        let facts = stream.upgrade("mx.example.org", TIMEOUT, Start::StartTls).await.unwrap();
        assert!(facts.name_matches);
        assert!(matches!(stream, Stream::Tls(_)));
        stream.write_all(b"EHLO relaycheck.invalid\r\n").await.unwrap();
        stream.flush().await.unwrap();
        let mut reply = [0u8; 64];
        let n = stream.read(&mut reply).await.unwrap();
        assert_eq!(&reply[..n], b"250 mx.example.org\r\n");
        let again = stream.upgrade("mx.example.org", TIMEOUT, Start::StartTls).await.unwrap_err();
        assert!(again.reason.contains("already in TLS"), "{again}");
    }

    #[tokio::test]
    async fn plain_text_instead_of_a_handshake_is_quoted() {
        let addr = rogue_server(b"454 4.7.0 TLS not available due to local problem\r\n", false).await;
        let reason = failure_from(addr, TIMEOUT).await;
        assert_eq!(
            reason,
            "after agreeing to STARTTLS, the server answered with something that is not TLS: \
             \"454 4.7.0 TLS not available due to local problem\\r\\n\""
        );
    }

    #[tokio::test]
    async fn a_plain_port_asked_for_implicit_tls_says_so() {
        let addr = rogue_server(b"220 mx.example.org ESMTP\r\n", false).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let reason = handshake(tcp, "mx.example.org", TIMEOUT, Start::Implicit).await.unwrap_err().reason;
        assert!(reason.starts_with("this port speaks plain SMTP, not TLS from the first byte"), "{reason}");
        assert!(reason.contains("\"220 mx.example.org ESMTP\\r\\n\""), "{reason}");
    }

    #[tokio::test]
    async fn a_server_that_closes_mid_handshake_is_said_to() {
        let addr = rogue_server(b"", true).await;
        let reason = failure_from(addr, TIMEOUT).await;
        assert_eq!(reason, "the server closed the connection during the TLS handshake, after agreeing to STARTTLS");
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_stalls_the_handshake_is_timed_out() {
        let addr = rogue_server(b"", false).await;
        let reason = failure_from(addr, TIMEOUT).await;
        assert_eq!(reason, "the server did not finish the TLS handshake within 20 s");
    }

    #[tokio::test]
    async fn only_old_protocol_versions_are_said_in_words() {
        // A fatal protocol_version alert, as a TLS 1.0-only server answers.
        let addr = rogue_server(&[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46], false).await;
        let reason = failure_from(addr, TIMEOUT).await;
        assert!(reason.starts_with("no protocol version in common"), "{reason}");
    }

    #[tokio::test]
    async fn a_garbage_record_is_refused_not_buffered() {
        // A handshake record header that announces more than TLS allows.
        let addr = rogue_server(&[0x16, 0x03, 0x03, 0xff, 0xff, 0, 0, 0, 0], false).await;
        let reason = failure_from(addr, TIMEOUT).await;
        assert_eq!(reason, "the server's TLS handshake is malformed");
    }

    #[test]
    fn dates_are_civil_days_in_utc() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(2_082_758_399), "2035-12-31");
        assert_eq!(date(-1), "1969-12-31");
    }

    #[test]
    fn alerts_are_named_as_the_rfc_names_them() {
        assert_eq!(alert_name(AlertDescription::ProtocolVersion), "protocol_version");
        assert_eq!(alert_name(AlertDescription::HandshakeFailure), "handshake_failure");
    }

    #[test]
    fn quotes_escape_what_a_terminal_should_not_see() {
        assert_eq!(quote(b"a\r\n\x1b\"z"), "\"a\\r\\n\\x1b\\\"z\"");
    }
}
