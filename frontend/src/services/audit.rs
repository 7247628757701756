//! The audit in the browser: relay-core's [`Session`] driven over the
//! bridge's audit socket, one websocket carrying every SMTP connection the
//! session asks for (relay-core's `wire::audit_socket`). The page never
//! parses SMTP itself; it moves bytes and time.
//!
//! One websocket, not one per connection: browsers open websockets to one
//! host one after another, and Chromium spaces them out, which cost an
//! audit's nine connections about a quarter of a second.
//!
//! Dropping the [`AuditHandle`] closes the socket and every timer, so a
//! cancelled audit leaves nothing running.
//!
//! The socket may be opened a moment before the click ([`WarmSocket`]),
//! when the pointer or the keyboard comes to the form: the websocket
//! handshake (TCP, TLS and the upgrade, one to three round trips to a
//! distant bridge) is then done by the time the check starts.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use gloo_timers::callback::Timeout;
use relay_core::wire::audit_socket::{
    batch, tag, unpack, untag, Frame, PageCommand, TaggedEvent, AUDIT_WS_PATH, BATCHES,
};
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
    /// `ws://` or `wss://` base URL). Every update goes to `emit`, the
    /// first (`first`: that the audit started) with the audit's first
    /// frame, within a [`FRAME_MS`]: not at the click, so that on a fast
    /// server the page goes from the click straight to the verdict, and
    /// the first connection's answer does not wait for a page drawn only
    /// to show that the check began.
    pub fn start(
        bridge_ws: String,
        target: Target,
        config: Config,
        run: u32,
        first: Vec<PageAction>,
        emit: Callback<PageAction>,
        warm: Option<WarmSocket>,
    ) -> AuditHandle {
        let started = browser::now_ms();
        // The control mailbox must not be guessable: a fresh random part per audit.
        let nonce = (js_sys::Math::random() * 2f64.powi(53)) as u64;
        let config = relay_core::Config { nonce, ..config };
        let session = Session::new(config, target.host, target.port, Duration::ZERO);
        let driver = Rc::new(RefCell::new(Driver {
            session,
            socket: None,
            outbox: Vec::new(),
            ready: false,
            batches: false,
            heard: false,
            open: HashSet::new(),
            bridge_ws,
            timer: None,
            pending: first,
            flush: None,
            emit,
            run,
            started,
            stopped: false,
        }));
        connect(&driver, warm);
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

/// Right after the page is drawn, runs an audit's code once in memory (relay-core's
/// [`rehearsal`](relay_core::rehearsal), then the report's JSON that every
/// finished audit writes): the browser compiles WASM functions on their
/// first call, and the first real audit no longer waits for that. Nothing
/// is sent anywhere; it takes about 10 ms.
pub fn rehearse_soon() {
    Timeout::new(0, || {
        let report = relay_core::rehearsal::rehearse();
        let _ = serde_json::to_string(&report);
    })
    .forget();
}

/// The audit socket and its handlers, kept alive as long as it is open.
struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

/// What the page sends: a command, or one connection's bytes.
enum Outgoing {
    Text(String),
    Bytes(Vec<u8>),
}

impl Outgoing {
    fn frame(&self) -> Frame<'_> {
        match self {
            Outgoing::Text(text) => Frame::Text(text),
            Outgoing::Bytes(bytes) => Frame::Binary(bytes),
        }
    }
}

struct Driver {
    session: Session,
    socket: Option<Socket>,
    /// Frames written since the page last sent: after every input, or
    /// once the socket opens if it was not open yet.
    outbox: Vec<Outgoing>,
    /// Whether the socket is open.
    ready: bool,
    /// Whether the bridge agreed to batches ([`BATCHES`]): then all the
    /// frames of one input go as one.
    batches: bool,
    /// Whether the bridge has said anything yet.
    heard: bool,
    /// The connections the page has open: frames still on their way for
    /// one it closed are dropped, as a closed socket's would be.
    open: HashSet<u32>,
    bridge_ws: String,
    /// The engine's timer, and the time it is armed for.
    timer: Option<(Duration, Timeout)>,
    /// What the engine said since the page last drew, drawn at most once
    /// a [`FRAME_MS`] while the audit runs, and at once when it ends.
    pending: Vec<PageAction>,
    flush: Option<Timeout>,
    emit: Callback<PageAction>,
    run: u32,
    started: f64,
    stopped: bool,
}

/// How long a socket opened ahead of a check waits for it. The bridge
/// closes an empty socket after its idle time (a minute by default).
const WARM_FOR_MS: u32 = 30_000;

/// An audit socket opened ahead of the check, closed if no check takes it
/// within [`WARM_FOR_MS`].
pub struct WarmSocket {
    ws: WebSocket,
    /// Whether the bridge said something before any check: it only does to
    /// refuse the whole socket (the Origin, too many sockets), which the
    /// check must hear, so such a socket is not used.
    spoke: Rc<Cell<bool>>,
    _on_message: Closure<dyn FnMut()>,
    _expiry: Timeout,
    taken: bool,
}

impl WarmSocket {
    /// Opens the audit socket of the bridge at `bridge_ws`.
    pub fn open(bridge_ws: &str) -> Option<WarmSocket> {
        let ws = open_socket(bridge_ws).ok()?;
        let spoke = Rc::new(Cell::new(false));
        let heard = Rc::clone(&spoke);
        let on_message = Closure::<dyn FnMut()>::new(move || heard.set(true));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let closing = ws.clone();
        let expiry = Timeout::new(WARM_FOR_MS, move || {
            let _ = closing.close();
        });
        Some(WarmSocket { ws, spoke, _on_message: on_message, _expiry: expiry, taken: false })
    }

    /// Whether it can still carry a check to `bridge_ws`.
    pub fn serves(&self, bridge_ws: &str) -> bool {
        let alive = matches!(self.ws.ready_state(), WebSocket::CONNECTING | WebSocket::OPEN);
        alive && !self.spoke.get() && self.ws.url() == audit_socket_url(bridge_ws)
    }

    /// The socket, for a check, which sets its own handlers at once.
    fn take(mut self) -> WebSocket {
        self.taken = true;
        self.ws.set_onmessage(None);
        self.ws.clone()
    }
}

impl Drop for WarmSocket {
    /// Not taken by a check: closed.
    fn drop(&mut self) {
        if !self.taken {
            self.ws.set_onmessage(None);
            let _ = self.ws.close();
        }
    }
}

fn audit_socket_url(bridge_ws: &str) -> String {
    format!("{}{AUDIT_WS_PATH}", bridge_ws.trim_end_matches('/'))
}

/// The audit socket, offering batches; a bridge that does not know them
/// chooses no subprotocol, and the page then sends every frame alone.
fn open_socket(bridge_ws: &str) -> Result<WebSocket, wasm_bindgen::JsValue> {
    WebSocket::new_with_str(&audit_socket_url(bridge_ws), BATCHES)
}

/// Takes the warm socket if it serves this bridge, else opens the audit
/// socket; the engine's frames wait in the outbox until it is open.
fn connect(driver: &Rc<RefCell<Driver>>, warm: Option<WarmSocket>) {
    let bridge_ws = driver.borrow().bridge_ws.clone();
    let ws = match warm.filter(|w| w.serves(&bridge_ws)) {
        Some(warm) => Ok(warm.take()),
        None => open_socket(&bridge_ws),
    };
    let Ok(ws) = ws else {
        let message = format!("The bridge address {bridge_ws} is not a websocket URL (ws:// or wss://).");
        return driver.borrow_mut().fail(message);
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    if ws.ready_state() == WebSocket::OPEN {
        let mut d = driver.borrow_mut();
        d.ready = true;
        d.batches = ws.protocol() == BATCHES;
    }
    // Every handler: the driver, if the audit still runs, then pump.
    let handler = |act: fn(&mut Driver, Option<MessageEvent>)| {
        let weak = Rc::downgrade(driver);
        move |e: Option<MessageEvent>| {
            if let Some(driver) = weak.upgrade() {
                act(&mut driver.borrow_mut(), e);
                pump(&driver);
            }
        }
    };
    let on_open = handler(|d, _| d.on_open());
    let on_message = handler(|d, e| d.on_message(e));
    let on_close = handler(|d, _| d.on_close());
    let on_open = Closure::<dyn FnMut()>::new(move || on_open(None));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e| on_message(Some(e)));
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_| on_close(None));
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    driver.borrow_mut().socket = Some(Socket { ws, _on_open: on_open, _on_message: on_message, _on_close: on_close });
}

impl Driver {
    fn now(&self) -> Duration {
        Duration::from_secs_f64(((browser::now_ms() - self.started) / 1000.0).max(0.0))
    }

    /// Ends the audit: closes the socket (the bridge then ends every
    /// connection) and the timer.
    fn stop(&mut self) {
        self.stopped = true;
        self.timer = None;
        if let Some(socket) = &self.socket {
            socket.ws.set_onopen(None);
            socket.ws.set_onmessage(None);
            socket.ws.set_onclose(None);
            let _ = socket.ws.close();
        }
        // The closures stay with the driver until it is dropped: one of
        // them may be running right now.
    }

    fn fail(&mut self, message: String) {
        self.pending.push(PageAction::Fail { run: self.run, message });
        self.stop();
    }

    fn send(&mut self, frame: Outgoing) {
        self.outbox.push(frame);
    }

    /// Sends what the outbox holds, if the socket is open: one frame alone,
    /// several as one batch when the bridge agreed to batches.
    fn flush(&mut self) {
        if self.stopped {
            return self.outbox.clear();
        }
        let Some(socket) = self.socket.as_ref().filter(|_| self.ready) else { return };
        // A socket that can no longer send is closing; its close says why.
        let _ = if self.batches && self.outbox.len() > 1 {
            let frames: Vec<Frame<'_>> = self.outbox.iter().map(Outgoing::frame).collect();
            socket.ws.send_with_u8_array(&batch(&frames))
        } else {
            self.outbox.iter().try_for_each(|frame| match frame {
                Outgoing::Text(text) => socket.ws.send_with_str(text),
                Outgoing::Bytes(bytes) => socket.ws.send_with_u8_array(bytes),
            })
        };
        self.outbox.clear();
    }

    fn on_open(&mut self) {
        self.ready = true;
        self.batches = self.socket.as_ref().is_some_and(|s| s.ws.protocol() == BATCHES);
        self.flush();
    }

    /// Asks the bridge for connection `id`.
    fn open_connection(&mut self, id: ConnectionId) {
        let target = self.session.bridge_target();
        self.open.insert(id.0);
        self.send(Outgoing::Text(PageCommand::Open { connection: id.0, target }.to_json()));
    }

    fn close_connection(&mut self, id: ConnectionId) {
        if self.open.remove(&id.0) {
            self.send(Outgoing::Text(PageCommand::Close { connection: id.0 }.to_json()));
        }
    }

    fn on_message(&mut self, e: Option<MessageEvent>) {
        let Some(e) = e else { return };
        if self.stopped {
            return;
        }
        self.heard = true;
        let now = self.now();
        let data = e.data();
        if let Some(text) = data.as_string() {
            self.on_frame(Frame::Text(&text), now);
        } else if let Ok(buffer) = data.dyn_into::<js_sys::ArrayBuffer>() {
            let frame = js_sys::Uint8Array::new(&buffer).to_vec();
            for inner in unpack(Frame::Binary(&frame), self.batches).unwrap_or_default() {
                self.on_frame(inner, now);
            }
        }
    }

    /// One frame of the bridge, alone or out of a batch.
    fn on_frame(&mut self, frame: Frame<'_>, now: Duration) {
        if self.stopped {
            return;
        }
        match frame {
            Frame::Text(text) => match TaggedEvent::from_json(text) {
                Ok(TaggedEvent { connection: Some(n), event }) if self.open.contains(&n) => {
                    self.on_event(ConnectionId(n), event, now)
                }
                // About the whole socket (the Origin, the bridge going away):
                // no connection of this audit can go on.
                Ok(TaggedEvent {
                    connection: None,
                    event: BridgeEvent::Error { message, .. } | BridgeEvent::Closed { message, .. },
                }) => self.fail(message),
                // A connection the page already closed, or nothing readable.
                _ => {}
            },
            Frame::Binary(frame) => {
                if let Some((n, bytes)) = untag(frame).filter(|(n, _)| self.open.contains(n)) {
                    self.session.handle_input(ConnectionId(n), bytes, now);
                }
            }
        }
    }

    fn on_event(&mut self, id: ConnectionId, event: BridgeEvent, now: Duration) {
        match event {
            BridgeEvent::Connected { address, .. } => match address.parse() {
                Ok(ip) => self.session.handle_connected(id, ip, now),
                Err(_) => self.session.handle_connect_failed(id, "the bridge named an unreadable address", now),
            },
            // The bridge said why this connection will not be made (a
            // limit, most often).
            BridgeEvent::Error { message, .. } => {
                self.open.remove(&id.0);
                if self.session.server_address().is_none() {
                    // The bridge refused the very first connection: its
                    // sentence is the answer (private address, unknown host…).
                    return self.fail(message);
                }
                self.session.handle_connect_failed(id, &message, now);
            }
            BridgeEvent::Closed { code, message } => {
                self.open.remove(&id.0);
                if code == relay_core::ErrorCode::ShuttingDown {
                    // The bridge is going away: no connection of this audit can finish.
                    return self.fail(message);
                }
                self.session.handle_closed(id, now);
            }
            // The bridge speaks TLS with the server itself, when the server
            // says 220 to STARTTLS; the page hears how it went.
            BridgeEvent::TlsEstablished { facts } => self.session.handle_tls(id, Ok(facts), now),
            BridgeEvent::TlsFailed { reason } => {
                self.session.handle_tls(id, Err(relay_core::TlsFailure { reason }), now)
            }
            // The engine never sends what the guard refuses; nothing to do.
            BridgeEvent::Refused { .. } => {}
        }
    }

    fn on_close(&mut self) {
        if self.stopped {
            return;
        }
        let message = if self.heard {
            // The bridge says why before it ends a connection; the whole
            // socket closing unannounced means the bridge itself went away.
            format!(
                "The connection to the bridge at {} was lost in the middle of the check (it stopped or restarted). Run the check again.",
                self.bridge_ws
            )
        } else {
            format!(
                "The bridge at {} cannot be reached. Is ws-bridge serve running there, and is the address right?",
                self.bridge_ws
            )
        };
        self.fail(message);
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
    d.flush();
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
        if d.open.contains(&transmit.connection.0) {
            d.send(Outgoing::Bytes(tag(transmit.connection.0, &transmit.data)));
        }
    }
    let run = d.run;
    while let Some(event) = d.session.poll_event() {
        match event {
            Event::Connect(id) => d.open_connection(id),
            Event::Close(id) => d.close_connection(id),
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
                // The report holds every step, probe and line not drawn yet;
                // the page draws them with it, after the verdict.
                d.pending.retain(|a| {
                    !matches!(
                        a,
                        PageAction::RecordStep { .. } | PageAction::AppendLine { .. } | PageAction::RecordProbe { .. }
                    )
                });
                let report = d.session.report();
                d.pending.push(PageAction::Finish { run, report: Rc::new(report) });
                d.stop();
                return;
            }
        }
        if d.stopped {
            return;
        }
    }
    // Armed again only when the engine's next deadline comes earlier: a
    // timer set for an earlier time fires, finds nothing due, and is armed
    // for the real deadline then (quinn's pattern). Every reply moves a
    // deadline later, and a new setTimeout on every frame cost the page
    // about 2 ms an audit.
    match d.session.poll_timeout() {
        None => d.timer = None,
        Some(at) if d.timer.as_ref().is_some_and(|(armed, _)| *armed <= at) => {}
        Some(at) => {
            let delay = at.saturating_sub(d.now()).as_millis().min(u128::from(u32::MAX)) as u32;
            let timeout = Timeout::new(delay, move || {
                if let Some(driver) = me.upgrade() {
                    let fired = {
                        let mut d = driver.borrow_mut();
                        let now = d.now();
                        d.session.handle_timeout(now);
                        d.timer.take()
                    };
                    pump(&driver);
                    // Freed last: this very callback belongs to it.
                    drop(fired);
                }
            });
            d.timer = Some((at, timeout));
        }
    }
}
