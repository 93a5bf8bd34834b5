//! A PostgreSQL server of the tests' own, from Debian's packages (`postgresql`; `make test` installs
//! it when missing): `initdb` on a temporary directory, then `pg_ctl start` listening on a unix socket
//! in that directory only (no port to collide on). As root both run as the `postgres` user through
//! `runuser` (`initdb` refuses root). The tests of one binary share one server while any of them
//! holds it; each test gets a database of its own ([`database`]). The last holder's drop stops the
//! server (`pg_ctl stop -m immediate`) and removes its directory, so no server outlives the tests;
//! a watchdog does the same when the test binary dies without dropping it (a SIGKILL, a panic in
//! another thread that aborts).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// A running server; stopped when dropped.
pub struct Postgres {
    bin: PathBuf,
    /// The data directory, also the unix socket's directory.
    dir: tempfile::TempDir,
    /// Stops the server and removes `dir` once this process is gone ([`Postgres::watchdog`]).
    watchdog: Option<Child>,
    /// More server options (`-c name=value …`), [`Postgres::start_with`].
    options: String,
}

/// A database of its own on the shared server, for one test.
pub struct Database {
    /// `postgres://…` with the socket directory as host, as `nbgate serve --store` takes it.
    pub url: String,
    pub name: String,
    /// Keeps the server up while the test runs.
    pub server: Arc<Postgres>,
}

impl Database {
    /// `sql` run by `psql` on this database: the rows, one a line, columns split by `|`.
    pub fn query(&self, sql: &str) -> String {
        let output = Command::new(self.server.bin.join("psql"))
            .arg("-h")
            .arg(self.server.socket_dir())
            .args([
                "-U",
                "postgres",
                "-d",
                &self.name,
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .expect("psql");
        assert!(
            output.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_owned()
    }
}

static SHARED: Mutex<Weak<Postgres>> = Mutex::new(Weak::new());
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// A new, empty database on the server this test binary shares (started if none runs).
pub fn database() -> Database {
    let server = {
        let mut shared = SHARED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match shared.upgrade() {
            Some(server) => server,
            None => {
                let server = Arc::new(Postgres::start());
                *shared = Arc::downgrade(&server);
                server
            }
        }
    };
    let name = format!(
        "nbgate_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    server.create_database(&name);
    Database {
        url: server.url(&name),
        name,
        server,
    }
}

/// The directory of Debian's PostgreSQL binaries (the newest version installed).
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path().join("bin"))
                .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL's server binaries are missing (no /usr/lib/postgresql/*/bin/initdb): \
             run `make test`, or `apt-get install -y postgresql` as root"
        )
    })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

impl Postgres {
    /// Runs `initdb` and starts the server; panics with the server's own words if either fails.
    pub fn start() -> Postgres {
        Postgres::start_with("")
    }

    /// [`Postgres::start`] with more server options, e.g. `-c listen_addresses=127.0.0.1 -c ssl=on`.
    pub fn start_with(options: &str) -> Postgres {
        let bin = bin_dir();
        // As root the server runs as `postgres`, which must reach the directory: /tmp, not a TMPDIR
        // inside a private tree.
        let parent = if is_root() {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let dir = tempfile::Builder::new()
            .prefix("nbgate-pg-")
            .tempdir_in(&parent)
            .expect("a temporary directory for PostgreSQL");
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown postgres {}", dir.path().display());
        }
        let mut server = Postgres {
            bin,
            dir,
            watchdog: None,
            options: options.to_owned(),
        };
        server.watchdog = Some(server.watchdog());
        let data = server.dir.path().to_str().expect("a UTF-8 path").to_owned();
        server.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        server.start_again();
        server
    }

    /// `pg_ctl start` on the data directory (after [`Postgres::stop`]: a restart); waits until it
    /// accepts connections.
    pub fn start_again(&self) {
        let data = self.dir.path().to_str().expect("a UTF-8 path").to_owned();
        let options = format!(
            "-c listen_addresses='' -k {data} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200 {}",
            self.options
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-o",
                &options,
                "-l",
                &format!("{data}/server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// The unix socket's directory.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A `postgres://` URL of database `name` over the unix socket.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://postgres@{}/{name}",
            self.socket_dir()
                .to_str()
                .expect("a UTF-8 path")
                .replace('/', "%2F")
        )
    }

    pub fn create_database(&self, name: &str) {
        let host = self.socket_dir().to_str().expect("a UTF-8 path").to_owned();
        self.run("createdb", &["-h", &host, "-U", "postgres", name]);
    }

    /// Stops the server at once (`-m immediate`: as a crash would) and waits for it.
    pub fn stop(&self) -> Output {
        self.stop_command().output().expect("pg_ctl stop")
    }

    /// A shell in a process group of its own that waits for end of file on its stdin, a pipe only
    /// this process holds (close-on-exec), then stops the server and removes its directory: however
    /// the test binary ends, even by SIGKILL, its server does not outlive it. Killed by [`Drop`],
    /// which does the same itself.
    fn watchdog(&self) -> Child {
        let stop = self.stop_command();
        Command::new("sh")
            .arg("-c")
            .arg(r#"read -r _; "$@" >/dev/null 2>&1; rm -rf -- "$0""#)
            .arg(self.dir.path())
            .arg(stop.get_program())
            .args(stop.get_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("the PostgreSQL watchdog (sh) starts")
    }

    /// `pg_ctl stop -m immediate -w` on the data directory.
    fn stop_command(&self) -> Command {
        let data = self.dir.path().to_str().expect("a UTF-8 path").to_owned();
        let mut command = self.command("pg_ctl");
        command.args(["-D", &data, "-m", "immediate", "-w", "stop"]);
        command
    }

    /// `bin/name args…`, as `postgres` when root.
    fn command(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn run(&self, name: &str, args: &[&str]) {
        let output = self
            .command(name)
            .args(args)
            .output()
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        if !output.status.success() {
            let log =
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            panic!(
                "{name} {args:?} failed ({}): {}{}\n{log}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let stopped = self.stop();
        if !stopped.status.success() {
            eprintln!(
                "pg_ctl stop: {}",
                String::from_utf8_lossy(&stopped.stderr).trim()
            );
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server starts, serves a database over its socket, and is gone after the last drop.
    #[test]
    fn a_server_starts_and_is_gone_after_the_last_drop() {
        let database = database();
        let socket = database.server.socket_dir().join(".s.PGSQL.5432");
        assert!(socket.exists(), "no socket at {}", socket.display());
        let pid = server_pid(database.server.socket_dir());
        let listed = Command::new(database.server.bin.join("psql"))
            .args(["-h"])
            .arg(database.server.socket_dir())
            .args([
                "-U",
                "postgres",
                "-At",
                "-c",
                "SELECT datname FROM pg_database",
            ])
            .output()
            .expect("psql");
        let listed = String::from_utf8_lossy(&listed.stdout);
        assert!(listed.lines().any(|name| name == database.name), "{listed}");
        let dir = database.server.socket_dir().to_path_buf();
        drop(database);
        assert!(
            !alive(pid),
            "the server (pid {pid}) outlived its last holder"
        );
        assert!(!dir.exists(), "{} is left behind", dir.display());
    }

    /// The watchdog sees the end of its pipe, as it does when the test binary is killed -9 before any
    /// drop, and stops the server and removes its directory.
    #[test]
    fn the_watchdog_stops_a_server_whose_holder_is_gone() {
        let mut server = Postgres::start();
        let pid = server_pid(server.socket_dir());
        let dir = server.socket_dir().to_path_buf();
        let mut watchdog = server.watchdog.take().expect("a watchdog");
        drop(watchdog.stdin.take());
        let status = watchdog.wait().expect("the watchdog ends");
        assert!(status.success(), "watchdog: {status}");
        assert!(!alive(pid), "the server (pid {pid}) outlived its holder");
        assert!(!dir.exists(), "{} is left behind", dir.display());
    }

    /// The postmaster's pid, from `postmaster.pid` in its data directory.
    fn server_pid(dir: &Path) -> i32 {
        std::fs::read_to_string(dir.join("postmaster.pid"))
            .expect("postmaster.pid")
            .lines()
            .next()
            .and_then(|line| line.trim().parse().ok())
            .expect("a pid")
    }

    /// Running, not gone nor a zombie waiting for init to reap it (pg_ctl's server is not this
    /// process's child).
    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.starts_with(" Z"))
        })
    }
}
