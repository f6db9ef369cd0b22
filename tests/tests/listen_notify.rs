//! LISTEN/NOTIFY through the async pool: a listener on a connection of its
//! own receives every notification in order, survives the loss of its
//! session (saying that notifications may have been missed), takes
//! payloads up to the server's limit and channel names that need quoting,
//! and changes channels while it runs.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{DEADLINE, Monitor, database, eventually, ok, tagged_url, unique};
use tidepool_async::{Listener, ListenerEvent, Notification, Pool};

/// Builds a pool with no idle connections of its own (min_size 0), so that
/// the server shows the listener's session alone under its name.
fn pool(url: &str, max_size: usize) -> Pool {
    ok(Pool::builder(url)
        .min_size(0)
        .max_size(max_size)
        .timeout(Duration::from_secs(20))
        .build())
}

/// The next event within the test's deadline; panics if none comes.
async fn next_event(listener: &mut Listener) -> ListenerEvent {
    ok(listener.recv_timeout(DEADLINE).await)
        .unwrap_or_else(|| panic!("no event within {DEADLINE:?}"))
}

/// The next event, which must be a notification.
async fn next_notification(listener: &mut Listener) -> Notification {
    match next_event(listener).await {
        ListenerEvent::Notification(notification) => notification,
        other => panic!("expected a notification, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_notifications_from_four_senders_arrive_in_order_and_none_is_lost() {
    let db = database();
    let (_, url) = tagged_url(&db, "listen_bulk");
    let pool = pool(&url, 4);
    let channel = unique("bulk");
    let mut listener = ok(pool.listener().await);
    ok(listener.listen(&channel).await);

    const SENDERS: usize = 4;
    const EACH: usize = 2_500;
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let pool = pool.clone();
            let channel = channel.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    ok(pool.notify(&channel, &format!("{sender}:{i}")).await);
                }
            })
        })
        .collect();

    let mut next_of: HashMap<usize, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for received in 0..SENDERS * EACH {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = ok(listener.recv_timeout(left).await)
            .unwrap_or_else(|| panic!("only {received} of 10000 notifications arrived"));
        let notification = match event {
            ListenerEvent::Notification(n) => n,
            other => panic!("the connection stayed up, yet: {other:?}"),
        };
        assert_eq!(notification.channel(), channel);
        let (sender, i) = notification
            .payload()
            .split_once(':')
            .expect("a payload sender:i");
        let (sender, i): (usize, usize) = (sender.parse().unwrap(), i.parse().unwrap());
        let expected = next_of.entry(sender).or_default();
        assert_eq!(i, *expected, "sender {sender}'s notifications out of order");
        *expected += 1;
    }
    for sender in senders {
        sender.await.expect("a sender");
    }
    assert_eq!(next_of.len(), SENDERS);
    assert!(next_of.values().all(|&n| n == EACH), "{next_of:?}");
    assert!(listener.try_recv().is_none(), "more than was sent arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_listener_reconnects_reports_the_gap_and_delivers_again() {
    let db = database();
    let (listener_app, listener_url) = tagged_url(&db, "listen_kill");
    let (_, sender_url) = tagged_url(&db, "listen_kill_send");
    let listening = pool(&listener_url, 1);
    let sending = pool(&sender_url, 1);
    let monitor = Monitor::connect(db.url()).await;
    let channel = unique("gap");

    let mut listener = ok(listening.listener().await);
    ok(listener.listen(&channel).await);
    assert_eq!(listening.stats().listeners, 1);
    assert_eq!(listening.stats().pool_size, 0, "not one of the pool's");
    monitor.wait_sessions(&listener_app, 1).await;
    ok(sending.notify(&channel, "before").await);
    assert_eq!(next_notification(&mut listener).await.payload(), "before");

    let terminated: bool = monitor
        .client()
        .query_one(
            "select bool_and(pg_terminate_backend(pid)) from pg_stat_activity \
             where application_name = $1",
            &[&listener_app],
        )
        .await
        .expect("terminate")
        .get(0);
    assert!(terminated);

    // The gap is reported: the next event, before any notification.
    match ok(listener.recv_timeout(DEADLINE).await) {
        Some(ListenerEvent::Reconnected {
            down_for, reason, ..
        }) => {
            assert!(down_for < DEADLINE, "{down_for:?}");
            assert!(!reason.is_empty());
        }
        Some(other) => panic!("expected Reconnected, got {other:?}"),
        None => panic!("no Reconnected event within {DEADLINE:?}"),
    }
    // Listening again on the new session, as one connection.
    monitor.wait_sessions(&listener_app, 1).await;
    assert_eq!(listening.stats().listeners, 1);
    for i in 0..10 {
        ok(sending.notify(&channel, &format!("after {i}")).await);
    }
    for i in 0..10 {
        assert_eq!(
            next_notification(&mut listener).await.payload(),
            format!("after {i}")
        );
    }

    drop(listener);
    eventually("the listener's session closes", async || {
        monitor.sessions(&listener_app).await == 0
    })
    .await;
    assert_eq!(listening.stats().listeners, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_up_to_7999_bytes_arrive_and_8000_is_the_servers_error() {
    let db = database();
    let (_, url) = tagged_url(&db, "listen_payload");
    let pool = pool(&url, 2);
    let channel = unique("payload");
    let mut listener = ok(pool.listener().await);
    ok(listener.listen(&channel).await);

    let longest = "é".repeat(3999) + "x"; // 7999 bytes, multi-byte characters
    assert_eq!(longest.len(), 7999);
    ok(pool.notify(&channel, &longest).await);
    assert_eq!(next_notification(&mut listener).await.payload(), longest);
    ok(pool.notify(&channel, "").await);
    assert_eq!(next_notification(&mut listener).await.payload(), "");

    for size in [8000, 100_000] {
        let error = pool
            .notify(&channel, &"x".repeat(size))
            .await
            .expect_err("the server accepted a payload of 8000 bytes or more");
        assert_eq!(error.code().map(|c| c.code()), Some("22023"), "{error}");
        common::assert_contains(&error.to_string(), &["payload string too long"]);
    }
    // Nothing of the refused payloads arrived, and the pool is fine.
    ok(pool.notify(&channel, "still fine").await);
    assert_eq!(
        next_notification(&mut listener).await.payload(),
        "still fine"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_names_that_need_quoting_mean_themselves() {
    let db = database();
    let (_, url) = tagged_url(&db, "listen_quote");
    let pool = pool(&url, 2);
    let mut listener = ok(pool.listener().await);
    let tag = unique("q");
    let names = [
        format!("Mixed{tag}"),
        format!("with space {tag}"),
        format!("say \"hi\" {tag}"),
        format!("it's {tag}"),
        format!("ünï {tag}; drop table x"),
    ];
    for name in &names {
        ok(listener.listen(name).await);
    }
    for name in &names {
        ok(pool.notify(name, name).await);
        let notification = next_notification(&mut listener).await;
        assert_eq!(notification.channel(), name);
        assert_eq!(notification.payload(), name);
    }
    // Case matters: the lower-case channel is another one.
    ok(pool.notify(&names[0].to_lowercase(), "other").await);
    ok(pool.notify(&names[1], "sentinel").await);
    assert_eq!(next_notification(&mut listener).await.payload(), "sentinel");

    for bad in ["", "a\0b", &"x".repeat(64)] {
        let error = listener.listen(bad).await.expect_err("a bad channel name");
        assert!(error.is_config(), "{error}");
        let error = pool.notify(bad, "x").await.expect_err("a bad channel name");
        assert!(error.is_config(), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_are_added_and_removed_while_the_listener_runs() {
    let db = database();
    let (_, url) = tagged_url(&db, "listen_change");
    let pool = pool(&url, 2);
    let (a, b) = (unique("chan_a"), unique("chan_b"));
    let mut listener = ok(pool.listener().await);

    ok(pool.notify(&a, "unheard").await); // not listened yet
    ok(listener.listen(&a).await);
    ok(pool.notify(&a, "a1").await);
    let n = next_notification(&mut listener).await;
    assert_eq!((n.channel(), n.payload()), (a.as_str(), "a1"));

    ok(listener.listen(&b).await);
    ok(listener.listen(&b).await); // twice is harmless
    ok(pool.notify(&b, "b1").await);
    ok(pool.notify(&a, "a2").await);
    let n = next_notification(&mut listener).await;
    assert_eq!((n.channel(), n.payload()), (b.as_str(), "b1"));
    let n = next_notification(&mut listener).await;
    assert_eq!((n.channel(), n.payload()), (a.as_str(), "a2"));

    ok(listener.unlisten(&a).await);
    ok(pool.notify(&a, "a3").await);
    ok(pool.notify(&b, "b2").await);
    let n = next_notification(&mut listener).await;
    assert_eq!(
        (n.channel(), n.payload()),
        (b.as_str(), "b2"),
        "a was unlistened"
    );
    ok(listener.unlisten("never listened").await);
    assert!(listener.try_recv().is_none());
}
