//! LISTEN/NOTIFY through the blocking pool, as `listen_notify.rs` for the
//! async one: order and completeness under several sending threads, the
//! loss of the listener's session, payload limits, quoted channel names,
//! and channels changed while the listener runs.

mod common;

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    DEADLINE, database, eventually_blocking, ok, psql, sessions_psql, tagged_url, unique,
};
use tidepool_sync::{Listener, ListenerEvent, Notification, Pool};

fn pool(url: &str, max_size: usize) -> Pool {
    ok(Pool::builder(url)
        .min_size(0)
        .max_size(max_size)
        .worker_threads(1)
        .timeout(Duration::from_secs(20))
        .build())
}

fn next_notification(listener: &mut Listener) -> Notification {
    match ok(listener.recv_timeout(DEADLINE)) {
        Some(ListenerEvent::Notification(notification)) => notification,
        Some(other) => panic!("expected a notification, got {other:?}"),
        None => panic!("no notification within {DEADLINE:?}"),
    }
}

#[test]
fn ten_thousand_notifications_from_four_threads_arrive_in_order_and_none_is_lost() {
    let db = database();
    let (_, url) = tagged_url(&db, "sync_listen_bulk");
    let pool = pool(&url, 4);
    let channel = unique("sync_bulk");
    let mut listener = ok(pool.listener());
    ok(listener.listen(&channel));

    const SENDERS: usize = 4;
    const EACH: usize = 2_500;
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let pool = pool.clone();
            let channel = channel.clone();
            thread::spawn(move || {
                for i in 0..EACH {
                    ok(pool.notify(&channel, &format!("{sender}:{i}")));
                }
            })
        })
        .collect();

    let mut next_of: HashMap<usize, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for received in 0..SENDERS * EACH {
        let left = deadline.saturating_duration_since(Instant::now());
        let notification = match ok(listener.recv_timeout(left)) {
            Some(ListenerEvent::Notification(n)) => n,
            Some(other) => panic!("the connection stayed up, yet: {other:?}"),
            None => panic!("only {received} of 10000 notifications arrived"),
        };
        let (sender, i) = notification.payload().split_once(':').expect("sender:i");
        let (sender, i): (usize, usize) = (sender.parse().unwrap(), i.parse().unwrap());
        let expected = next_of.entry(sender).or_default();
        assert_eq!(i, *expected, "sender {sender}'s notifications out of order");
        *expected += 1;
    }
    for sender in senders {
        sender.join().expect("a sender");
    }
    assert!(next_of.values().all(|&n| n == EACH), "{next_of:?}");
    assert!(listener.try_recv().is_none(), "more than was sent arrived");
}

#[test]
fn a_terminated_blocking_listener_reconnects_reports_the_gap_and_delivers_again() {
    let db = database();
    let (listener_app, listener_url) = tagged_url(&db, "sync_listen_kill");
    let (_, sender_url) = tagged_url(&db, "sync_listen_kill_send");
    let listening = pool(&listener_url, 1);
    let sending = pool(&sender_url, 1);
    let channel = unique("sync_gap");

    let mut listener = ok(listening.listener());
    ok(listener.listen(&channel));
    assert_eq!(listening.stats().listeners, 1);
    ok(sending.notify(&channel, "before"));
    assert_eq!(next_notification(&mut listener).payload(), "before");

    let out = psql(
        &db,
        &format!(
            "select bool_and(pg_terminate_backend(pid)) from pg_stat_activity \
             where application_name = '{listener_app}'"
        ),
    );
    assert_eq!(out, "t");
    match ok(listener.recv_timeout(DEADLINE)) {
        Some(event) => assert!(event.is_reconnected(), "{event:?}"),
        None => panic!("no Reconnected event within {DEADLINE:?}"),
    }
    eventually_blocking("the listener is back on the server", || {
        sessions_psql(&db, &listener_app) == 1
    });
    ok(sending.notify(&channel, "after"));
    assert_eq!(next_notification(&mut listener).payload(), "after");

    drop(listener);
    eventually_blocking("the listener's session closes", || {
        sessions_psql(&db, &listener_app) == 0
    });
    assert_eq!(listening.stats().listeners, 0);
}

#[test]
fn blocking_payloads_quoted_names_and_channel_changes() {
    let db = database();
    let (_, url) = tagged_url(&db, "sync_listen_misc");
    let pool = pool(&url, 2);
    let tag = unique("sq");
    let (quoted, plain) = (format!("Say \"hi\" {tag}"), format!("plain_{tag}"));
    let mut listener = ok(pool.listener());
    ok(listener.listen(&quoted));

    // Payloads: 7999 bytes pass, 8000 are the server's error.
    let longest = "y".repeat(7999);
    ok(pool.notify(&quoted, &longest));
    let n = next_notification(&mut listener);
    assert_eq!(
        (n.channel(), n.payload()),
        (quoted.as_str(), longest.as_str())
    );
    let error = pool
        .notify(&quoted, &"y".repeat(8000))
        .expect_err("a payload of 8000 bytes");
    assert_eq!(error.code().map(|c| c.code()), Some("22023"), "{error}");
    common::assert_contains(&error.to_string(), &["payload string too long"]);

    // Channels added and removed while it runs.
    ok(listener.listen(&plain));
    ok(listener.unlisten(&quoted));
    ok(pool.notify(&quoted, "unheard"));
    ok(pool.notify(&plain, "heard"));
    let n = next_notification(&mut listener);
    assert_eq!((n.channel(), n.payload()), (plain.as_str(), "heard"));
    assert!(listener.listen("").expect_err("an empty name").is_config());

    // The iterator blocks for the next event.
    ok(pool.notify(&plain, "by iterator"));
    let event = listener.next().expect("an event");
    assert_eq!(
        event.as_notification().map(Notification::payload),
        Some("by iterator")
    );
    assert!(ok(listener.recv_timeout(Duration::from_millis(50))).is_none());
}
