//! What the run ran on: cores, CPU, PostgreSQL's version, the load.

use crate::end_to_end::connect;

/// The number of cores and the CPU's model.
pub(crate) fn cpu() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("machine: {cores} cores, {model}")
}

/// The load average now (Linux), for the record: the machine may be shared.
pub(crate) fn load() -> String {
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| {
            let fields: Vec<_> = text.split_whitespace().take(3).collect();
            (fields.len() == 3).then(|| fields.join(" "))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    format!("load average (1, 5, 15 min): {load}")
}

/// The server's version, asked of the server.
pub(crate) async fn server(url: &str) -> String {
    let version = async {
        let client = connect(url).await?;
        let row = client.query_one("SHOW server_version", &[]).await?;
        Ok::<String, crate::drive::BoxError>(row.get(0))
    };
    match version.await {
        Ok(version) => format!("server: PostgreSQL {version}"),
        Err(error) => format!("server: version unknown ({error})"),
    }
}
