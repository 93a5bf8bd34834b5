//! Where the store is: `nbgate serve --store URL` (`NBGATE_STORE`). `sqlite:PATH` (a file, created
//! if missing; the default is `sqlite:<data-dir>/nbgate.sqlite3`) or `postgres://…` /
//! `postgresql://…` (a server shared by several replicas; a unix socket directory as the host,
//! percent-encoded or as `?host=/dir`; TLS with `sslmode` and `sslrootcert`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use super::{PostgresStore, SqliteStore, Store, StoreResult};

#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl StoreUrl {
    /// Opens the store, applying its migrations (blocking: call it on the blocking pool).
    pub fn open(&self) -> StoreResult<Arc<dyn Store>> {
        Ok(match self {
            StoreUrl::Sqlite(path) => Arc::new(SqliteStore::open(path)?),
            StoreUrl::Postgres(url) => Arc::new(PostgresStore::connect(url)?),
        })
    }
}

impl FromStr for StoreUrl {
    type Err = String;

    /// One line saying what is wrong and what is accepted.
    fn from_str(text: &str) -> Result<StoreUrl, String> {
        const ACCEPTED: &str = "expected sqlite:PATH or postgres://USER@HOST[:PORT]/DATABASE";
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(format!("{text:?} names no file: {ACCEPTED}"));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return match super::postgres::tls::config(text) {
                Ok(config) if config.get_hosts().is_empty() => {
                    Err(format!("{} names no host: {ACCEPTED}", redacted(text)))
                }
                Ok(_) => Ok(StoreUrl::Postgres(text.to_owned())),
                Err(error) => Err(format!("{}: {error}; {ACCEPTED}", redacted(text))),
            };
        }
        Err(format!(
            "{:?} is not a store URL: {ACCEPTED}",
            redacted(text)
        ))
    }
}

/// The URL without its password, for messages and logs.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let credentials = &rest[..at];
            let user = credentials.split(':').next().unwrap_or("");
            let hidden = if credentials.contains(':') {
                ":***"
            } else {
                ""
            };
            format!("{scheme}://{user}{hidden}{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            StoreUrl::Postgres(url) => f.write_str(&redacted(url)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_or_say_what_is_accepted() {
        assert_eq!(
            "sqlite:/var/lib/nbgate.db".parse::<StoreUrl>(),
            Ok(StoreUrl::Sqlite("/var/lib/nbgate.db".into()))
        );
        assert_eq!(
            "sqlite:state/nbgate.db".parse::<StoreUrl>(),
            Ok(StoreUrl::Sqlite("state/nbgate.db".into()))
        );
        for url in [
            "postgres://nbgate:secret@db.example:5432/nbgate",
            "postgresql://nbgate@%2Fvar%2Frun%2Fpostgresql/nbgate",
            "postgres:///nbgate?host=/var/run/postgresql&user=nbgate",
            "postgres://nbgate@db/nbgate?sslmode=require",
            "postgres://nbgate@db/nbgate?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
        ] {
            assert_eq!(
                url.parse::<StoreUrl>(),
                Ok(StoreUrl::Postgres(url.into())),
                "{url}"
            );
        }
        for (bad, says) in [
            ("mysql://db/x", "is not a store URL"),
            ("sqlite:", "names no file"),
            ("postgres://db:port/x", "invalid"),
            ("/var/lib/nbgate.db", "is not a store URL"),
        ] {
            let error = bad.parse::<StoreUrl>().expect_err(bad);
            assert!(error.contains(says), "{bad}: {error}");
            assert!(
                error.contains("expected sqlite:PATH or postgres://"),
                "{error}"
            );
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        let url = "postgres://nbgate:secret@db:5432/nbgate";
        assert_eq!(redacted(url), "postgres://nbgate:***@db:5432/nbgate");
        let shown = url.parse::<StoreUrl>().expect("url").to_string();
        assert!(!shown.contains("secret"), "{shown}");
        let error = "postgres://nbgate:secret@db:port/x"
            .parse::<StoreUrl>()
            .expect_err("bad port");
        assert!(!error.contains("secret"), "{error}");
    }
}
