//! The public types can cross threads and tasks.

mod common;

use common::FakeManager;
use tidepool_core::{Error, Pool, Pooled, Stats};

fn send_sync_static<T: Send + Sync + 'static>() {}
fn send_sync<T: Send + Sync>() {}
fn error<T: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn public_types_are_thread_safe() {
    send_sync_static::<Pool<FakeManager>>();
    send_sync::<Pooled<FakeManager>>();
    send_sync_static::<Error>();
    error::<Error>();
    send_sync::<Stats>();
}

#[test]
fn a_pool_handle_moves_into_a_spawned_task() {
    fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = Pool::builder(FakeManager::new()).build().unwrap();
        spawnable(async move {
            let conn = pool.get().await.unwrap();
            drop(conn);
        });
    });
}
