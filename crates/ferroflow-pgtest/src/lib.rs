//! A scratch PostgreSQL cluster for the tests: `initdb` and `pg_ctl` from the machine's
//! PostgreSQL binaries, trust authentication, listening on a free loopback port only, its data
//! under the cargo target directory. Used by `cargo xtask pg start|stop` and `cargo xtask test`,
//! and by tests run on their own (`cargo nextest run -p ferroflow-store-postgres`), which start
//! it on first use.
//!
//! PostgreSQL refuses to run as root: when we are root the cluster runs as the `postgres` user
//! (made if missing). One cluster serves every test process at once: [`Cluster::ensure`] takes
//! a lock file, reuses a running cluster and starts one otherwise; tests then create their own
//! database in it (see [`admin_url`]).

use std::fs;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The variable that points the tests at a PostgreSQL server (an admin URL such as
/// `postgresql://postgres@127.0.0.1:5432/postgres`); when unset they start the scratch cluster.
pub const URL_VAR: &str = "FERROFLOW_TEST_POSTGRES_URL";

/// A running scratch cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// `<target>/pg-cluster`: holds `data/`, `port`, `log` and the lock file.
    pub dir: PathBuf,
    pub port: u16,
}

impl Cluster {
    /// The URL of database `db` as the superuser `postgres`.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Starts the cluster under `dir` unless it already runs; either way returns it. Safe to
    /// call from several processes at once.
    pub fn ensure(dir: &Path) -> io::Result<Cluster> {
        fs::create_dir_all(dir)?;
        let lock = fs::File::create(dir.join("lock"))?;
        lock.lock()?;
        let result = Self::ensure_locked(dir);
        drop(lock);
        result
    }

    fn ensure_locked(dir: &Path) -> io::Result<Cluster> {
        let data = dir.join("data");
        let bin = binaries()?;
        let as_root = is_root();
        if as_root {
            ensure_postgres_user()?;
            chown_postgres(dir)?;
        }
        if let Some(port) = fs::read_to_string(dir.join("port")).ok().and_then(|p| p.trim().parse().ok()) {
            if data.join("postmaster.pid").exists() && pg_ctl(&bin, as_root, &data, &["status"]).is_ok() {
                return Ok(Cluster { dir: dir.to_path_buf(), port });
            }
        }
        if !data.join("PG_VERSION").exists() {
            let _ = fs::remove_dir_all(&data);
            let data_arg = data.to_string_lossy().into_owned();
            run(
                as_root,
                &bin.join("initdb"),
                &["-D", &data_arg, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"],
            )?;
        }
        let port = free_port()?;
        // Only loopback TCP; the socket directory is the cluster's own (not /var/run), and
        // durability is not wanted from a scratch cluster.
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200",
            dir.display()
        );
        let log = dir.join("log").to_string_lossy().into_owned();
        pg_ctl(&bin, as_root, &data, &["-l", &log, "-w", "-t", "60", "-o", &options, "start"])?;
        fs::write(dir.join("port"), port.to_string())?;
        Ok(Cluster { dir: dir.to_path_buf(), port })
    }

    /// True when the cluster under `dir` runs now.
    pub fn is_running(dir: &Path) -> bool {
        let data = dir.join("data");
        data.join("postmaster.pid").exists()
            && binaries().is_ok_and(|bin| pg_ctl(&bin, is_root(), &data, &["status"]).is_ok())
    }

    /// Stops the cluster under `dir` if it runs (fast shutdown: sessions are ended).
    pub fn stop(dir: &Path) -> io::Result<bool> {
        let data = dir.join("data");
        if !data.join("postmaster.pid").exists() {
            return Ok(false);
        }
        let bin = binaries()?;
        pg_ctl(&bin, is_root(), &data, &["-m", "fast", "-w", "stop"])?;
        Ok(true)
    }
}

/// The admin URL the tests use: [`URL_VAR`] when set, else the scratch cluster's (started if
/// need be) under [`default_dir`].
pub fn admin_url() -> io::Result<String> {
    if let Some(url) = std::env::var(URL_VAR).ok().filter(|u| !u.is_empty()) {
        return Ok(url);
    }
    Ok(Cluster::ensure(&default_dir())?.url("postgres"))
}

/// `<target dir>/pg-cluster`: `CARGO_TARGET_DIR` when set, else the target directory the
/// running test binary lives in (`<target>/debug/deps/…`), else `./target`.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("pg-cluster");
    }
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors().find(|a| a.file_name().is_some_and(|n| n == "deps")).and_then(|deps| {
            // <target>/<profile>/deps
            deps.parent()?.parent().map(Path::to_path_buf)
        })
    });
    from_exe.unwrap_or_else(|| PathBuf::from("target")).join("pg-cluster")
}

/// The directory holding `initdb` and `pg_ctl`: next to `initdb` on the PATH, else the newest
/// `/usr/lib/postgresql/<version>/bin`.
pub fn binaries() -> io::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/local/bin")])
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file());
    if let Some(dir) = on_path {
        return Ok(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "no PostgreSQL server binaries (initdb, pg_ctl): `apt-get install postgresql` \
             (`cargo xtask pg start` does it)",
        )
    })
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Root only: the `postgres` system user, made when missing.
fn ensure_postgres_user() -> io::Result<()> {
    if Command::new("id").arg("postgres").stdout(Stdio::null()).stderr(Stdio::null()).status()?.success() {
        return Ok(());
    }
    let status = Command::new("useradd")
        .args(["--system", "--user-group", "--home-dir", "/var/lib/postgresql", "--shell", "/bin/sh", "postgres"])
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other("useradd postgres failed"))
    }
}

fn chown_postgres(dir: &Path) -> io::Result<()> {
    let status = Command::new("chown").arg("postgres:").arg(dir).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("chown postgres {} failed", dir.display())))
    }
}

fn pg_ctl(bin: &Path, as_root: bool, data: &Path, args: &[&str]) -> io::Result<()> {
    let data_arg = data.to_string_lossy().into_owned();
    let mut all = vec!["-D", &data_arg];
    all.extend_from_slice(args);
    run(as_root, &bin.join("pg_ctl"), &all)
}

/// Runs a PostgreSQL tool (as `postgres` when we are root), its output kept for the error.
fn run(as_root: bool, program: &Path, args: &[&str]) -> io::Result<()> {
    let mut cmd = if as_root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    };
    let output = cmd.args(args).stdin(Stdio::null()).output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{} {} failed ({}): {}{}",
            program.display(),
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_starts_once_and_answers_on_its_port() {
        let dir = default_dir();
        let first = Cluster::ensure(&dir).expect("start");
        let again = Cluster::ensure(&dir).expect("reuse");
        assert_eq!(first.port, again.port);
        std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, first.port)).expect("listening");
        assert!(first.url("x").ends_with(&format!(":{}/x", first.port)));
    }
}
