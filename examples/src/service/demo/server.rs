//! The service: the app's routes and the demo's, their state, and serving
//! them.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use serde_json::{Value, json};
use tidepool_async::Pool;
use tokio::net::TcpListener;

use super::burst::{BurstSettings, Bursts};
use super::dashboard;
use super::history::{self, History};
use super::stats::{config_json, stats_json};
use crate::service::app::{self, ApiError};

/// Where the service listens unless told otherwise.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

/// What the demo's handlers share: the pool, and what the dashboard shows.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) pool: Pool,
    history: History,
    bursts: Bursts,
    metrics: Option<PrometheusHandle>,
    /// Where the service can reach itself (for the bursts).
    own_address: OnceLock<SocketAddr>,
}

/// The web service around one pool.
#[derive(Clone, Debug)]
pub struct Service {
    app: Arc<App>,
}

impl Service {
    /// Creates the schema through `pool` and starts recording the pool's
    /// life for the dashboard. `metrics` renders `/metrics` (see
    /// [`install_prometheus`](super::install_prometheus)); without it,
    /// `/metrics` answers `404`.
    ///
    /// # Errors
    ///
    /// When the schema cannot be created.
    pub async fn start(
        pool: Pool,
        metrics: Option<PrometheusHandle>,
    ) -> Result<Self, tidepool_async::Error> {
        app::create_schema(&pool).await?;
        let app = Arc::new(App {
            pool,
            history: History::default(),
            bursts: Bursts::default(),
            metrics,
            own_address: OnceLock::new(),
        });
        let recorder = Arc::clone(&app);
        tokio::spawn(async move {
            history::record(recorder.pool.clone(), &recorder.history).await;
        });
        if let Some(handle) = app.metrics.clone() {
            let pool = app.pool.clone();
            tokio::spawn(async move {
                // Histograms keep their samples until upkeep folds them in.
                while !pool.is_closed() {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    handle.run_upkeep();
                }
            });
        }
        Ok(Self { app })
    }

    /// The routes: the app's ([`app::routes`]) and the demo's.
    pub fn router(&self) -> Router {
        let demo = Router::new()
            .route("/", get(dashboard::page))
            .route("/dashboard.js", get(dashboard::script))
            .route("/dashboard.css", get(dashboard::style))
            .route("/stats", get(stats))
            .route("/stats/series", get(series))
            .route("/metrics", get(metrics))
            .route("/burst", post(burst))
            .route("/api/sleep", get(sleep))
            .with_state(Arc::clone(&self.app));
        app::routes(self.app.pool.clone()).merge(demo)
    }

    /// Serves on `listener` until `shutdown` completes, then finishes the
    /// requests in progress.
    ///
    /// # Errors
    ///
    /// When the listener fails.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let mut address = listener.local_addr()?;
        if address.ip().is_unspecified() {
            address.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let _ = self.app.own_address.set(address);
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// `GET /stats`: the pool's statistics, its open connections (each with
/// the server it reached), its configuration, the last second's figures
/// and the last burst.
async fn stats(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({
        "pool": stats_json(&app.pool.stats()),
        "connections": app.pool.connections(),
        "last_second": app.history.latest(),
        "config": config_json(app.pool.config()),
        "burst": app.bursts.report(),
    }))
}

/// `GET /stats/series`: one point a second, oldest first.
async fn series(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({ "points": app.history.points() }))
}

/// `GET /metrics`: the Prometheus text format.
async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    match &app.metrics {
        Some(handle) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        ),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain")],
            "no Prometheus recorder installed\n".to_owned(),
        ),
    }
}

/// `POST /burst?requests=400&sleep_ms=40`: starts a load burst; `409` while
/// one runs.
async fn burst(
    State(app): State<Arc<App>>,
    Query(settings): Query<BurstSettings>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let settings = settings.validate().map_err(ApiError::bad_request)?;
    let Some(&address) = app.own_address.get() else {
        return Err(ApiError::bad_request("the service is not listening yet"));
    };
    let Some(report) = app.bursts.begin(settings) else {
        return Ok((
            StatusCode::CONFLICT,
            Json(json!({ "error": "a burst is running", "burst": app.bursts.report() })),
        ));
    };
    let runner = Arc::clone(&app);
    tokio::spawn(async move { runner.bursts.run(address, settings).await });
    Ok((StatusCode::ACCEPTED, Json(json!({ "burst": report }))))
}

/// The query of `/api/sleep`.
#[derive(Debug, Deserialize)]
struct SleepQuery {
    #[serde(default)]
    ms: u64,
}

/// `GET /api/sleep?ms=20`: holds a connection while the server sleeps.
async fn sleep(
    State(app): State<Arc<App>>,
    Query(query): Query<SleepQuery>,
) -> Result<Json<Value>, ApiError> {
    let seconds = query.ms.min(1_000) as f64 / 1000.0;
    let conn = app.pool.get().await?;
    conn.execute("SELECT pg_sleep($1)", &[&seconds]).await?;
    Ok(Json(json!({ "slept_ms": query.ms.min(1_000) })))
}
