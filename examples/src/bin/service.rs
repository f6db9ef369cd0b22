//! The web service: a JSON API whose handlers share one async pool, with
//! Prometheus metrics, statistics and a live dashboard of the pool.
//!
//! ```text
//! cargo run -p tidepool-examples --bin service [-- --listen 127.0.0.1:8080 --config examples/service.toml]
//! ```
//!
//! The listen address comes from `--listen`, else `SERVICE_LISTEN`, else
//! 127.0.0.1:8080 (port 0 picks a free port). The pool's settings come
//! from the settings file (`--config`, `examples/service.toml` by default)
//! and `TIDEPOOL_*` environment variables. Without a connection in them
//! it uses `DATABASE_URL`, or else starts a private PostgreSQL server for
//! the length of the run. Ctrl-C stops it.
//!
//! The connection may name a primary and its standbys, as in
//! `DATABASE_URL=postgresql://app@db1,db2/app?target_session_attrs=read-write`:
//! the pool writes to whichever is the primary and follows a failover
//! without a restart.

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use tidepool_async::{Pool, Settings, redact_dsn};
use tidepool_examples::service::{DEFAULT_LISTEN, Service, install_prometheus};

/// The prefix of the environment variables that override the settings file.
const ENV_PREFIX: &str = "TIDEPOOL";

/// What the command line and the environment ask for.
struct Options {
    listen: SocketAddr,
    config: PathBuf,
}

impl Options {
    fn parse() -> Result<Self, Box<dyn Error>> {
        let mut listen = match std::env::var("SERVICE_LISTEN") {
            Ok(text) => parse_address(&text)?,
            Err(_) => DEFAULT_LISTEN,
        };
        let mut config = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/service.toml"));
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--listen" => listen = parse_address(&args.next().ok_or("--listen needs ADDR")?)?,
                "--config" => config = args.next().ok_or("--config needs FILE")?.into(),
                "--help" | "-h" => {
                    println!(
                        "usage: service [--listen ADDR] [--config FILE]\n\
                         ADDR defaults to $SERVICE_LISTEN, else {DEFAULT_LISTEN}; port 0 picks a free port.\n\
                         FILE defaults to {}; {ENV_PREFIX}_* variables override it.",
                        config.display()
                    );
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?}; try --help").into()),
            }
        }
        Ok(Self { listen, config })
    }
}

fn parse_address(text: &str) -> Result<SocketAddr, Box<dyn Error>> {
    text.parse()
        .map_err(|e| format!("listen address {text:?}: {e} (expected e.g. 127.0.0.1:8080)").into())
}

fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let started = Instant::now();
    let options = Options::parse()?;
    let mut settings = Settings::load(Some(&options.config), Some(ENV_PREFIX))?;
    println!(
        "Settings from {} and {ENV_PREFIX}_* variables.",
        options.config.display()
    );

    // Kept until the end: dropping it stops the private server, if any.
    let mut database = None;
    let connection = &settings.connection;
    if connection.url.is_none() && connection.host.is_none() {
        let db = tidepool_examples::database_url()?;
        settings.connection.url = Some(db.url().to_owned());
        database = Some(db);
    }
    let url = settings.connection.connection_string()?;
    println!("Database: {}", redact_dsn(&url));

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(serve(settings, options.listen, started))?;
    drop(runtime);
    if database.take().is_some_and(|db| db.server().is_some()) {
        println!("Private PostgreSQL server stopped and removed.");
    }
    Ok(())
}

async fn serve(
    settings: Settings,
    listen: SocketAddr,
    started: Instant,
) -> Result<(), Box<dyn Error>> {
    // Before the pool is built: a pool registers its metrics when built.
    let metrics = install_prometheus()?;
    let pool = Pool::from_settings(&settings)?;
    pool.wait().await?;
    let config = pool.config();
    println!(
        "Pool {:?} ready: {} connections open (min_size {}, max_size {}, timeout {:?}).",
        config.name,
        pool.stats().pool_size,
        config.min_size,
        config.max_size,
        config.timeout
    );
    let service = Service::start(pool.clone(), Some(metrics)).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let address = listener.local_addr()?;
    let shown = if address.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), address.port())
    } else {
        address
    };
    println!("Ready after {:.1?}.", started.elapsed());
    println!();
    println!(
        "  Dashboard:  http://{shown}/   (press \"Start a burst\" to watch the pool saturate)"
    );
    println!(
        "  API:        curl -s -X POST http://{shown}/api/todos -H 'content-type: application/json' -d '{{\"title\":\"try tidepool\"}}'"
    );
    println!("              curl -s 'http://{shown}/api/todos?limit=10'");
    println!("  Pool:       curl -s http://{shown}/stats   |   curl -s http://{shown}/metrics");
    println!("  Load:       curl -s -X POST 'http://{shown}/burst?requests=400&sleep_ms=40'");
    println!();
    println!("Press Ctrl-C to stop.");
    service
        .serve(listener, async {
            let _ = tokio::signal::ctrl_c().await;
            println!("\nCtrl-C: finishing the requests in progress...");
        })
        .await?;
    pool.close();
    let stats = pool.stats();
    println!(
        "Stopped. The pool served {} checkouts ({} waited, {} timed out, {} turned away).",
        stats.requests_num, stats.requests_queued, stats.requests_timeouts, stats.requests_rejected
    );
    Ok(())
}
