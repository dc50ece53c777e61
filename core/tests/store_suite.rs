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
