//! Tests of the harness's streaming replication: a standby, its replay, a
//! promotion, and the old primary turned into a standby of the new one.

use tidepool_testdb::{HarnessError, PgServer};

#[test]
fn a_standby_replays_is_promoted_and_the_old_primary_follows() -> Result<(), HarnessError> {
    let primary = PgServer::start()?;
    let standby = primary.start_standby()?;
    assert_ne!(standby.port(), primary.port());
    assert!(!primary.is_in_recovery()?);
    assert!(standby.is_in_recovery()?);

    primary.psql("create table t (n int); insert into t values (1)")?;
    primary.wait_for_standby(&standby)?;
    assert_eq!(standby.psql("select n from t")?, "1");
    // A standby refuses writes.
    assert!(standby.psql("insert into t values (9)").is_err());

    primary.stop()?;
    standby.promote()?;
    assert!(!standby.is_in_recovery()?);
    standby.psql("insert into t values (2)")?;

    primary.rebuild_as_standby_of(&standby)?;
    assert!(primary.is_in_recovery()?);
    standby.wait_for_standby(&primary)?;
    assert_eq!(
        primary.psql("select string_agg(n::text, ',' order by n) from t")?,
        "1,2"
    );
    Ok(())
}

#[test]
fn promoting_a_primary_fails_clearly() -> Result<(), HarnessError> {
    let primary = PgServer::start()?;
    let error = primary.promote().unwrap_err();
    assert!(
        matches!(error, HarnessError::CommandFailed { .. }),
        "{error}"
    );
    Ok(())
}

#[test]
fn a_standby_of_a_stopped_server_is_an_error() -> Result<(), HarnessError> {
    let primary = PgServer::start()?;
    primary.stop()?;
    let error = primary.start_standby().unwrap_err();
    assert!(error.to_string().contains("pg_basebackup"), "{error}");
    Ok(())
}
