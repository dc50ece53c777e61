//! The store suite (`unidm_core::store::suite`) against both stores: SQLite on a temporary
//! file, PostgreSQL on a server of the test's own (`unidm_testkit::postgres`; skipped with a
//! notice when PostgreSQL is not installed, unless `UNIDM_REQUIRE_POSTGRES=1`).

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use unidm_core::store::suite::TestDatabase;
use unidm_core::{PostgresOptions, PostgresStore, SqliteStore, Store};
use unidm_testkit::postgres::TempPostgres;

struct Sqlite {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

#[async_trait]
impl TestDatabase for Sqlite {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&self.path).unwrap())
    }

    async fn refuse_device(&self, id: &str) {
        rusqlite::Connection::open(&self.path)
            .unwrap()
            .execute_batch(&format!(
                "CREATE TRIGGER refuse BEFORE INSERT ON devices WHEN NEW.id = '{id}'
                 BEGIN SELECT RAISE(ABORT, 'refused'); END;"
            ))
            .unwrap();
    }
}

mod sqlite {
    use super::*;

    async fn fresh() -> Option<Sqlite> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        Some(Sqlite { _dir: dir, path })
    }

    unidm_core::store_suite!(fresh());
}

/// A database on a PostgreSQL server of its own.
struct Postgres {
    server: TempPostgres,
    url: String,
}

#[async_trait]
impl TestDatabase for Postgres {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(PostgresStore::connect(PostgresOptions::new(self.url.clone())).await.unwrap())
    }

    async fn refuse_device(&self, id: &str) {
        self.server.psql(
            "t",
            &format!(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN IF NEW.id = '{id}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;
                 CREATE TRIGGER refuse BEFORE INSERT ON devices FOR EACH ROW EXECUTE FUNCTION refuse();"
            ),
        );
    }
}

mod postgres {
    use super::*;

    async fn fresh() -> Option<Postgres> {
        let server = TempPostgres::start()?;
        let url = server.create_database("t");
        Some(Postgres { server, url })
    }

    unidm_core::store_suite!(fresh());
}

/// TLS to PostgreSQL: with `sslmode=require` and the server's CA the store connects over TLS;
/// a server certificate from another CA is refused, saying why; `sslmode=disable` connects in
/// clear text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_checks_the_server_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let ca = unidm_testkit::tls::TestCa::new(certs.path());
    let (cert, key) = ca.server_pem();
    let (cert_file, key_file) = (TempPostgres::path("server.pem"), TempPostgres::path("server.key"));
    let settings = [("ssl", "on"), ("ssl_cert_file", cert_file.as_str()), ("ssl_key_file", key_file.as_str())];
    let Some(pg) = TempPostgres::start_with(&settings, &[("server.pem", &cert), ("server.key", &key)]) else {
        return;
    };
    let url = format!("{}?sslmode=require", pg.create_database("t"));
    let connect = |url: String, ca: Option<std::path::PathBuf>| async move {
        PostgresStore::connect(PostgresOptions { ca, ..PostgresOptions::new(url) }).await
    };
    let encrypted = || {
        pg.psql("t", "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND datname = 't' AND pid <> pg_backend_pid()")
    };

    let store = connect(url.clone(), Some(certs.path().join("ca.pem"))).await.expect("TLS with the server's CA");
    store.load_devices().await.unwrap();
    assert_ne!(encrypted().trim(), "0", "the store's connections use TLS");
    drop(store);

    let other = tempfile::tempdir().unwrap();
    unidm_testkit::tls::TestCa::new(other.path());
    let refused = connect(url.clone(), Some(other.path().join("ca.pem"))).await.unwrap_err();
    assert!(matches!(&refused, unidm_core::StoreError::Unavailable(m) if m.contains("certificate")), "{refused}");
    let refused = connect(url.clone(), None).await.unwrap_err();
    assert!(refused.to_string().contains("certificate"), "not among the public roots: {refused}");

    let clear = url.replace("sslmode=require", "sslmode=disable");
    connect(clear, None).await.expect("clear text when asked").load_devices().await.unwrap();
}
