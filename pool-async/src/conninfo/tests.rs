//! Connection strings in both forms, with libpq's TLS keys and
//! environment variables (given through a lookup, never set on the
//! process).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode as WireMode};

use crate::conninfo::parse::{ConnInfo, parse_with_env};
use crate::error::Error;
use crate::hosts::{LoadBalance, SessionAttrs};
use crate::tls::{RootCerts, SslMode, TlsSettings};

const SECRET: &str = "s3cret-pw";

fn parse(dsn: &str, env: &[(&str, &str)]) -> Result<ConnInfo, Error> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    parse_with_env(dsn, &|name| env.get(name).cloned())
}

fn ok(dsn: &str, env: &[(&str, &str)]) -> ConnInfo {
    parse(dsn, env).unwrap_or_else(|e| panic!("{dsn}: {e}"))
}

fn error(dsn: &str, env: &[(&str, &str)]) -> String {
    let error = parse(dsn, env).expect_err(dsn);
    assert!(error.is_config(), "{error:?}");
    let (shown, debug) = (error.to_string(), format!("{error:?}"));
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!debug.contains(SECRET), "{debug}");
    shown
}

fn tcp(hosts: &[&str]) -> Vec<Host> {
    hosts.iter().map(|h| Host::Tcp((*h).to_owned())).collect()
}

#[test]
fn a_url_gives_tls_keys_and_the_rest() {
    let info = ok(
        "postgresql://app:s3cret-pw@db1:5433,db2:5434/shop?sslmode=verify-full\
         &sslrootcert=/etc/ca.pem&sslcert=/c.pem&sslkey=/c.key&application_name=web\
         &target_session_attrs=read-write&connect_timeout=7&keepalives_idle=30",
        &[],
    );
    let config = &info.config;
    assert_eq!(config.get_hosts(), tcp(&["db1", "db2"]));
    assert_eq!(config.get_ports(), [5433, 5434]);
    assert_eq!(config.get_user(), Some("app"));
    assert_eq!(config.get_password(), Some(SECRET.as_bytes()));
    assert_eq!(config.get_dbname(), Some("shop"));
    assert_eq!(config.get_application_name(), Some("web"));
    assert_eq!(info.routing.attrs, SessionAttrs::ReadWrite);
    assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(7)));
    assert_eq!(config.get_keepalives_idle(), Duration::from_secs(30));
    assert_eq!(config.get_ssl_mode(), WireMode::Require);
    assert_eq!(
        info.tls,
        TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: Some(RootCerts::File("/etc/ca.pem".into())),
            client_cert: Some("/c.pem".into()),
            client_key: Some("/c.key".into()),
        }
    );
}

#[test]
fn key_value_pairs_give_tls_keys_and_the_rest() {
    let info = ok(
        "host=a,b port=1,2 user=app password='s3cret-pw' dbname=shop \
         sslmode=verify-ca sslrootcert='/etc/my certs/ca.pem' options='-c search_path=app'",
        &[],
    );
    let config = &info.config;
    assert_eq!(config.get_hosts(), tcp(&["a", "b"]));
    assert_eq!(config.get_ports(), [1, 2]);
    assert_eq!(config.get_password(), Some(SECRET.as_bytes()));
    assert_eq!(config.get_options(), Some("-c search_path=app"));
    assert_eq!(config.get_ssl_mode(), WireMode::Require);
    assert_eq!(info.tls.mode, SslMode::VerifyCa);
    assert_eq!(
        info.tls.root_cert,
        Some(RootCerts::File("/etc/my certs/ca.pem".into()))
    );
}

#[test]
fn each_sslmode_maps_to_the_first_attempt_of_tokio_postgres() {
    for (mode, wire) in [
        ("disable", WireMode::Disable),
        ("allow", WireMode::Disable),
        ("prefer", WireMode::Prefer),
        ("require", WireMode::Require),
        ("verify-ca", WireMode::Require),
        ("verify-full", WireMode::Require),
    ] {
        let info = ok(&format!("host=h user=u sslmode={mode}"), &[]);
        assert_eq!(info.tls.mode.as_str(), mode);
        assert_eq!(info.config.get_ssl_mode(), wire, "{mode}");
        let info = ok(&format!("postgresql://u@h/db?sslmode={mode}"), &[]);
        assert_eq!(info.tls.mode.as_str(), mode);
    }
}

#[test]
fn the_default_sslmode_is_prefer() {
    let info = ok("postgresql://u@h/db", &[]);
    assert_eq!(info.tls, TlsSettings::default());
    assert_eq!(info.tls.mode, SslMode::Prefer);
    assert_eq!(info.config.get_ssl_mode(), WireMode::Prefer);
}

#[test]
fn empty_tls_values_count_as_unset() {
    let info = ok("host=h user=u sslmode='' sslrootcert=''", &[]);
    assert_eq!(info.tls, TlsSettings::default());
}

#[test]
fn sslrootcert_system_defaults_to_verify_full_and_refuses_weaker_modes() {
    let info = ok("host=h user=u sslrootcert=system", &[]);
    assert_eq!(info.tls.mode, SslMode::VerifyFull);
    assert_eq!(info.tls.root_cert, Some(RootCerts::System));
    let shown = error("host=h user=u sslrootcert=system sslmode=require", &[]);
    assert!(shown.contains("use verify-full"), "{shown}");
}

#[test]
fn an_invalid_sslmode_names_the_key_and_the_choices() {
    for dsn in [
        "host=h user=u password=s3cret-pw sslmode=verify_full",
        "postgresql://u:s3cret-pw@h/db?sslmode=verify_full",
    ] {
        let shown = error(dsn, &[]);
        assert!(
            shown.contains(
                "invalid connection string: sslmode: expected one of disable, allow, prefer, \
                 require, verify-ca, verify-full; got 'verify_full'"
            ),
            "{shown}"
        );
    }
}

#[test]
fn sslpassword_is_refused_clearly() {
    let shown = error(
        "host=h user=u sslkey=/k sslcert=/c sslpassword=s3cret-pw",
        &[],
    );
    assert!(
        shown.contains("sslpassword: encrypted client keys are not supported"),
        "{shown}"
    );
    error("postgresql://u@h/db?sslpassword=s3cret-pw", &[]);
}

#[test]
fn a_client_certificate_without_its_key_is_refused() {
    let shown = error("host=h user=u sslcert=/c.pem", &[]);
    assert!(
        shown.contains("sslcert is set but sslkey is not"),
        "{shown}"
    );
}

#[test]
fn syntax_errors_never_show_the_password() {
    // A password with a space, unquoted: neither half may show.
    for dsn in [
        "host=h user=u password=s3cret qz9x",
        "host=h user=u password=s3cret qz9x=y",
    ] {
        let shown = error(dsn, &[]);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("qz9x"), "{shown}");
    }
    for dsn in [
        "host=h user=u password='s3cret-pw",
        "postgresql://u:s3cret-pw@h:notaport/db",
        "postgresql://u:s3cret-pw@h/db?port",
        "postgresql://u:s3cret-pw@h/db?nosuchkey=1",
        "host=h port=x user=u password=s3cret-pw",
    ] {
        let shown = error(dsn, &[]);
        assert!(shown.contains("invalid connection string"), "{shown}");
    }
}

#[test]
fn the_environment_fills_what_the_string_leaves_out() {
    let env = [
        ("PGHOST", "db1,/run/postgresql"),
        ("PGPORT", "6000,6001"),
        ("PGUSER", "envuser"),
        ("PGPASSWORD", SECRET),
        ("PGDATABASE", "envdb"),
        ("PGAPPNAME", "envapp"),
        ("PGOPTIONS", "-c work_mem=64MB"),
        ("PGCONNECT_TIMEOUT", "9"),
        ("PGSSLMODE", "verify-ca"),
        ("PGSSLROOTCERT", "/env/ca.pem"),
        ("PGSSLCERT", "/env/c.pem"),
        ("PGSSLKEY", "/env/c.key"),
    ];
    let info = ok("", &env);
    let config = &info.config;
    assert_eq!(
        config.get_hosts(),
        [
            Host::Tcp("db1".into()),
            Host::Unix(PathBuf::from("/run/postgresql"))
        ]
    );
    assert_eq!(config.get_ports(), [6000, 6001]);
    assert_eq!(config.get_user(), Some("envuser"));
    assert_eq!(config.get_password(), Some(SECRET.as_bytes()));
    assert_eq!(config.get_dbname(), Some("envdb"));
    assert_eq!(config.get_application_name(), Some("envapp"));
    assert_eq!(config.get_options(), Some("-c work_mem=64MB"));
    assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(9)));
    assert_eq!(
        info.tls,
        TlsSettings {
            mode: SslMode::VerifyCa,
            root_cert: Some(RootCerts::File("/env/ca.pem".into())),
            client_cert: Some("/env/c.pem".into()),
            client_key: Some("/env/c.key".into()),
        }
    );
    let debug = format!("{info:?}");
    assert!(!debug.contains(SECRET), "{debug}");
}

#[test]
fn the_string_wins_over_the_environment() {
    let env = [
        ("PGHOST", "envhost"),
        ("PGPORT", "6000"),
        ("PGUSER", "envuser"),
        ("PGPASSWORD", "env-password"),
        ("PGDATABASE", "envdb"),
        ("PGAPPNAME", "envapp"),
        ("PGCONNECT_TIMEOUT", "9"),
        ("PGSSLMODE", "verify-full"),
        ("PGSSLROOTCERT", "/env/ca.pem"),
    ];
    let info = ok(
        "postgresql://app:s3cret-pw@db:5433/shop?application_name=web&connect_timeout=3\
         &sslmode=disable&sslrootcert=/mine.pem",
        &env,
    );
    let config = &info.config;
    assert_eq!(config.get_hosts(), tcp(&["db"]));
    assert_eq!(config.get_ports(), [5433]);
    assert_eq!(config.get_user(), Some("app"));
    assert_eq!(config.get_password(), Some(SECRET.as_bytes()));
    assert_eq!(config.get_dbname(), Some("shop"));
    assert_eq!(config.get_application_name(), Some("web"));
    assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(3)));
    assert_eq!(info.tls.mode, SslMode::Disable);
    assert_eq!(
        info.tls.root_cert,
        Some(RootCerts::File("/mine.pem".into()))
    );
}

#[test]
fn empty_variables_count_as_unset() {
    let info = ok("host=h", &[("PGUSER", ""), ("PGSSLMODE", "")]);
    assert_eq!(info.config.get_user(), None);
    assert_eq!(info.tls.mode, SslMode::Prefer);
}

#[test]
fn a_zero_connect_timeout_is_no_limit() {
    let info = ok("host=h user=u", &[("PGCONNECT_TIMEOUT", "0")]);
    assert_eq!(info.config.get_connect_timeout(), None);
}

#[test]
fn invalid_variables_are_named() {
    let shown = error("host=h user=u", &[("PGSSLMODE", "strict")]);
    assert!(
        shown.contains("invalid environment variable PGSSLMODE: expected one of disable"),
        "{shown}"
    );
    assert!(shown.contains("got 'strict'"), "{shown}");
    let shown = error("host=h user=u", &[("PGPORT", "54x")]);
    assert!(
        shown.contains("invalid environment variable PGPORT: expected a port number"),
        "{shown}"
    );
    let shown = error("host=h user=u", &[("PGCONNECT_TIMEOUT", "5s")]);
    assert!(
        shown.contains("invalid environment variable PGCONNECT_TIMEOUT: expected a whole number"),
        "{shown}"
    );
}

#[test]
fn a_password_from_the_environment_stays_out_of_debug_output() {
    let info = ok("host=h user=u", &[("PGPASSWORD", SECRET)]);
    assert_eq!(info.config.get_password(), Some(SECRET.as_bytes()));
    let debug = format!("{info:?}");
    assert!(!debug.contains(SECRET), "{debug}");
}

#[test]
fn a_config_built_in_code_keeps_its_sslmode() {
    let mut config = tokio_postgres::Config::new();
    config.host("h").user("u").ssl_mode(WireMode::Require);
    let info = ConnInfo::from_config(config);
    assert_eq!(info.tls.mode, SslMode::Require);
    assert_eq!(info.tls.root_cert, None);
}

#[test]
fn routing_keys_come_from_the_string_or_the_environment() {
    for dsn in [
        "postgresql://u@a,b/db?target_session_attrs=prefer-standby&load_balance_hosts=random",
        "host=a,b user=u target_session_attrs=prefer-standby load_balance_hosts=random",
    ] {
        let info = ok(dsn, &[("PGTARGETSESSIONATTRS", "primary")]);
        assert_eq!(info.routing.attrs, SessionAttrs::PreferStandby, "{dsn}");
        assert_eq!(info.routing.load_balance, LoadBalance::Random, "{dsn}");
    }
    let info = ok(
        "host=a,b user=u",
        &[
            ("PGTARGETSESSIONATTRS", "standby"),
            ("PGLOADBALANCEHOSTS", "random"),
        ],
    );
    assert_eq!(info.routing.attrs, SessionAttrs::Standby);
    assert_eq!(info.routing.load_balance, LoadBalance::Random);
    let info = ok("host=a user=u", &[]);
    assert_eq!(info.routing.attrs, SessionAttrs::Any);
    assert_eq!(info.routing.load_balance, LoadBalance::Disable);
}

#[test]
fn unknown_routing_values_name_the_accepted_ones() {
    let shown = error(
        "host=a user=u password=s3cret-pw target_session_attrs=master",
        &[],
    );
    assert!(
        shown.contains("target_session_attrs")
            && shown.contains("'master'")
            && shown.contains("any, read-write, read-only, primary, standby, prefer-standby"),
        "{shown}"
    );
    let shown = error("host=a user=u", &[("PGLOADBALANCEHOSTS", "on")]);
    assert!(
        shown.contains("PGLOADBALANCEHOSTS") && shown.contains("disable, random"),
        "{shown}"
    );
}

/// A fresh directory under the system's temporary directory, removed when
/// dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tidepool-conninfo-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, contents: &str) -> String {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const SERVICES: &str = "\
[shop]
host=svc-host
port=6543
user=svc-user
dbname=svc-db
application_name=svc-app
sslmode=require
";

#[test]
fn a_service_fills_what_the_string_leaves_out() {
    let dir = TempDir::new("service");
    let file = dir.write("services.conf", SERVICES);
    for dsn in [
        format!("service=shop servicefile={file} user=mine"),
        format!("postgresql://mine@/?service=shop&servicefile={file}"),
    ] {
        let info = ok(&dsn, &[]);
        let config = &info.config;
        assert_eq!(config.get_hosts(), tcp(&["svc-host"]), "{dsn}");
        assert_eq!(config.get_ports(), [6543], "{dsn}");
        assert_eq!(config.get_user(), Some("mine"), "{dsn}");
        assert_eq!(config.get_dbname(), Some("svc-db"), "{dsn}");
        assert_eq!(config.get_application_name(), Some("svc-app"), "{dsn}");
        assert_eq!(info.tls.mode, SslMode::Require, "{dsn}");
    }
    // The string's host, port and database win, in a URL too.
    let info = ok(
        &format!("postgresql://mine@h:1/db?service=shop&servicefile={file}&sslmode=disable"),
        &[],
    );
    assert_eq!(info.config.get_hosts(), tcp(&["h"]));
    assert_eq!(info.config.get_ports(), [1]);
    assert_eq!(info.config.get_dbname(), Some("db"));
    assert_eq!(info.tls.mode, SslMode::Disable);
}

#[test]
fn pgservice_and_pgservicefile_name_the_service_and_win_over_other_variables() {
    let dir = TempDir::new("pgservice");
    let file = dir.write("services.conf", SERVICES);
    let info = ok(
        "",
        &[
            ("PGSERVICE", "shop"),
            ("PGSERVICEFILE", &file),
            ("PGHOST", "env-host"),
            ("PGDATABASE", "env-db"),
            ("PGAPPNAME", "env-app"),
        ],
    );
    assert_eq!(info.config.get_hosts(), tcp(&["svc-host"]));
    assert_eq!(info.config.get_dbname(), Some("svc-db"));
    assert_eq!(info.config.get_application_name(), Some("svc-app"));
    // ~/.pg_service.conf, through HOME.
    dir.write("home/.pg_service.conf", SERVICES);
    let home = dir.0.join("home").display().to_string();
    let info = ok("service=shop", &[("HOME", &home)]);
    assert_eq!(info.config.get_hosts(), tcp(&["svc-host"]));
}

#[test]
fn an_unknown_service_is_an_error_naming_the_files() {
    let dir = TempDir::new("noservice");
    let file = dir.write("services.conf", SERVICES);
    let shown = error(
        &format!("service=shopp servicefile={file} password=s3cret-pw"),
        &[("PGSYSCONFDIR", "/nonexistent-tidepool")],
    );
    assert!(
        shown.contains("the service 'shopp' is not defined in")
            && shown.contains(&file)
            && shown.contains("/nonexistent-tidepool/pg_service.conf (missing)"),
        "{shown}"
    );
}

#[test]
fn unsupported_libpq_keys_say_so_and_unknown_keys_are_named() {
    for (dsn, expected) in [
        (
            "host=h user=u gssencmode=disable",
            "`gssencmode` is a libpq key not supported by tidepool",
        ),
        (
            "postgresql://u@h/db?sslcrl=/crl.pem",
            "`sslcrl` is a libpq key not supported by tidepool",
        ),
        ("host=h requiressl=1", "use sslmode=require"),
        (
            "host=h krbsrvname=postgres",
            "`krbsrvname` is a libpq key not supported by tidepool",
        ),
        (
            "host=h hots=x",
            "unknown key `hots`; the keys tidepool reads are",
        ),
        ("postgresql://h/db?colour=blue", "unknown key `colour`"),
    ] {
        let shown = error(dsn, &[]);
        assert!(shown.contains(expected), "{dsn}: {shown}");
    }
}

#[test]
fn libpq_defaults_fill_host_user_and_database() {
    let info = ok("", &[("USER", "osuser")]);
    let config = &info.config;
    assert_eq!(config.get_user(), Some("osuser"));
    assert_eq!(config.get_dbname(), Some("osuser"));
    let expected = if std::path::Path::new("/var/run/postgresql").is_dir() {
        vec![Host::Unix(PathBuf::from("/var/run/postgresql"))]
    } else {
        tcp(&["localhost"])
    };
    assert_eq!(config.get_hosts(), expected);
    // LOGNAME when USER is unset; the string and PGUSER win.
    let info = ok("dbname=d", &[("LOGNAME", "logname")]);
    assert_eq!(info.config.get_user(), Some("logname"));
    assert_eq!(info.config.get_dbname(), Some("d"));
    let info = ok("", &[("USER", "osuser"), ("PGUSER", "pguser")]);
    assert_eq!(info.config.get_user(), Some("pguser"));
    assert_eq!(info.config.get_dbname(), Some("pguser"));
    // A hostaddr alone is a host.
    let info = ok("hostaddr=127.0.0.1 user=u", &[]);
    assert!(info.config.get_hosts().is_empty());
}

#[test]
fn the_password_file_is_passfile_pgpassfile_or_home() {
    let info = ok("host=h user=u passfile=/given", &[("PGPASSFILE", "/env")]);
    assert_eq!(format!("{:?}", info.passfile), "Some(\"/given\")");
    let info = ok(
        "host=h user=u",
        &[("PGPASSFILE", "/env"), ("HOME", "/home/x")],
    );
    assert_eq!(format!("{:?}", info.passfile), "Some(\"/env\")");
    let info = ok("host=h user=u", &[("HOME", "/home/x")]);
    assert_eq!(format!("{:?}", info.passfile), "Some(\"/home/x/.pgpass\")");
    assert!(ok("host=h user=u", &[]).passfile.is_none());
}

#[test]
fn certificate_files_under_home_are_used_when_present_and_not_given() {
    let dir = TempDir::new("dotpostgresql");
    let home = dir.0.display().to_string();
    let env = [("HOME", home.as_str())];
    // None there: nothing changes.
    assert_eq!(ok("host=h user=u", &env).tls, TlsSettings::default());
    let root = dir.write(".postgresql/root.crt", "");
    let cert = dir.write(".postgresql/postgresql.crt", "");
    let shown = error("host=h user=u", &env);
    assert!(
        shown.contains("postgresql.crt is there but not its key")
            && shown.contains("postgresql.key"),
        "{shown}"
    );
    let key = dir.write(".postgresql/postgresql.key", "");
    let info = ok("host=h user=u sslmode=verify-ca", &env);
    assert_eq!(
        info.tls,
        TlsSettings {
            mode: SslMode::VerifyCa,
            root_cert: Some(RootCerts::File(root.into())),
            client_cert: Some(cert.into()),
            client_key: Some(key.into()),
        }
    );
    // Given files win.
    let info = ok(
        "host=h user=u sslrootcert=/mine.pem sslcert=/c.pem sslkey=/c.key",
        &env,
    );
    assert_eq!(
        info.tls.root_cert,
        Some(RootCerts::File("/mine.pem".into()))
    );
    assert_eq!(info.tls.client_cert, Some("/c.pem".into()));
    let info = ok("host=h user=u sslrootcert=system", &env);
    assert_eq!(info.tls.root_cert, Some(RootCerts::System));
}

#[test]
fn pghostaddr_gives_the_addresses() {
    let info = ok("user=u", &[("PGHOSTADDR", "127.0.0.1,::1")]);
    assert_eq!(
        info.config.get_hostaddrs(),
        [
            "127.0.0.1".parse::<std::net::IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
    // The default host is not added to addresses alone.
    assert!(info.config.get_hosts().is_empty());
    let info = ok("host=db user=u", &[("PGHOSTADDR", "10.0.0.1")]);
    assert_eq!(info.config.get_hosts(), tcp(&["db"]));
    assert_eq!(info.config.get_hostaddrs().len(), 1);
    let shown = error("user=u", &[("PGHOSTADDR", "db.example")]);
    assert!(
        shown.contains("invalid environment variable PGHOSTADDR: expected an IP address"),
        "{shown}"
    );
}
