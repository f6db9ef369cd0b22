//! A TCP relay between a client and a server, for network faults: a silent
//! network, connections cut, new connections refused.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::error::HarnessError;

/// How often a relaying thread looks at the controls while it waits for
/// bytes or for a thaw: the longest a freeze, a cut or the relay's end may
/// go unnoticed.
const POLL: Duration = Duration::from_millis(10);
/// How long the relay tries to reach the target for a new connection.
const TARGET_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The size of the buffer of each direction of a connection.
const BUFFER_SIZE: usize = 16 * 1024;

/// A TCP relay on `127.0.0.1` that forwards every connection it accepts to a
/// target address, with controls to inject network faults.
///
/// Point a client at [`port`](Relay::port) instead of the server's: every
/// connection the relay accepts is paired with a new connection to the
/// target, and bytes are copied both ways by two threads. The controls act
/// on all connections, current and future:
///
/// * [`freeze`](Relay::freeze) stops moving bytes in both directions while
///   keeping every socket open: the peers see a silent network (their
///   writes are acknowledged by the relay's kernel, nothing arrives), as
///   behind a stalled middlebox. New connections are still accepted, and are
///   silent too. [`thaw`](Relay::thaw) resumes, delivering what was held.
/// * [`cut`](Relay::cut) closes every current connection at once, on both
///   sides, without either peer saying goodbye; new connections are still
///   accepted.
/// * [`refuse`](Relay::refuse) closes new connections as soon as they are
///   accepted, as a server that went away would.
///
/// A connection whose target cannot be reached (the server is down) is
/// closed at once. When one side closes its connection, the relay closes
/// the other side.
///
/// Dropping the relay stops listening, closes every connection and joins
/// all its threads.
///
/// ```no_run
/// use tidepool_testdb::Relay;
///
/// let server = tidepool_testdb::private_server()?;
/// let relay = Relay::start(([127, 0, 0, 1], server.port()).into())?;
/// let url = format!("postgresql://postgres@127.0.0.1:{}/postgres", relay.port());
/// // ... connect a pool to `url`, then:
/// relay.freeze();
/// relay.thaw();
/// relay.cut();
/// assert!(relay.accepted() > 0);
/// # Ok::<(), tidepool_testdb::HarnessError>(())
/// ```
pub struct Relay {
    address: SocketAddr,
    controls: Arc<Controls>,
    acceptor: Option<JoinHandle<()>>,
}

/// What the relay's threads share.
struct Controls {
    target: SocketAddr,
    frozen: AtomicBool,
    refusing: AtomicBool,
    stopping: AtomicBool,
    accepted: AtomicUsize,
    next_id: AtomicU64,
    /// The two sockets of every live connection, so that `cut` and the
    /// relay's end can close them from outside their threads.
    live: Mutex<HashMap<u64, [TcpStream; 2]>>,
    /// The threads of the connections, joined when the relay is dropped.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Controls {
    fn live(&self) -> MutexGuard<'_, HashMap<u64, [TcpStream; 2]>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn threads(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.threads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes both sockets of every live connection; their threads notice
    /// that they are no longer registered and end.
    fn close_all(&self) {
        for (_, sockets) in self.live().drain() {
            for socket in &sockets {
                let _ = socket.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Relay {
    /// Starts a relay listening on `127.0.0.1` at a free port, forwarding to
    /// `target`.
    ///
    /// # Errors
    ///
    /// [`HarnessError::Io`] when no port can be bound or the listening
    /// thread cannot be started.
    pub fn start(target: SocketAddr) -> Result<Relay, HarnessError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| HarnessError::io("bind the relay to 127.0.0.1:0", e))?;
        let address = listener
            .local_addr()
            .map_err(|e| HarnessError::io("read the relay's address", e))?;
        let controls = Arc::new(Controls {
            target,
            frozen: AtomicBool::new(false),
            refusing: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            live: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
        });
        let shared = Arc::clone(&controls);
        let acceptor = thread::Builder::new()
            .name(format!("relay-{}", address.port()))
            .spawn(move || accept_loop(&listener, &shared))
            .map_err(|e| HarnessError::io("start the relay's thread", e))?;
        Ok(Relay {
            address,
            controls,
            acceptor: Some(acceptor),
        })
    }

    /// The port the relay listens on.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The address the relay listens on (`127.0.0.1:port`).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address the relay forwards to.
    pub fn target(&self) -> SocketAddr {
        self.controls.target
    }

    /// Stops moving bytes in both directions, on every connection, until
    /// [`thaw`](Relay::thaw); sockets stay open.
    pub fn freeze(&self) {
        self.controls.frozen.store(true, SeqCst);
    }

    /// Moves bytes again after [`freeze`](Relay::freeze), starting with
    /// those held meanwhile.
    pub fn thaw(&self) {
        self.controls.frozen.store(false, SeqCst);
    }

    /// Whether the relay is frozen.
    pub fn is_frozen(&self) -> bool {
        self.controls.frozen.load(SeqCst)
    }

    /// Closes every current connection on both sides at once; bytes held
    /// by a freeze are lost. New connections are still accepted, unless
    /// [`refuse`](Relay::refuse) says otherwise.
    pub fn cut(&self) {
        self.controls.close_all();
    }

    /// Closes new connections as soon as they are accepted (`true`), or
    /// relays them again (`false`). Current connections are not affected.
    pub fn refuse(&self, refuse: bool) {
        self.controls.refusing.store(refuse, SeqCst);
    }

    /// How many connections the relay has accepted, refused ones included.
    pub fn accepted(&self) -> usize {
        self.controls.accepted.load(SeqCst)
    }

    /// How many connections the relay is relaying now.
    pub fn active(&self) -> usize {
        self.controls.live().len()
    }
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("address", &self.address)
            .field("target", &self.controls.target)
            .field("frozen", &self.is_frozen())
            .field("refusing", &self.controls.refusing.load(SeqCst))
            .field("accepted", &self.accepted())
            .field("active", &self.active())
            .finish()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.controls.stopping.store(true, SeqCst);
        // Wake the acceptor, blocked in accept(), with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.controls.close_all();
        let threads = std::mem::take(&mut *self.controls.threads());
        for thread in threads {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, controls: &Arc<Controls>) {
    for client in listener.incoming() {
        if controls.stopping.load(SeqCst) {
            return;
        }
        let Ok(client) = client else {
            // A connection that failed before it was accepted; go on.
            continue;
        };
        controls.accepted.fetch_add(1, SeqCst);
        if controls.refusing.load(SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let shared = Arc::clone(controls);
        let spawned = thread::Builder::new()
            .name("relay-connection".to_owned())
            .spawn(move || relay_connection(client, &shared));
        let mut threads = controls.threads();
        threads.retain(|thread| !thread.is_finished());
        if let Ok(thread) = spawned {
            threads.push(thread);
        }
    }
}

/// Relays one accepted connection until both sides have closed it, it is
/// cut, or the relay stops.
fn relay_connection(client: TcpStream, controls: &Arc<Controls>) {
    let Ok(server) = TcpStream::connect_timeout(&controls.target, TARGET_CONNECT_TIMEOUT) else {
        // The target is unreachable: the client sees its connection closed.
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let id = controls.next_id.fetch_add(1, SeqCst);
    let (Ok(client_copy), Ok(server_copy), Ok(client_reader), Ok(server_reader)) = (
        client.try_clone(),
        server.try_clone(),
        client.try_clone(),
        server.try_clone(),
    ) else {
        return;
    };
    controls.live().insert(id, [client_copy, server_copy]);
    // The relay may have begun to stop before the registration.
    if controls.stopping.load(SeqCst) {
        controls.close_all();
    }
    let link = Link {
        id,
        controls: Arc::clone(controls),
    };
    let upstream = {
        let link = link.clone();
        thread::Builder::new()
            .name("relay-upstream".to_owned())
            .spawn(move || link.pump(client_reader, server))
    };
    let downstream = link.pump(server_reader, client);
    let upstream = match upstream {
        Ok(thread) => thread.join().unwrap_or(Flow::Aborted),
        Err(_) => Flow::Aborted,
    };
    if downstream == Flow::Aborted || upstream == Flow::Aborted {
        link.abort();
    }
    controls.live().remove(&id);
}

/// How one direction of a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    /// The sender closed its side; the close was passed on.
    Finished,
    /// A reset, a cut or the relay's end: the whole connection closes.
    Aborted,
}

/// One relayed connection, as its threads see it.
#[derive(Clone)]
struct Link {
    id: u64,
    controls: Arc<Controls>,
}

impl Link {
    /// Copies bytes from `from` to `to` while the relay is not frozen. A
    /// close by the sender is passed on as a close of the sending side
    /// (the other direction goes on, so that a peer may still read the
    /// answer to what it sent last); anything else closes both sockets.
    fn pump(&self, mut from: TcpStream, mut to: TcpStream) -> Flow {
        let _ = from.set_read_timeout(Some(POLL));
        let _ = to.set_write_timeout(Some(POLL));
        let mut buffer = vec![0u8; BUFFER_SIZE];
        let flow = (|| -> io::Result<Flow> {
            loop {
                self.wait_while_frozen()?;
                let read = match from.read(&mut buffer) {
                    Ok(0) => return Ok(Flow::Finished),
                    Ok(read) => read,
                    Err(e) if is_timeout(&e) => {
                        self.go_on()?;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                // Bytes read just before a freeze are held until the thaw.
                let mut pending = &buffer[..read];
                while !pending.is_empty() {
                    self.wait_while_frozen()?;
                    match to.write(pending) {
                        Ok(0) => return Err(ErrorKind::WriteZero.into()),
                        Ok(written) => pending = &pending[written..],
                        Err(e) if is_timeout(&e) => self.go_on()?,
                        Err(e) => return Err(e),
                    }
                }
            }
        })()
        .unwrap_or(Flow::Aborted);
        match flow {
            Flow::Finished => {
                let _ = to.shutdown(Shutdown::Write);
            }
            Flow::Aborted => self.abort(),
        }
        flow
    }

    fn wait_while_frozen(&self) -> io::Result<()> {
        while self.controls.frozen.load(SeqCst) {
            self.go_on()?;
            thread::sleep(POLL);
        }
        self.go_on()
    }

    /// An error when the connection was cut or the relay stops.
    fn go_on(&self) -> io::Result<()> {
        if self.controls.stopping.load(SeqCst) {
            Err(io::Error::other("the relay stopped"))
        } else if !self.controls.live().contains_key(&self.id) {
            Err(io::Error::other("the connection was cut"))
        } else {
            Ok(())
        }
    }

    /// Closes both sockets of the connection.
    fn abort(&self) {
        if let Some(sockets) = self.controls.live().remove(&self.id) {
            for socket in &sockets {
                let _ = socket.shutdown(Shutdown::Both);
            }
        }
    }
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
