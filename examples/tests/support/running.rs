//! The example service run in the test's process, on a free port of
//! 127.0.0.1, against the test database.

use std::net::SocketAddr;
use std::time::Duration;

use tidepool_async::Pool;
use tidepool_examples::service::{Service, install_prometheus};
use tokio::sync::oneshot;

/// The service and its pool, on a runtime of their own; stopped when
/// dropped.
pub(crate) struct RunningService {
    _runtime: tokio::runtime::Runtime,
    pub(crate) address: SocketAddr,
    pub(crate) pool: Pool,
    stop: Option<oneshot::Sender<()>>,
}

impl RunningService {
    /// Starts the service with a pool named `name` of at most `max_size`
    /// connections to `url`, a checkout timeout of 2 s, and the Prometheus
    /// recorder.
    pub(crate) fn start(url: &str, name: &str, max_size: usize) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let (stop, stopped) = oneshot::channel::<()>();
        let (address, pool) = runtime.block_on(async {
            // Before the pool: a pool registers its metrics when built.
            let metrics = install_prometheus().expect("the Prometheus recorder");
            let pool = Pool::builder(url)
                .name(name)
                .min_size(1)
                .max_size(max_size)
                .timeout(Duration::from_secs(2))
                .build()
                .expect("a pool");
            pool.wait().await.expect("the pool's first connection");
            let service = Service::start(pool.clone(), Some(metrics))
                .await
                .expect("the service");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a port");
            let address = listener.local_addr().expect("its address");
            tokio::spawn(async move {
                let _ = service
                    .serve(listener, async {
                        let _ = stopped.await;
                    })
                    .await;
            });
            (address, pool)
        });
        Self {
            _runtime: runtime,
            address,
            pool,
            stop: Some(stop),
        }
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.pool.close();
    }
}
