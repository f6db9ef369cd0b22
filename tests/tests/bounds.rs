//! The public types can be shared and moved between threads and tasks, as
//! their users need: pools and guards across `tokio::spawn` and threads,
//! errors and rows through channels. A type that lost `Send` or `Sync`
//! fails to compile here.

use tidepool_async as a;
use tidepool_sync as s;

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn both<T: Send + Sync>() {}

/// A closure factory of the kind users write.
type Closure = fn(a::Row) -> Result<i32, a::RowError>;

#[test]
fn async_types() {
    both::<a::Pool>();
    both::<a::Pool<a::DictRow>>();
    both::<a::Pool<a::ClassRow<String>>>();
    both::<a::Pool<Closure>>();
    both::<a::PoolBuilder>();
    both::<a::PooledConnection>();
    both::<a::PooledConnection<a::JsonRow>>();
    both::<a::Connection>();
    both::<a::Connection<a::ScalarRow<i64>>>();
    both::<a::Transaction<'static>>();
    both::<a::Transaction<'static, a::DictRow>>();
    send::<a::Cursor<'static>>();
    sync::<a::Cursor<'static>>();
    both::<a::Error>();
    both::<a::RowError>();
    both::<a::Dict>();
    both::<a::Value>();
    both::<a::Stats>();
    both::<a::Settings>();
    both::<a::ReplicaSet>();
    both::<a::ReplicaSetBuilder>();
    both::<a::ReplicaSetStats>();
}

/// Compiled, never run: the futures of a checkout, a query and a
/// transaction can move to another thread (`tokio::spawn` needs it).
#[allow(dead_code)]
fn async_futures_are_send(pool: a::Pool<a::DictRow>) {
    fn future_is_send<F: std::future::Future + Send>(_: F) {}
    future_is_send(async move {
        let mut conn = pool.get().await?;
        let _ = conn.query("SELECT 1", &[]).await?;
        let tx = conn.transaction().await?;
        let _ = tx
            .query_with(&a::scalar_row::<i32>(), "SELECT 1", &[])
            .await?;
        tx.commit().await
    });
}

#[test]
fn blocking_types() {
    both::<s::Pool>();
    both::<s::Pool<s::DictRow>>();
    both::<s::PoolBuilder>();
    both::<s::PooledConnection>();
    both::<s::PooledConnection<s::JsonRow>>();
    both::<s::Connection>();
    both::<s::Transaction<'static>>();
    both::<s::Cursor<'static>>();
}
