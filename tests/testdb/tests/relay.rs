//! The TCP relay of the harness, in front of an echo server: bytes pass both
//! ways, a freeze stalls them and a thaw delivers them, a cut closes every
//! connection, refused connections close at once, and dropping the relay
//! ends everything.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use tidepool_testdb::Relay;

/// How long something that should happen soon may take.
const DEADLINE: Duration = Duration::from_secs(10);
/// How long to watch for bytes that must not arrive.
const SILENCE: Duration = Duration::from_millis(300);

/// A server that sends back what it receives, and closes its side when the
/// client closes its own. Its threads end with the process.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let address = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                loop {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buffer[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = stream.shutdown(Shutdown::Write);
            });
        }
    });
    address
}

/// A port on which nothing listens.
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap()
}

fn connect(relay: &Relay) -> TcpStream {
    let stream = TcpStream::connect(relay.address()).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// Reads exactly `len` bytes, within [`DEADLINE`].
fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    stream.read_exact(&mut bytes).unwrap();
    bytes
}

/// Asserts that nothing arrives on `stream` for [`SILENCE`].
fn assert_silent(stream: &mut TcpStream) {
    stream.set_read_timeout(Some(SILENCE)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("expected silence, got {other:?}"),
    }
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
}

/// Asserts that the peer closed `stream`: end of file or a reset, soon.
fn assert_closed(stream: &mut TcpStream) {
    let started = Instant::now();
    let mut buffer = [0u8; 64];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                break;
            }
            // Bytes sent before the close may still arrive first.
            Ok(_) => {}
            Err(e) => panic!("expected the connection to be closed: {e}"),
        }
        assert!(started.elapsed() < DEADLINE, "the connection stayed open");
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the close took {:?}",
        started.elapsed()
    );
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < DEADLINE,
            "timed out waiting until {what}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn bytes_pass_both_ways() {
    let relay = Relay::start(echo_server()).unwrap();
    assert_ne!(relay.port(), 0);
    let mut stream = connect(&relay);
    stream.write_all(b"hello").unwrap();
    assert_eq!(read_exactly(&mut stream, 5), b"hello");

    // More than the relay's buffers and the sockets' hold at once.
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut writer = stream.try_clone().unwrap();
    let sent = payload.clone();
    let sending = thread::spawn(move || writer.write_all(&sent).unwrap());
    assert_eq!(read_exactly(&mut stream, payload.len()), payload);
    sending.join().unwrap();
    assert_eq!(relay.accepted(), 1);
    assert_eq!(relay.active(), 1);
}

#[test]
fn a_close_is_passed_on_one_direction_at_a_time() {
    let relay = Relay::start(echo_server()).unwrap();
    let mut stream = connect(&relay);
    stream.write_all(b"last words").unwrap();
    // The client closes its sending side and still reads the answer, as
    // PostgreSQL's cancel request does.
    stream.shutdown(Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    assert_eq!(answer, b"last words");
    wait_until("the relay forgot the connection", || relay.active() == 0);
}

#[test]
fn a_freeze_stalls_every_connection_and_a_thaw_resumes_them() {
    let relay = Relay::start(echo_server()).unwrap();
    let mut before = connect(&relay);
    before.write_all(b"1").unwrap();
    assert_eq!(read_exactly(&mut before, 1), b"1");

    relay.freeze();
    assert!(relay.is_frozen());
    before.write_all(b"held").unwrap();
    assert_silent(&mut before);
    // A connection made during the freeze is accepted, and silent too.
    let mut during = connect(&relay);
    during.write_all(b"new").unwrap();
    assert_silent(&mut during);
    assert_silent(&mut before);
    assert_eq!(relay.accepted(), 2);

    relay.thaw();
    assert!(!relay.is_frozen());
    assert_eq!(read_exactly(&mut before, 4), b"held");
    assert_eq!(read_exactly(&mut during, 3), b"new");
    before.write_all(b"again").unwrap();
    assert_eq!(read_exactly(&mut before, 5), b"again");
}

#[test]
fn a_cut_closes_every_current_connection_and_new_ones_still_pass() {
    let relay = Relay::start(echo_server()).unwrap();
    let mut first = connect(&relay);
    let mut second = connect(&relay);
    for stream in [&mut first, &mut second] {
        stream.write_all(b"x").unwrap();
        assert_eq!(read_exactly(stream, 1), b"x");
    }
    assert_eq!(relay.active(), 2);

    relay.cut();
    assert_eq!(relay.active(), 0);
    assert_closed(&mut first);
    assert_closed(&mut second);

    let mut third = connect(&relay);
    third.write_all(b"y").unwrap();
    assert_eq!(read_exactly(&mut third, 1), b"y");
    assert_eq!(relay.accepted(), 3);
}

#[test]
fn a_cut_also_closes_frozen_connections() {
    let relay = Relay::start(echo_server()).unwrap();
    let mut stream = connect(&relay);
    stream.write_all(b"x").unwrap();
    assert_eq!(read_exactly(&mut stream, 1), b"x");
    relay.freeze();
    stream.write_all(b"lost").unwrap();
    relay.cut();
    assert_closed(&mut stream);
    relay.thaw();
    let mut fresh = connect(&relay);
    fresh.write_all(b"z").unwrap();
    assert_eq!(read_exactly(&mut fresh, 1), b"z");
}

#[test]
fn refused_connections_close_at_once_and_current_ones_go_on() {
    let relay = Relay::start(echo_server()).unwrap();
    let mut current = connect(&relay);
    // Accepted for sure once bytes went through.
    current.write_all(b"1").unwrap();
    assert_eq!(read_exactly(&mut current, 1), b"1");
    relay.refuse(true);
    let mut refused = connect(&relay);
    assert_closed(&mut refused);
    current.write_all(b"ok").unwrap();
    assert_eq!(read_exactly(&mut current, 2), b"ok");
    assert_eq!(relay.accepted(), 2);

    relay.refuse(false);
    let mut accepted = connect(&relay);
    accepted.write_all(b"in").unwrap();
    assert_eq!(read_exactly(&mut accepted, 2), b"in");
    assert_eq!(relay.accepted(), 3);
}

#[test]
fn a_connection_to_an_unreachable_target_is_closed() {
    let relay = Relay::start(closed_port()).unwrap();
    let mut stream = connect(&relay);
    assert_closed(&mut stream);
    assert_eq!(relay.accepted(), 1);
    assert_eq!(relay.active(), 0);
}

#[test]
fn dropping_the_relay_closes_its_connections_and_stops_listening() {
    let relay = Relay::start(echo_server()).unwrap();
    let address = relay.address();
    let mut open = connect(&relay);
    open.write_all(b"x").unwrap();
    assert_eq!(read_exactly(&mut open, 1), b"x");
    let mut frozen = connect(&relay);
    relay.freeze();
    frozen.write_all(b"y").unwrap();

    let started = Instant::now();
    drop(relay);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the drop took {:?}",
        started.elapsed()
    );
    assert_closed(&mut open);
    assert_closed(&mut frozen);
    assert!(
        TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err(),
        "the relay still listens"
    );
}
