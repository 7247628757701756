//! The audit in the browser: relay-core's [`Session`] driven over the
//! bridge's websockets, one websocket per SMTP connection the session asks
//! for. The page never parses SMTP itself; it moves bytes and time.
//!
//! Dropping the [`AuditHandle`] closes every socket
//! and timer, so a cancelled audit leaves nothing running.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::time::Duration;

use gloo_timers::callback::Timeout;
use relay_core::wire::WsQuery;
use relay_core::{BridgeEvent, Config, ConnectionId, Event, Session};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};
use yew::Callback;

use crate::services::browser;
use crate::state::{PageAction, Target};

/// A running audit; dropping it stops it.
pub struct AuditHandle {
    driver: Rc<RefCell<Driver>>,
}

impl AuditHandle {
    /// Starts auditing `target` through the bridge at `bridge_ws` (a
    /// `ws://` or `wss://` base URL). Every update goes to `emit`.
    pub fn start(
        bridge_ws: String,
        target: Target,
        config: Config,
        run: u32,
        emit: Callback<PageAction>,
    ) -> AuditHandle {
        let started = browser::now_ms();
        // The control mailbox must not be guessable: a fresh random part per audit.
        let nonce = (js_sys::Math::random() * 2f64.powi(53)) as u64;
        let config = relay_core::Config { nonce, ..config };
        let session = Session::new(config, target.host.clone(), target.port, Duration::ZERO);
        let driver = Rc::new(RefCell::new(Driver {
            session,
            sockets: HashMap::new(),
            retired: Vec::new(),
            address: None,
            bridge_ws,
            target,
            timer: None,
            pending: Vec::new(),
            flush: None,
            emit,
            run,
            started,
            stopped: false,
        }));
        pump(&driver);
        AuditHandle { driver }
    }
}

impl Drop for AuditHandle {
    fn drop(&mut self) {
        let mut d = self.driver.borrow_mut();
        d.stop();
        // A stopped audit says nothing more, not even what it had not drawn yet.
        d.pending.clear();
        d.flush = None;
    }
}

struct Socket {
    ws: WebSocket,
    /// Whether the bridge has said anything on it yet.
    heard: bool,
    /// Whether the bridge said why the session ended (a `closed` event).
    told_why: bool,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

struct Driver {
    session: Session,
    sockets: HashMap<ConnectionId, Socket>,
    /// Sockets already closed, kept until the next callback: a closure must
    /// not be freed while it runs, and the browser may still fire events.
    retired: Vec<Socket>,
    /// The address the first connection reached; later ones go there too,
    /// so the bridge never resolves the name again.
    address: Option<String>,
    bridge_ws: String,
    target: Target,
    timer: Option<Timeout>,
    /// What the engine said since the page last drew, drawn at most once
    /// a [`FRAME_MS`] while the audit runs, and at once when it ends.
    pending: Vec<PageAction>,
    flush: Option<Timeout>,
    emit: Callback<PageAction>,
    run: u32,
    started: f64,
    stopped: bool,
}

impl Driver {
    fn now(&self) -> Duration {
        Duration::from_secs_f64(((browser::now_ms() - self.started) / 1000.0).max(0.0))
    }

    fn stop(&mut self) {
        self.stopped = true;
        self.timer = None;
        let ids: Vec<ConnectionId> = self.sockets.keys().copied().collect();
        for id in ids {
            self.retire(id);
        }
    }

    /// Detaches the socket's handlers, closes it, and keeps its closures
    /// alive until the next callback.
    fn retire(&mut self, id: ConnectionId) {
        if let Some(socket) = self.sockets.remove(&id) {
            socket.ws.set_onmessage(None);
            socket.ws.set_onclose(None);
            let _ = socket.ws.close();
            self.retired.push(socket);
        }
    }

    /// Frees the closures of sockets retired by an earlier callback.
    fn bury(&mut self) -> Vec<Socket> {
        std::mem::take(&mut self.retired)
    }

    fn fail(&mut self, message: String) {
        self.pending.push(PageAction::Fail { run: self.run, message });
        self.stop();
    }

    fn open_socket(&mut self, id: ConnectionId, me: Weak<RefCell<Driver>>) {
        // Later connections go to the address the first one reached; TLS
        // still checks the certificate against the name asked for.
        let query = WsQuery {
            host: self.address.clone().unwrap_or_else(|| self.target.host.clone()),
            port: self.target.port,
            implicit_tls: self.session.config().implicit_tls,
            tls_name: self.address.as_ref().map(|_| self.target.host.clone()),
        };
        let url = format!("{}{}", self.bridge_ws.trim_end_matches('/'), query.to_path());
        let ws = match WebSocket::new(&url) {
            Ok(ws) => ws,
            Err(_) => {
                let message =
                    format!("The bridge address {} is not a websocket URL (ws:// or wss://).", self.bridge_ws);
                if self.address.is_none() {
                    return self.fail(message);
                }
                let now = self.now();
                self.session.handle_connect_failed(id, &message, now);
                return;
            }
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        let weak = me.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let Some(driver) = weak.upgrade() {
                let buried = driver.borrow_mut().bury();
                driver.borrow_mut().on_message(id, e);
                pump(&driver);
                drop(buried);
            }
        });
        let weak = me;
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_e: CloseEvent| {
            if let Some(driver) = weak.upgrade() {
                let buried = driver.borrow_mut().bury();
                driver.borrow_mut().on_close(id);
                pump(&driver);
                drop(buried);
            }
        });
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        self.sockets
            .insert(id, Socket { ws, heard: false, told_why: false, _on_message: on_message, _on_close: on_close });
    }

    fn on_message(&mut self, id: ConnectionId, e: MessageEvent) {
        if self.stopped {
            return;
        }
        let now = self.now();
        if let Some(socket) = self.sockets.get_mut(&id) {
            socket.heard = true;
        }
        let data = e.data();
        if let Some(text) = data.as_string() {
            match BridgeEvent::from_json(&text) {
                Ok(BridgeEvent::Connected { address, .. }) => match address.parse() {
                    Ok(ip) => {
                        self.address.get_or_insert(address);
                        self.session.handle_connected(id, ip, now);
                    }
                    Err(_) => self.session.handle_connect_failed(id, "the bridge named an unreadable address", now),
                },
                Ok(BridgeEvent::Error { message, .. }) => {
                    // The bridge said why this connection will not be made
                    // (a limit, most often): its close is no surprise.
                    if let Some(socket) = self.sockets.get_mut(&id) {
                        socket.told_why = true;
                    }
                    if self.address.is_none() {
                        // The bridge refused the very first connection: its
                        // sentence is the answer (private address, unknown host…).
                        return self.fail(message);
                    }
                    self.session.handle_connect_failed(id, &message, now);
                }
                Ok(BridgeEvent::Closed { code, message }) => {
                    if let Some(socket) = self.sockets.get_mut(&id) {
                        socket.told_why = true;
                    }
                    if code == relay_core::ErrorCode::ShuttingDown {
                        // The bridge is going away: no connection of this audit can finish.
                        return self.fail(message);
                    }
                    self.session.handle_closed(id, now);
                }
                // The bridge speaks TLS with the server itself, when the
                // server says 220 to STARTTLS; the page hears how it went.
                Ok(BridgeEvent::TlsEstablished { facts }) => self.session.handle_tls(id, Ok(facts), now),
                Ok(BridgeEvent::TlsFailed { reason }) => {
                    self.session.handle_tls(id, Err(relay_core::TlsFailure { reason }), now)
                }
                // The engine never sends what the guard refuses; nothing to do.
                Ok(BridgeEvent::Refused { .. }) | Err(_) => {}
            }
        } else if let Ok(buffer) = data.dyn_into::<js_sys::ArrayBuffer>() {
            let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
            self.session.handle_input(id, &bytes, now);
        }
    }

    fn on_close(&mut self, id: ConnectionId) {
        if self.stopped {
            return;
        }
        let now = self.now();
        let (heard, told_why) = self.sockets.get(&id).map_or((false, false), |s| (s.heard, s.told_why));
        self.retire(id);
        if !heard && self.address.is_none() {
            let message = format!(
                "The bridge at {} cannot be reached. Is ws-bridge serve running there, and is the address right?",
                self.bridge_ws
            );
            return self.fail(message);
        }
        if !told_why {
            // The bridge always says why before it closes a session; a
            // silent close means the bridge itself went away.
            let message = format!(
                "The connection to the bridge at {} was lost in the middle of the check (it stopped or restarted). Run the check again.",
                self.bridge_ws
            );
            return self.fail(message);
        }
        self.session.handle_closed(id, now);
    }
}

/// How often the page draws a running audit, at most: every engine event
/// of the inputs in between goes to the page as one action.
const FRAME_MS: u32 = 50;

/// After every input: send, act on events, re-arm the timer, and hand
/// the page what it should draw.
fn pump(driver: &Rc<RefCell<Driver>>) {
    step(driver);
    let mut d = driver.borrow_mut();
    if d.pending.is_empty() || d.flush.is_some() && !d.stopped {
        return;
    }
    if d.stopped {
        // The verdict, or why there is none: drawn at once.
        d.flush = None;
        let (emit, batch) = (d.emit.clone(), std::mem::take(&mut d.pending));
        drop(d);
        emit_batch(&emit, batch);
        return;
    }
    let weak = Rc::downgrade(driver);
    d.flush = Some(Timeout::new(FRAME_MS, move || {
        if let Some(driver) = weak.upgrade() {
            let (emit, batch) = {
                let mut d = driver.borrow_mut();
                (d.emit.clone(), std::mem::take(&mut d.pending))
            };
            emit_batch(&emit, batch);
            // Freed last: this very callback belongs to it.
            let done = driver.borrow_mut().flush.take();
            drop(done);
        }
    }));
}

fn emit_batch(emit: &Callback<PageAction>, mut batch: Vec<PageAction>) {
    match batch.len() {
        0 => {}
        1 => emit.emit(batch.remove(0)),
        _ => emit.emit(PageAction::ApplyAll(batch)),
    }
}

/// Feeds the session's wants to the sockets and its events to `pending`.
fn step(driver: &Rc<RefCell<Driver>>) {
    let me = Rc::downgrade(driver);
    let mut d = driver.borrow_mut();
    if d.stopped {
        return;
    }
    while let Some(transmit) = d.session.poll_transmit() {
        if let Some(socket) = d.sockets.get(&transmit.connection) {
            let _ = socket.ws.send_with_u8_array(&transmit.data);
        }
    }
    let run = d.run;
    while let Some(event) = d.session.poll_event() {
        match event {
            Event::Connect(id) => d.open_socket(id, me.clone()),
            Event::Close(id) => d.retire(id),
            // The bridge starts TLS by itself on the server's 220 and says
            // how it went (BridgeEvent::TlsEstablished or TlsFailed).
            Event::StartTls(_) => {}
            Event::Step(step) => d.pending.push(PageAction::RecordStep { run, step }),
            Event::Transcript(line) => d.pending.push(PageAction::AppendLine { run, line }),
            Event::ProbeFinished(probe) => {
                let total = d.session.progress().total;
                d.pending.push(PageAction::RecordProbe { run, probe, total });
            }
            Event::Finished => {
                let report = d.session.report();
                browser::expose_report(&report);
                d.pending.push(PageAction::Finish { run, report: Rc::new(report) });
                d.stop();
                return;
            }
        }
        if d.stopped {
            return;
        }
    }
    d.timer = d.session.poll_timeout().map(|at| {
        let delay = at.saturating_sub(d.now()).as_millis().min(u128::from(u32::MAX)) as u32;
        let weak = me.clone();
        Timeout::new(delay, move || {
            if let Some(driver) = weak.upgrade() {
                let buried = {
                    let mut d = driver.borrow_mut();
                    let now = d.now();
                    d.session.handle_timeout(now);
                    d.bury()
                };
                pump(&driver);
                drop(buried);
            }
        })
    });
}
