//! TLS to PostgreSQL, against throwaway servers this test starts (their own data directories
//! and ports; the shared stack is never touched), one with `ssl=on` presenting a certificate
//! for `localhost` made here by a CA made here, one with TLS off. What `sslmode` promises:
//! `require` (and `verify-full`) connects only to a server whose certificate chains to the
//! trusted CA and names the host, `prefer` (the default) uses TLS when offered and falls back
//! when not, `disable` never tries it. Pool and listener connections alike.
//!
//! Needs root (to run the servers as `postgres` through `runuser`) and PostgreSQL's binaries
//! (`$TODO_STACK_PG_BIN`, else /usr/lib/postgresql/15/bin); skipped loudly without them, and
//! failing instead under `TODO_REQUIRE_STACK=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use todo_adapter_postgres::testing::ThrowawayServer;
use todo_adapter_postgres::{PgConfig, PgConfigError, PgStore, SslMode};
use todo_contract_tests::store::{event, task, user};
use todo_ports::model::TaskEventType;
use todo_ports::{Inserted, RepoError, TaskRepository};

/// A CA of the test's own.
fn certificate_authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A server certificate (PEM) and its key (PEM) for `names`, signed by `ca`.
fn server_certificate(ca: &CertifiedIssuer<'static, KeyPair>, names: &[&str]) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let certificate = params.signed_by(&key, ca).unwrap();
    (certificate.pem(), key.serialize_pem())
}

/// A file holding `pem`, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, pem: &str) -> Self {
        let path = std::env::temp_dir().join(format!("todo-pg-tls-{}-{name}", std::process::id()));
        std::fs::write(&path, pem).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A store configuration for `url` with a small pool, quick timeouts and `name` as its
/// application name (to find its connections in `pg_stat_ssl`).
fn config(url: String, name: &str, ca_file: Option<&Path>) -> PgConfig {
    let mut config = PgConfig {
        connect_timeout: Duration::from_secs(5),
        acquire_timeout: Duration::from_secs(5),
        application_name: name.into(),
        ..PgConfig::new(url).with_pool_size(2)
    };
    if let Some(path) = ca_file {
        config = config.with_ca_file(path);
    }
    config
}

/// Connects through `config` and proves the store works: a task written and read back.
async fn round_trip(config: PgConfig) -> Arc<PgStore> {
    let store = PgStore::connect(config).await.expect("connect");
    let u = user("tls");
    let t = task(&u, "over tls?").with_id(store.next_id().await.expect("next id"));
    assert_eq!(store.insert(&event(TaskEventType::Created, &t), None).await.expect("insert"), Inserted::Created);
    assert_eq!(store.get(&u, t.id).await.expect("get"), Some(t));
    store
}

/// Whether each connection named `application_name` uses TLS, through a plain connection to
/// `admin_url` (`sslmode=disable`).
async fn ssl_of(admin_url: &str, application_name: &str) -> Vec<bool> {
    let (client, connection) =
        tokio_postgres::connect(&format!("{admin_url}?sslmode=disable"), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
            &[&application_name],
        )
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

/// The message of an `Internal` error from connecting, failing the test on anything else.
async fn refused(config: PgConfig) -> String {
    match PgStore::connect(config).await {
        Err(RepoError::Internal(e)) => e.to_string(),
        Err(e) => panic!("expected a refusal (not worth retrying), got {e:?}"),
        Ok(_) => panic!("connected where TLS should have been refused"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_tls_on_is_trusted_only_with_its_ca_and_its_host_name() {
    let Some(bin) = todo_contract_tests::stack::or_skip(
        "postgres tls on",
        ThrowawayServer::binaries(todo_contract_tests::stack::pg_bin_dir()),
    ) else {
        return;
    };
    let ca = certificate_authority("todo test CA");
    let (certificate, key) = server_certificate(&ca, &["localhost"]);
    let server = tokio::task::block_in_place(|| ThrowawayServer::init(bin).with_tls(&certificate, &key).started());
    let ca_file = TempFile::new("ca.pem", &ca.pem());
    let other_ca_file = TempFile::new("other-ca.pem", &certificate_authority("another CA").pem());
    let port = server.port();
    // Host name `localhost` (checked against the certificate), address 127.0.0.1 (where the
    // server listens), whatever localhost resolves to here.
    let by_name =
        |mode: &str| format!("postgres://postgres@localhost:{port}/postgres?hostaddr=127.0.0.1&sslmode={mode}");

    // require with the CA: TLS, the store works, and every connection (pool and listener) is
    // encrypted.
    let config_require = config(by_name("require"), "tls-require", Some(&ca_file.0));
    assert_eq!(config_require.check().expect("check"), SslMode::Require);
    let store = round_trip(config_require).await;
    let ssl = ssl_of(&server.url(), "tls-require").await;
    assert!(ssl.len() >= 2 && ssl.iter().all(|on| *on), "pool and listener connections over TLS: {ssl:?}");
    store.close();

    // verify-full means the same here.
    round_trip(config(by_name("verify-full"), "tls-verify-full", Some(&ca_file.0))).await.close();

    // A certificate from another CA is refused, as is one the built-in roots do not know.
    let e = refused(config(by_name("require"), "tls-other-ca", Some(&other_ca_file.0))).await;
    assert!(e.contains("TLS is refused") && e.contains("certificate") && e.contains("UnknownIssuer"), "{e}");
    let e = refused(config(by_name("require"), "tls-webpki", None)).await;
    assert!(e.contains("UnknownIssuer"), "{e}");

    // The right CA, but the host connected to (127.0.0.1) is not the one the certificate names.
    let e = refused(config(server.url() + "?sslmode=require", "tls-wrong-name", Some(&ca_file.0))).await;
    assert!(e.contains("TLS is refused") && e.contains("not valid for name \"127.0.0.1\""), "{e}");

    // disable: plain TCP, which this server's pg_hba.conf allows.
    let store = round_trip(config(by_name("disable"), "tls-disable", None)).await;
    let ssl = ssl_of(&server.url(), "tls-disable").await;
    assert!(ssl.len() >= 2 && ssl.iter().all(|on| !on), "plain connections, pool and listener: {ssl:?}");
    store.close();

    // prefer (also what a URL without sslmode means): TLS as offered, the certificate not
    // checked, as libpq does.
    let no_mode = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    assert_eq!(config(no_mode.clone(), "x", None).check().expect("check"), SslMode::Prefer);
    let store = round_trip(config(no_mode.clone(), "tls-prefer", None)).await;
    let ssl = ssl_of(&server.url(), "tls-prefer").await;
    assert!(ssl.len() >= 2 && ssl.iter().all(|on| *on), "prefer uses the TLS offered: {ssl:?}");
    store.close();
    // A CA file with prefer would not be used: refused before connecting.
    let e = config(no_mode, "x", Some(&ca_file.0)).check().unwrap_err();
    assert!(matches!(e, PgConfigError::CaFileUnused { mode: "prefer", .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_tls_off_is_refused_by_require_and_used_plain_by_prefer() {
    let Some(bin) = todo_contract_tests::stack::or_skip(
        "postgres tls off",
        ThrowawayServer::binaries(todo_contract_tests::stack::pg_bin_dir()),
    ) else {
        return;
    };
    let server = tokio::task::block_in_place(|| ThrowawayServer::init(bin).started());
    let ca = certificate_authority("todo test CA");
    let ca_file = TempFile::new("plain-ca.pem", &ca.pem());

    let e = refused(config(server.url() + "?sslmode=require", "plain-require", Some(&ca_file.0))).await;
    assert!(e.contains("does not offer TLS"), "{e}");

    // Without sslmode the store asks for TLS, hears no, and goes on in plain TCP, as before TLS
    // support (the local stack's server is such a server).
    for (url, name) in [(server.url(), "plain-default"), (server.url() + "?sslmode=prefer", "plain-prefer")] {
        let store = round_trip(config(url, name, None)).await;
        let ssl = ssl_of(&server.url(), name).await;
        assert!(ssl.len() >= 2 && ssl.iter().all(|on| !on), "{name}: plain connections, pool and listener: {ssl:?}");
        store.close();
    }
}
