//! Streaming replication between private servers: a standby made with
//! `pg_basebackup -R`, waiting for it to replay, promoting it, and turning
//! a stopped primary into a standby of the new one.

use std::fs;
use std::time::{Duration, Instant};

use crate::error::HarnessError;
use crate::process;
use crate::server::PgServer;

/// How long a standby may take to replay what its primary wrote, and a
/// promotion to finish.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);

impl PgServer {
    /// Starts a hot standby of this server: `pg_basebackup -R` into a new
    /// directory, then the standby on its own free port, streaming from
    /// this server. Returns once the standby accepts connections (it is
    /// consistent then). Like every [`PgServer`], dropping it stops it and
    /// deletes its directory.
    ///
    /// The standby has this server's settings (they come with the copy)
    /// and its own port and socket directory.
    ///
    /// # Errors
    ///
    /// [`HarnessError::CommandFailed`] when `pg_basebackup` fails (this
    /// server is not running, say), [`HarnessError::ServerStart`] when the
    /// standby does not start.
    ///
    /// ```no_run
    /// use tidepool_testdb::PgServer;
    ///
    /// let primary = PgServer::start()?;
    /// let standby = primary.start_standby()?;
    /// primary.psql("create table t (n int); insert into t values (1)")?;
    /// primary.wait_for_standby(&standby)?;
    /// assert_eq!(standby.psql("select n from t")?, "1");
    /// standby.promote()?;
    /// standby.psql("insert into t values (2)")?;
    /// # Ok::<(), tidepool_testdb::HarnessError>(())
    /// ```
    pub fn start_standby(&self) -> Result<PgServer, HarnessError> {
        let standby = PgServer::unstarted(self.binaries().clone(), self.account.clone())?;
        standby.copy_from(self)?;
        standby.configure_and_start(&[])
    }

    /// Waits until `standby` has replayed everything this server had
    /// committed when the call began (`pg_current_wal_lsn()` here against
    /// `pg_last_wal_replay_lsn()` there), for at most 30 s. The harness
    /// runs with `synchronous_commit = off`, where a commit's WAL may not
    /// be written yet: a synchronous commit of a
    /// transaction that writes WAL first writes it all out.
    ///
    /// # Errors
    ///
    /// [`HarnessError::Timeout`] with the standby's last replayed position,
    /// or a [`HarnessError::Psql`] error when either server does not answer.
    pub fn wait_for_standby(&self, standby: &PgServer) -> Result<(), HarnessError> {
        // A transaction that writes WAL (an xid alone writes none) and
        // commits synchronously flushes all WAL before it.
        self.psql(
            "set synchronous_commit = on; \
             select pg_catalog.pg_logical_emit_message(true, 'tidepool-tests', 'flush')",
        )?;
        let target = self.psql("select pg_current_wal_lsn()")?;
        let caught_up = format!("select coalesce(pg_last_wal_replay_lsn() >= '{target}', false)");
        let started = Instant::now();
        let done = process::wait_until(REPLICATION_TIMEOUT, || {
            standby.psql(&caught_up).is_ok_and(|answer| answer == "t")
        });
        if done {
            return Ok(());
        }
        Err(HarnessError::Timeout {
            waited_for: format!(
                "the standby on port {} to replay the primary's WAL up to {target}",
                standby.port()
            ),
            waited: started.elapsed(),
            last_seen: standby
                .psql("select pg_last_wal_replay_lsn()")
                .unwrap_or_else(|e| e.to_string()),
        })
    }

    /// Whether the server is a standby (`select pg_is_in_recovery()`).
    ///
    /// # Errors
    ///
    /// A [`HarnessError::Psql`] error when the server does not answer.
    pub fn is_in_recovery(&self) -> Result<bool, HarnessError> {
        Ok(self.psql("select pg_is_in_recovery()")? == "t")
    }

    /// Promotes this standby to a primary (`pg_ctl promote`) and waits, for
    /// at most 30 s, until `pg_is_in_recovery()` is false.
    ///
    /// # Errors
    ///
    /// [`HarnessError::CommandFailed`] when `pg_ctl promote` fails (the
    /// server is not a standby, say), [`HarnessError::Timeout`] when the
    /// promotion does not finish in time.
    pub fn promote(&self) -> Result<(), HarnessError> {
        {
            let _control = self.lock_control();
            let mut command = self.pg_ctl();
            command
                .arg("promote")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-w", "-t", "30"]);
            process::run(&mut command)?;
        }
        let started = Instant::now();
        let promoted = process::wait_until(REPLICATION_TIMEOUT, || {
            self.is_in_recovery().is_ok_and(|standby| !standby)
        });
        if promoted {
            Ok(())
        } else {
            Err(HarnessError::Timeout {
                waited_for: format!("the server on port {} to leave recovery", self.port()),
                waited: started.elapsed(),
                last_seen: match self.is_in_recovery() {
                    Ok(in_recovery) => format!("pg_is_in_recovery() = {in_recovery}"),
                    Err(e) => e.to_string(),
                },
            })
        }
    }

    /// Turns this server (a former primary, say) into a standby of
    /// `primary`, on the same port: stops it if it runs, replaces its data
    /// directory with a fresh `pg_basebackup -R` of `primary`, and starts
    /// it. Its own settings are replaced by `primary`'s (plus its port and
    /// socket directory).
    ///
    /// # Errors
    ///
    /// As [`start_standby`](PgServer::start_standby).
    pub fn rebuild_as_standby_of(&self, primary: &PgServer) -> Result<(), HarnessError> {
        let _control = self.lock_control();
        self.stop_immediately();
        fs::remove_dir_all(self.data_dir())
            .map_err(|e| HarnessError::io(format!("remove {}", self.data_dir().display()), e))?;
        self.copy_from(primary)?;
        let conf_path = self.data_dir().join("postgresql.conf");
        let base_conf = fs::read_to_string(&conf_path)
            .map_err(|e| HarnessError::io(format!("read {}", conf_path.display()), e))?;
        self.write_config(&base_conf, &[])?;
        self.start_postmaster().map_err(|failure| failure.error)
    }

    /// `pg_basebackup -R` of `primary` into this server's (absent) data
    /// directory.
    fn copy_from(&self, primary: &PgServer) -> Result<(), HarnessError> {
        let port = primary.port().to_string();
        let mut command = self.account.command(self.binaries().pg_basebackup());
        command
            .arg("-D")
            .arg(self.data_dir())
            .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"])
            .args(["-h", primary.host(), "-p", &port, "-U", "postgres"]);
        process::run(&mut command).map(drop)
    }
}
