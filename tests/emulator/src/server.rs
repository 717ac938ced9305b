//! The HTTP plumbing every emulated service shares: listening on 127.0.0.1, a pool of workers, the request log,
//! fault injection, and dropping a connection without an answer.
//!
//! Requests are parsed by `tiny_http`, which does not let a handler close a connection: a request dropped without
//! an answer still gets an empty 500 written, and the socket stays open for the next request. So the public port is
//! a small relay ("gate"): each accepted client connection is piped to `tiny_http` listening on a private port,
//! and the gate keeps the client socket, keyed by the relay's own address (which `tiny_http` sees as the remote
//! address). Dropping a request shuts the client socket down before anything is written, so the client sees the
//! connection close with no status line, exactly as when a real service or proxy gives up.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::faults::{Faults, Injected};

/// How many threads answer requests at once.
const WORKERS: usize = 8;

/// How long a worker waits for a request before it checks whether the server is stopping.
const POLL: Duration = Duration::from_millis(25);

/// Locks a mutex; a panic in another holder does not make the state unusable for a test double.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One request served by an emulator, as the test sees it afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The HTTP method, upper case (`GET`, `PATCH`).
    pub method: String,
    /// The path without the query (`/v1.0/engagements/referrals/5b0e...`), as sent (not percent-decoded).
    pub path: String,
    /// The raw query string without the `?` (percent-encoded, as sent); empty when there was none.
    pub query: String,
    /// The `If-Match` header, when sent.
    pub if_match: Option<String>,
    /// Every request header as `(name, value)`, in the order sent, names as sent.
    pub headers: Vec<(String, String)>,
    /// The request body as text (lossy UTF-8); empty when there was none.
    pub body: String,
    /// The status answered, or `None` when the connection was closed without an answer (an injected drop or a
    /// lost create answer).
    pub status: Option<u16>,
}

impl RequestRecord {
    /// The first header of this name (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_of(&self.headers, name)
    }

    /// The decoded value of a query parameter (`$filter`, `$top`), or `None` when absent or malformed.
    pub fn query_param(&self, name: &str) -> Option<String> {
        crate::odata::parse_query(&self.query)
            .ok()?
            .into_iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// The body parsed as JSON, or `None` when it is empty or not JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// The first header of this name in a list (compared case-insensitively).
fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// A request as handed to a service.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    /// The HTTP method, upper case.
    pub(crate) method: String,
    /// The path without the query, as sent.
    pub(crate) path: String,
    /// The raw query string without `?`.
    pub(crate) query: String,
    /// The headers as sent.
    pub(crate) headers: Vec<(String, String)>,
    /// The body bytes.
    pub(crate) body: Vec<u8>,
    /// `http://127.0.0.1:PORT` of this server, for absolute links.
    pub(crate) base_url: String,
}

impl Incoming {
    /// The first header of this name (compared case-insensitively).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        header_of(&self.headers, name)
    }
}

/// An answer to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    /// The HTTP status.
    pub(crate) status: u16,
    /// Headers to send (besides `Content-Length`, `Date` and `Server`, which are added).
    pub(crate) headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub(crate) body: Vec<u8>,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Write this answer.
    Respond(Response),
    /// Close the connection without writing anything.
    Drop,
}

/// An emulated service: it answers requests and says what its injected faults look like on the wire.
pub(crate) trait Service: Send + Sync + 'static {
    /// Answers one request. `faults` is there for the faults that depend on the operation (a lost create answer).
    fn handle(&self, request: &Incoming, faults: &Mutex<Faults>) -> Reply;

    /// The answer of an injected throttle or outage (never called for a drop).
    fn fault(&self, request: &Incoming, fault: &Injected) -> Response;

    /// Removes secrets from a request before it is written to the request log. The default keeps it as sent.
    fn redact(&self, _record: &mut RequestRecord) {}
}

/// State shared by the server's threads and its owner.
#[derive(Debug, Default)]
struct Shared {
    /// The faults still to inject.
    faults: Mutex<Faults>,
    /// Every request served, in the order answered.
    log: Mutex<Vec<RequestRecord>>,
}

/// The client sockets of open connections, by the address of their relay connection to `tiny_http`.
#[derive(Debug, Default)]
struct Gate {
    /// Client sockets by relay address, each with the serial number of its connection (an address can be reused
    /// by a later connection once the first has closed).
    clients: Mutex<HashMap<SocketAddr, (u64, TcpStream)>>,
    /// The serial number of the next connection.
    serial: AtomicU64,
}

impl Gate {
    /// Registers a client connection relayed from `relay`; returns its serial number.
    fn register(&self, relay: SocketAddr, client: TcpStream) -> u64 {
        let serial = self.serial.fetch_add(1, Ordering::SeqCst);
        lock(&self.clients).insert(relay, (serial, client));
        serial
    }

    /// Forgets the connection `serial` relayed from `relay` (and not a later one from the same address).
    fn forget(&self, relay: SocketAddr, serial: u64) {
        let mut clients = lock(&self.clients);
        if clients
            .get(&relay)
            .is_some_and(|(registered, _)| *registered == serial)
        {
            clients.remove(&relay);
        }
    }

    /// Closes the client connection relayed from `relay` without writing anything more to it.
    fn kill(&self, relay: SocketAddr) {
        if let Some((_, client)) = lock(&self.clients).remove(&relay) {
            client.shutdown(Shutdown::Both).ok();
        }
    }

    /// Closes every client connection.
    fn close_all(&self) {
        for (_, (_, client)) in lock(&self.clients).drain() {
            client.shutdown(Shutdown::Both).ok();
        }
    }
}

/// A running server: stops, closing its connections, when dropped.
pub(crate) struct Server {
    /// `http://127.0.0.1:PORT`.
    base_url: String,
    /// The public listening address.
    front: SocketAddr,
    /// Faults and the request log.
    shared: Arc<Shared>,
    /// Open client connections.
    gate: Arc<Gate>,
    /// Set when the server stops.
    stop: Arc<AtomicBool>,
    /// The acceptor and the workers.
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Listens on `127.0.0.1:port` (0 = any free port) and serves `service` until dropped.
    pub(crate) fn start(port: u16, service: &Arc<dyn Service>) -> io::Result<Server> {
        let front_listener = TcpListener::bind(("127.0.0.1", port))?;
        let front = front_listener.local_addr()?;
        let backend = Arc::new(tiny_http::Server::http("127.0.0.1:0").map_err(io::Error::other)?);
        let backend_addr = backend
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("the HTTP server is not listening on an IP address"))?;
        let base_url = format!("http://{front}");
        let shared = Arc::new(Shared::default());
        let gate = Arc::new(Gate::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut server = Server {
            base_url,
            front,
            shared,
            gate,
            stop,
            threads: Vec::new(),
        };

        let (gate, stop) = (Arc::clone(&server.gate), Arc::clone(&server.stop));
        server.threads.push(
            thread::Builder::new()
                .name("emulator-accept".into())
                .spawn(move || accept(&front_listener, backend_addr, &gate, &stop))?,
        );
        for index in 0..WORKERS {
            let worker = Worker {
                backend: Arc::clone(&backend),
                service: Arc::clone(service),
                shared: Arc::clone(&server.shared),
                gate: Arc::clone(&server.gate),
                stop: Arc::clone(&server.stop),
                base_url: server.base_url.clone(),
            };
            server.threads.push(
                thread::Builder::new()
                    .name(format!("emulator-worker-{index}"))
                    .spawn(move || worker.run())?,
            );
        }
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Replaces the faults to inject.
    pub(crate) fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }

    /// The faults not yet consumed.
    pub(crate) fn faults(&self) -> Faults {
        lock(&self.shared.faults).clone()
    }

    /// Every request served so far.
    pub(crate) fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).clone()
    }

    /// Forgets the requests served so far.
    pub(crate) fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor, which then sees `stop`.
        if let Ok(wake) = TcpStream::connect(self.front) {
            wake.shutdown(Shutdown::Both).ok();
        }
        self.gate.close_all();
        for thread in self.threads.drain(..) {
            thread.join().ok();
        }
        self.gate.close_all();
    }
}

/// Accepts client connections and relays each to the backend until `stop`.
fn accept(listener: &TcpListener, backend: SocketAddr, gate: &Arc<Gate>, stop: &AtomicBool) {
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(client) = client else { continue };
        relay(client, backend, gate).ok();
    }
}

/// Connects a client to the backend and starts the two pumps between them.
fn relay(client: TcpStream, backend: SocketAddr, gate: &Arc<Gate>) -> io::Result<()> {
    let upstream = TcpStream::connect(backend)?;
    client.set_nodelay(true)?;
    upstream.set_nodelay(true)?;
    let key = upstream.local_addr()?;
    let (client_in, upstream_out) = (client.try_clone()?, upstream.try_clone()?);
    let serial = gate.register(key, client.try_clone()?);
    let spawned = thread::Builder::new()
        .name("emulator-relay-in".into())
        .spawn(move || pump(&client_in, &upstream_out));
    if let Err(error) = spawned {
        gate.forget(key, serial);
        return Err(error);
    }
    let gate = Arc::clone(gate);
    let spawned = thread::Builder::new()
        .name("emulator-relay-out".into())
        .spawn(move || {
            pump(&upstream, &client);
            gate.forget(key, serial);
        });
    spawned.map(drop)
}

/// Copies bytes until `from` ends, then ends `to`'s writing side.
fn pump(from: &TcpStream, to: &TcpStream) {
    let (mut reader, mut writer) = (from, to);
    io::copy(&mut reader, &mut writer).ok();
    to.shutdown(Shutdown::Write).ok();
}

/// One worker thread: takes requests from the backend and answers them.
struct Worker {
    /// The parser and its queue of requests.
    backend: Arc<tiny_http::Server>,
    /// The service answering.
    service: Arc<dyn Service>,
    /// Faults and the request log.
    shared: Arc<Shared>,
    /// Open client connections, to drop one.
    gate: Arc<Gate>,
    /// Set when the server stops.
    stop: Arc<AtomicBool>,
    /// `http://127.0.0.1:PORT`.
    base_url: String,
}

impl Worker {
    /// Serves until the server stops.
    fn run(&self) {
        while !self.stop.load(Ordering::SeqCst) {
            if let Ok(Some(request)) = self.backend.recv_timeout(POLL) {
                self.serve(request);
            }
        }
    }

    /// Serves one request: faults, the service, the delay, the log, then the answer (or none).
    fn serve(&self, mut request: tiny_http::Request) {
        let (path, query) = match request.url().split_once('?') {
            Some((path, query)) => (path.to_owned(), query.to_owned()),
            None => (request.url().to_owned(), String::new()),
        };
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|header| {
                (
                    header.field.as_str().as_str().to_owned(),
                    header.value.as_str().to_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        let relay = request.remote_addr().copied();
        if request.as_reader().read_to_end(&mut body).is_err() {
            self.drop_connection(request, relay);
            return;
        }
        let incoming = Incoming {
            method: request.method().as_str().to_ascii_uppercase(),
            path,
            query,
            headers,
            body,
            base_url: self.base_url.clone(),
        };

        let (fault, delay) = {
            let mut faults = lock(&self.shared.faults);
            (faults.take(), faults.delay_ms)
        };
        let reply = match fault {
            Some(Injected::Drop) => Reply::Drop,
            Some(fault) => Reply::Respond(self.service.fault(&incoming, &fault)),
            None => self.service.handle(&incoming, &self.shared.faults),
        };
        if delay > 0 {
            thread::sleep(Duration::from_millis(delay));
        }
        let mut record = RequestRecord {
            if_match: incoming.header("If-Match").map(str::to_owned),
            method: incoming.method,
            path: incoming.path,
            query: incoming.query,
            headers: incoming.headers,
            body: String::from_utf8_lossy(&incoming.body).into_owned(),
            status: match &reply {
                Reply::Respond(response) => Some(response.status),
                Reply::Drop => None,
            },
        };
        self.service.redact(&mut record);
        lock(&self.shared.log).push(record);

        match reply {
            Reply::Respond(response) => {
                let mut answer =
                    tiny_http::Response::from_data(response.body).with_status_code(response.status);
                for (name, value) in response.headers {
                    if let Ok(header) =
                        tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
                    {
                        answer.add_header(header);
                    }
                }
                request.respond(answer).ok();
            }
            Reply::Drop => self.drop_connection(request, relay),
        }
    }

    /// Closes the client's connection, then lets go of the request without writing to it.
    fn drop_connection(&self, request: tiny_http::Request, relay: Option<SocketAddr>) {
        if let Some(relay) = relay {
            self.gate.kill(relay);
        }
        drop(request.into_writer());
    }
}
