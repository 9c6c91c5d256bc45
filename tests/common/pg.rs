//! The PostgreSQL side of the suite: `make test` starts a throwaway cluster (tests/pg.sh) and
//! runs the suite again with `VARCO_TEST_PG` set to its maintenance database; each store a
//! test opens is a database of its own on it.

/// The engine under test's connection string when it is PostgreSQL.
pub fn server() -> Option<String> {
    std::env::var("VARCO_TEST_PG")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// A new, empty database on the test server, as a connection string; None on the embedded
/// engine.
pub async fn fresh_database() -> Option<String> {
    let server = server()?;
    let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
        .await
        .expect("the test PostgreSQL server (VARCO_TEST_PG) answers");
    let driver = tokio::spawn(connection);
    let name = format!("varco_t_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("a test database is created");
    drop(client);
    let _ = driver.await;
    Some(with_database(&server, &name))
}

/// `server` (a key=value connection string) naming database `name` instead.
pub fn with_database(server: &str, name: &str) -> String {
    let mut kept: Vec<String> = server
        .split_whitespace()
        .filter(|kv| !kv.starts_with("dbname="))
        .map(str::to_owned)
        .collect();
    kept.push(format!("dbname={name}"));
    kept.join(" ")
}

/// True when the suite runs on PostgreSQL.
pub fn on_postgres() -> bool {
    server().is_some()
}
