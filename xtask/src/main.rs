//! `cargo xtask`: the project's chores, written in Rust so that they need nothing but cargo
//! and python3 on the machine.
//!
//! `cargo xtask test` does all the set-up and runs every test:
//!
//! 1. makes the Python virtualenv `.venv/` at the workspace root (again) when it is missing,
//!    broken, or older than `tests/requirements.txt` (a stamp inside `.venv` keeps the
//!    requirements it was made from), and installs Debian's `chromium` (for the web UI's
//!    browser tests) when `/usr/bin/chromium` is missing;
//! 2. runs the gates: `cargo fmt --all --check` and
//!    `cargo clippy --workspace --all-targets --features ferroflow-sdk/async-openai -- -D warnings`
//!    (the SDK's optional feature is linted, tested and built each time; a formatting difference or a
//!    clippy warning fails the command like a failing test);
//! 3. runs the Rust tests, with `cargo nextest run` when nextest is installed, else `cargo test`;
//! 4. builds the server (`cargo build -p ferroflow`) and the Rust SDK's examples
//!    (`cargo build -p ferroflow-sdk --examples --features ferroflow-sdk/async-openai`), and runs the compatibility suite
//!    `tests/compat` with the real `mlflow` client, the server's path in `FERROFLOW_BIN` and the
//!    SDK's driver `sdk_compat` in `FERROFLOW_SDK_COMPAT_BIN`.
//!
//! The store tests on PostgreSQL and the compatibility suite's PostgreSQL pass need a server:
//! unless `FERROFLOW_TEST_POSTGRES_URL` names one, `test` starts the scratch cluster
//! (`cargo xtask pg start`) first, passes its URL down in that variable, and stops it at the
//! end. `FERROFLOW_TEST_BACKEND=sqlite|postgres` runs the compatibility suite once, on that
//! backend; unset, it runs on SQLite and then again on PostgreSQL.
//!
//! Every step streams its output; the command exits non-zero when any step failed. A failing
//! gate or Rust test does not stop the later steps from running, so one run shows every
//! failure; the summary at the end names each step that failed. `--python-only` skips the
//! gates and the Rust tests (it is the quick way to re-run one compat file).

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context, Result};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test [--rust-only | --python-only] [-- PYTEST_ARGS...]
        set up .venv, check formatting (cargo fmt --check) and lints (cargo clippy -D warnings),
        run the Rust tests, build the server and run tests/compat
        (e.g. `cargo xtask test --python-only -- -k runs -x`; --python-only skips the gates)
  pg start|stop|url
        the scratch PostgreSQL cluster of the tests (under the target dir, on a free loopback
        port; `apt-get install postgresql` first when its binaries are missing): start prints
        its admin URL, which the tests read from FERROFLOW_TEST_POSTGRES_URL
  help  print this message";

/// The virtualenv's stamp: the exact text of `tests/requirements.txt` it was installed from.
const STAMP_FILE: &str = ".ferroflow-requirements.stamp";

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command line; `Ok(false)` when a step failed (its output already says why).
fn run() -> Result<bool> {
    let mut args = env::args_os().skip(1);
    let Some(command) = args.next() else {
        eprintln!("{USAGE}");
        bail!("no command given");
    };
    match command.to_str() {
        Some("test") => match TestOptions::parse(args)? {
            Some(options) => test(&options),
            None => {
                println!("{USAGE}");
                Ok(true)
            }
        },
        Some("pg") => pg(args.next().as_deref().and_then(|a| a.to_str())),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(true)
        }
        _ => {
            eprintln!("{USAGE}");
            bail!("unknown command {command:?}");
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct TestOptions {
    rust: bool,
    python: bool,
    pytest_args: Vec<OsString>,
}

impl TestOptions {
    /// Parses the arguments after `test`; `None` when help was asked for.
    fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Option<Self>> {
        let mut options = TestOptions { rust: true, python: true, pytest_args: Vec::new() };
        let (mut rust_only, mut python_only) = (false, false);
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.to_str() {
                Some("--rust-only") => rust_only = true,
                Some("--python-only") => python_only = true,
                Some("-h" | "--help") => return Ok(None),
                Some("--") => {
                    options.pytest_args.extend(args);
                    break;
                }
                _ => bail!(
                    "unexpected argument {arg:?} (pytest's arguments go after `--`: \
                     `cargo xtask test -- -k runs`)"
                ),
            }
        }
        if rust_only && python_only {
            bail!("--rust-only and --python-only exclude each other");
        }
        options.rust = !python_only;
        options.python = !rust_only;
        Ok(Some(options))
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// `cargo xtask pg start|stop|url`.
fn pg(action: Option<&str>) -> Result<bool> {
    let dir = pg_cluster_dir();
    match action {
        Some("start") => {
            println!("{}", start_pg(&dir)?);
            Ok(true)
        }
        Some("url") => {
            let port = fs::read_to_string(dir.join("port")).context("the cluster was never started")?;
            println!("{}", ferroflow_pgtest::Cluster { dir, port: port.trim().parse()? }.url("postgres"));
            Ok(true)
        }
        Some("stop") => {
            let stopped = ferroflow_pgtest::Cluster::stop(&dir)?;
            eprintln!(
                "xtask: {}",
                if stopped { "PostgreSQL cluster stopped" } else { "no PostgreSQL cluster running" }
            );
            Ok(true)
        }
        _ => bail!("usage: cargo xtask pg start|stop|url"),
    }
}

/// The scratch cluster's directory: the one the tests would pick (`<target>/pg-cluster`).
fn pg_cluster_dir() -> PathBuf {
    let root = workspace_root();
    fallback_target_dir(&root).join("pg-cluster")
}

/// Starts the scratch cluster (installing PostgreSQL first when its binaries are missing) and
/// returns its admin URL.
fn start_pg(dir: &Path) -> Result<String> {
    if ferroflow_pgtest::binaries().is_err() {
        banner("installing PostgreSQL for the tests: apt-get install -y postgresql");
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
        let mut cmd = if root { Command::new("apt-get") } else { Command::new("sudo") };
        if !root {
            cmd.args(["-n", "apt-get"]);
        }
        cmd.args(["install", "-y", "--no-install-recommends", "postgresql"]).env("DEBIAN_FRONTEND", "noninteractive");
        status(&mut cmd)?;
    }
    let cluster = ferroflow_pgtest::Cluster::ensure(dir).context("starting the scratch PostgreSQL cluster")?;
    Ok(cluster.url("postgres"))
}

/// The cargo that runs us (cargo sets `CARGO` for `cargo run` and tests), else `cargo`.
fn cargo() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Prints a step's banner, so that the streamed output of each step is easy to find.
fn banner(text: &str) {
    eprintln!("\n==> xtask: {text}");
}

/// Runs a command with inherited stdio; `Ok(false)` when it ran and failed.
fn status(cmd: &mut Command) -> Result<bool> {
    let status = cmd.status().with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        eprintln!("xtask: {cmd:?} failed: {status}");
    }
    Ok(status.success())
}

fn test(options: &TestOptions) -> Result<bool> {
    let root = workspace_root();
    let mut results: Vec<(&str, bool)> = Vec::new();

    // A PostgreSQL server for the PostgreSQL store's tests and the compat suite's PostgreSQL
    // pass: the one named by the caller, else the scratch cluster, stopped at the end when it
    // was started here (one started by hand, `cargo xtask pg start`, is left running).
    let started_cluster = match env::var("FERROFLOW_TEST_POSTGRES_URL").ok().filter(|url| !url.is_empty()) {
        Some(_) => None,
        None => {
            banner("starting the scratch PostgreSQL cluster (cargo xtask pg start)");
            let dir = pg_cluster_dir();
            let was_running = ferroflow_pgtest::Cluster::is_running(&dir);
            let url = start_pg(&dir)?;
            eprintln!("xtask: PostgreSQL for the tests: {url}");
            // Read by every test process started below; xtask runs no thread of its own.
            env::set_var(ferroflow_pgtest::URL_VAR, &url);
            (!was_running).then_some(dir)
        }
    };

    if options.python {
        ensure_venv(&root)?;
        ensure_chromium();
    }
    if options.rust {
        for gate in GATES {
            results.push((gate.step, run_gate(&root, gate)?));
        }
        results.push(("rust tests", rust_tests(&root)?));
    }
    if options.python {
        banner("building the server: cargo build -p ferroflow");
        match build_server(&root)? {
            Some(bin) => {
                results.push(("server build", true));
                // The Rust SDK's compatibility driver, run by tests/compat/test_sdk.py.
                banner(&format!(
                    "building the SDK examples: cargo build -p ferroflow-sdk --examples --features {SDK_FEATURES}"
                ));
                let sdk_driver = build_sdk_driver(&root)?;
                results.push(("sdk examples build", sdk_driver.is_some()));
                let backend = env::var("FERROFLOW_TEST_BACKEND").ok().filter(|b| !b.is_empty());
                let ok = python_tests(&root, &bin, sdk_driver.as_deref(), options, backend.as_deref())?;
                results.push(("python compat tests", ok));
                if backend.is_none() {
                    let ok = python_tests(&root, &bin, sdk_driver.as_deref(), options, Some("postgres"))?;
                    results.push(("python compat tests on PostgreSQL", ok));
                }
            }
            None => results.push(("server build", false)),
        }
    }

    if let Some(dir) = started_cluster {
        if let Err(error) = ferroflow_pgtest::Cluster::stop(&dir) {
            eprintln!("xtask: could not stop the scratch PostgreSQL cluster: {error}");
        }
    }

    eprintln!();
    for (step, ok) in &results {
        eprintln!("xtask: {step}: {}", if *ok { "ok" } else { "FAILED" });
    }
    Ok(results.iter().all(|(_, ok)| *ok))
}

/// A check of the whole tree that fails the command without stopping the later steps.
struct Gate {
    /// The step's name in the summary.
    step: &'static str,
    /// The arguments after `cargo`.
    args: &'static [&'static str],
    /// What to do about a failure, printed when the gate fails.
    fix: &'static str,
}

/// The gates, run before the Rust tests.
const GATES: &[Gate] = &[
    Gate {
        step: "gate: cargo fmt --check",
        args: &["fmt", "--all", "--check"],
        fix: "run `cargo fmt --all` and commit the result",
    },
    Gate {
        step: "gate: cargo clippy -D warnings",
        args: &["clippy", "--workspace", "--all-targets", "--features", SDK_FEATURES, "--", "-D", "warnings"],
        fix: "fix the warnings above (`cargo clippy --workspace --all-targets` lists them)",
    },
];

/// Step 2: runs one gate; `Ok(false)` when it failed (after saying which gate and how to fix it).
fn run_gate(root: &Path, gate: &Gate) -> Result<bool> {
    banner(&format!("{}: cargo {}", gate.step, gate.args.join(" ")));
    let ok = status(Command::new(cargo()).args(gate.args).current_dir(root))?;
    if !ok {
        eprintln!("xtask: {} FAILED: {}", gate.step, gate.fix);
    }
    Ok(ok)
}

/// Step 1: `.venv/` exists, runs, and holds what `tests/requirements.txt` asks for.
fn ensure_venv(root: &Path) -> Result<()> {
    let venv = root.join(".venv");
    let python = venv.join("bin").join("python");
    let requirements_path = root.join("tests").join("requirements.txt");
    let requirements =
        fs::read_to_string(&requirements_path).with_context(|| format!("reading {}", requirements_path.display()))?;
    let stamp_path = venv.join(STAMP_FILE);

    let usable = Command::new(&python)
        .args(["-c", "import sys"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        banner(&format!("creating the Python virtualenv {}", venv.display()));
        // --clear: a half-made or broken venv (say, its python moved away) starts over.
        if !status(Command::new("python3").arg("-m").arg("venv").arg("--clear").arg(&venv))? {
            bail!("`python3 -m venv` failed; is python3 (with the venv module) installed?");
        }
        let _ = fs::remove_file(&stamp_path);
    }

    if fs::read_to_string(&stamp_path).ok().as_deref() == Some(requirements.as_str()) {
        eprintln!("xtask: .venv is up to date with tests/requirements.txt");
        return Ok(());
    }

    banner("installing tests/requirements.txt into .venv");
    let pip = |cmd: &mut Command| {
        cmd.arg("-m")
            .arg("pip")
            .arg("install")
            .args(["--disable-pip-version-check", "--progress-bar", "off"])
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .current_dir(root)
            // The project's venv, not one that happens to be active in the caller's shell.
            .env_remove("PYTHONHOME")
            .env_remove("PIP_REQUIRE_VIRTUALENV");
    };
    let mut upgrade = Command::new(&python);
    pip(&mut upgrade);
    if !status(upgrade.args(["--quiet", "--upgrade", "pip"]))? {
        bail!("upgrading pip in .venv failed");
    }
    let mut install = Command::new(&python);
    pip(&mut install);
    if !status(install.arg("-r").arg(&requirements_path))? {
        bail!("installing tests/requirements.txt into .venv failed");
    }
    fs::write(&stamp_path, &requirements).with_context(|| format!("writing {}", stamp_path.display()))?;
    Ok(())
}

/// The browser the UI tests drive (Debian's package; playwright never downloads one).
const CHROMIUM: &str = "/usr/bin/chromium";

/// Step 1, second half: installs `chromium` with apt-get when it is missing. A failure is only
/// reported: the UI tests then fail and say why.
fn ensure_chromium() {
    if Path::new(CHROMIUM).exists() {
        return;
    }
    banner("installing chromium for the UI tests: apt-get install -y chromium");
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
    let mut cmd = if root { Command::new("apt-get") } else { Command::new("sudo") };
    if !root {
        cmd.args(["-n", "apt-get"]);
    }
    cmd.args(["install", "-y", "--no-install-recommends", "chromium"]).env("DEBIAN_FRONTEND", "noninteractive");
    if !matches!(status(&mut cmd), Ok(true)) {
        eprintln!("xtask: could not install chromium; the UI tests will fail until {CHROMIUM} exists");
    }
}

/// Step 3: the Rust tests of the whole workspace.
fn rust_tests(root: &Path) -> Result<bool> {
    let has_nextest = Command::new(cargo())
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let args: &[&str] = if has_nextest {
        &["nextest", "run", "--workspace", "--features", SDK_FEATURES, "--no-fail-fast"]
    } else {
        &["test", "--workspace", "--features", SDK_FEATURES, "--no-fail-fast"]
    };
    banner(&format!("running the Rust tests: cargo {}", args.join(" ")));
    status(Command::new(cargo()).args(args).current_dir(root))
}

/// Step 4, first half: builds the debug server and returns its path (`None` if the build failed).
///
/// The path comes from cargo's own artifact messages, so that `CARGO_TARGET_DIR` and
/// `build.target-dir` are respected whatever they are.
fn build_server(root: &Path) -> Result<Option<PathBuf>> {
    let mut cmd = Command::new(cargo());
    cmd.args(["build", "-p", "ferroflow", "--message-format=json-render-diagnostics"])
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let output = cmd.output().with_context(|| format!("could not start {cmd:?}"))?;
    if !output.status.success() {
        eprintln!("xtask: cargo build -p ferroflow failed: {}", output.status);
        return Ok(None);
    }
    let messages = String::from_utf8_lossy(&output.stdout);
    let bin = messages
        .lines()
        .filter(|line| line.contains(r#""reason":"compiler-artifact""#))
        .filter(|line| line.contains(r#""kind":["bin"]"#) && line.contains(r#""name":"ferroflow""#))
        .find_map(|line| json_string_field(line, "executable"))
        .map(PathBuf::from)
        .unwrap_or_else(|| fallback_target_dir(root).join("debug").join("ferroflow"));
    if !bin.is_file() {
        bail!("the build succeeded but {} is not there", bin.display());
    }
    eprintln!("xtask: server binary: {}", bin.display());
    Ok(Some(bin))
}

/// The SDK's optional features, built, linted and tested everywhere (the same set each time, so
/// the SDK is compiled once): LLM-call tracing through the `async-openai` crate.
const SDK_FEATURES: &str = "ferroflow-sdk/async-openai";

/// Builds the SDK's examples and returns the path of `sdk_compat` (`None` if the build failed).
fn build_sdk_driver(root: &Path) -> Result<Option<PathBuf>> {
    let mut cmd = Command::new(cargo());
    cmd.args([
        "build",
        "-p",
        "ferroflow-sdk",
        "--examples",
        "--features",
        SDK_FEATURES,
        "--message-format=json-render-diagnostics",
    ])
    .current_dir(root)
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    let output = cmd.output().with_context(|| format!("could not start {cmd:?}"))?;
    if !output.status.success() {
        eprintln!("xtask: cargo build -p ferroflow-sdk --examples failed: {}", output.status);
        return Ok(None);
    }
    let messages = String::from_utf8_lossy(&output.stdout);
    let driver = messages
        .lines()
        .filter(|line| line.contains(r#""reason":"compiler-artifact""#))
        .filter(|line| line.contains(r#""kind":["example"]"#) && line.contains(r#""name":"sdk_compat""#))
        .find_map(|line| json_string_field(line, "executable"))
        .map(PathBuf::from)
        .unwrap_or_else(|| fallback_target_dir(root).join("debug").join("examples").join("sdk_compat"));
    if !driver.is_file() {
        bail!("the build succeeded but {} is not there", driver.display());
    }
    eprintln!("xtask: SDK compatibility driver: {}", driver.display());
    Ok(Some(driver))
}

/// The target directory when cargo did not tell: `CARGO_TARGET_DIR` (relative to the root,
/// where cargo runs) or `<root>/target`.
fn fallback_target_dir(root: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// The value of the string field `"key":"..."` in one line of cargo's JSON messages.
fn json_string_field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let mut value = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

/// Step 4, second half: the compatibility suite against the built server.
/// `backend` is `FERROFLOW_TEST_BACKEND` for the run (the suite's default, SQLite, when
/// `None`).
fn python_tests(
    root: &Path,
    bin: &Path,
    sdk_driver: Option<&Path>,
    options: &TestOptions,
    backend: Option<&str>,
) -> Result<bool> {
    let python = root.join(".venv").join("bin").join("python");
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "pytest", "tests/compat", "-q"])
        .args(&options.pytest_args)
        .current_dir(root)
        .env("FERROFLOW_BIN", bin)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .env_remove("PYTHONHOME");
    if let Some(driver) = sdk_driver {
        cmd.env("FERROFLOW_SDK_COMPAT_BIN", driver);
    }
    if let Some(backend) = backend {
        cmd.env("FERROFLOW_TEST_BACKEND", backend);
    }
    banner(&format!(
        "running the compatibility suite{}: .venv/bin/python -m pytest tests/compat -q {}",
        backend.map(|b| format!(" on {b}")).unwrap_or_default(),
        options.pytest_args.iter().map(|a| display_quoted(&a.to_string_lossy())).collect::<Vec<_>>().join(" ")
    ));
    let status = cmd.status().with_context(|| format!("could not start {}", python.display()))?;
    match status.code() {
        Some(0) => Ok(true),
        Some(5) => {
            eprintln!("xtask: pytest collected no test (exit 5): counted as a failure");
            Ok(false)
        }
        _ => {
            eprintln!("xtask: pytest failed: {status}");
            Ok(false)
        }
    }
}

/// An argument as a shell would need it, for display only.
fn display_quoted(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_=./:,+@%".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<TestOptions>> {
        TestOptions::parse(args.iter().map(OsString::from))
    }

    #[test]
    fn test_options_parse() {
        let all = parse(&[]).unwrap().unwrap();
        assert!(all.rust && all.python && all.pytest_args.is_empty());

        let py = parse(&["--python-only", "--", "-k", "runs", "--rust-only"]).unwrap().unwrap();
        assert!(!py.rust && py.python);
        assert_eq!(py.pytest_args, ["-k", "runs", "--rust-only"]);

        let rs = parse(&["--rust-only"]).unwrap().unwrap();
        assert!(rs.rust && !rs.python);

        assert!(parse(&["--rust-only", "--python-only"]).is_err());
        assert!(parse(&["-k"]).is_err());
        assert!(parse(&["--help"]).unwrap().is_none());
    }

    #[test]
    fn display_quoting() {
        assert_eq!(display_quoted("-k"), "-k");
        assert_eq!(display_quoted("health or version"), "'health or version'");
        assert_eq!(display_quoted("it's"), r"'it'\''s'");
        assert_eq!(display_quoted(""), "''");
    }

    #[test]
    fn json_string_field_unescapes() {
        let line = r#"{"reason":"compiler-artifact","executable":"/a b/\"q\"/t\\x","fresh":true}"#;
        assert_eq!(json_string_field(line, "executable").as_deref(), Some(r#"/a b/"q"/t\x"#));
        assert_eq!(json_string_field(r#"{"executable":null}"#, "executable"), None);
    }
}

/// Tidy checks: architecture and style rules that the compiler does not enforce.
#[cfg(test)]
mod tidy {
    use std::ffi::OsStr;

    use super::*;

    /// One architecture rule: no normal dependency of `krate`, direct or not, is one of
    /// `forbidden` or of its family (`tokio` also bans `tokio-util`, `prost` bans `prost-types`).
    /// Dev-dependencies are not followed: tests may use anything.
    struct DependencyRule {
        krate: &'static str,
        forbidden: &'static [&'static str],
        why: &'static str,
    }

    /// The crates the SDK never depends on: it speaks only the wire protocol.
    const SERVER_SIDE: &[&str] = &[
        "ferroflow-server",
        "ferroflow-store-sqlite",
        "ferroflow-store-postgres",
        "ferroflow-core",
        "ferroflow-artifacts",
    ];

    const DEPENDENCY_RULES: &[DependencyRule] = &[
        DependencyRule {
            krate: "ferroflow-core",
            forbidden: &["sqlx", "axum", "object_store", "hyper", "tokio"],
            why: "the core is the domain and does no I/O",
        },
        DependencyRule {
            krate: "ferroflow-core",
            forbidden: &["opentelemetry-proto", "prost", "tonic", "ferroflow-proto"],
            why: "the core knows no wire protocol; the server converts wire shapes at its edge",
        },
        DependencyRule { krate: "ferroflow-sdk", forbidden: SERVER_SIDE, why: "the SDK speaks only the wire protocol" },
        DependencyRule {
            krate: "ferroflow-sdk-macros",
            forbidden: SERVER_SIDE,
            why: "the SDK speaks only the wire protocol",
        },
    ];

    /// The names of the crates `krate` depends on through normal dependencies, direct or not,
    /// as `cargo tree` resolves them for the workspace at `root` (features as that crate
    /// enables them, on this machine's platform).
    fn normal_dependencies(root: &Path, krate: &str) -> Vec<String> {
        let output = Command::new(cargo())
            .args(["tree", "-p", krate, "-e", "normal", "--prefix", "none"])
            .current_dir(root)
            .output()
            .expect("running cargo tree");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "cargo tree -p {krate} failed in {}: {}",
            root.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let mut lines = stdout.lines().filter_map(|line| line.split_whitespace().next());
        assert_eq!(lines.next(), Some(krate), "unexpected cargo tree output:\n{stdout}");
        let mut names: Vec<String> = lines.map(str::to_string).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Whether `name` is `family` itself or one of its crates (`tokio-util` for `tokio`).
    fn in_family(name: &str, family: &str) -> bool {
        name.strip_prefix(family).is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
    }

    /// Every broken rule of the workspace at `root`, one line each; empty when all hold.
    fn dependency_rule_violations(root: &Path) -> Vec<String> {
        let mut violations = Vec::new();
        for rule in DEPENDENCY_RULES {
            let bad: Vec<String> = normal_dependencies(root, rule.krate)
                .into_iter()
                .filter(|name| rule.forbidden.iter().any(|family| in_family(name, family)))
                .collect();
            if !bad.is_empty() {
                violations.push(format!(
                    "{} depends on {} ({}; see `cargo tree -p {} -e normal -i <name>`)",
                    rule.krate,
                    bad.join(", "),
                    rule.why,
                    rule.krate
                ));
            }
        }
        violations
    }

    #[test]
    fn workspace_keeps_its_dependency_rules() {
        let violations = dependency_rule_violations(&workspace_root());
        assert!(violations.is_empty(), "architecture rules broken:\n  {}", violations.join("\n  "));
    }

    /// The checker itself: a scratch workspace that breaks every rule (directly and through
    /// another crate) and keeps a forbidden crate as a dev-dependency, which is allowed.
    #[test]
    fn dependency_rules_catch_a_broken_workspace() {
        let dir = env::temp_dir().join(format!("xtask-tidy-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        // (crate, its normal dependencies, its dev-dependencies); every one a stub.
        let crates: &[(&str, &[&str], &[&str])] = &[
            ("ferroflow-core", &["ferroflow-proto", "tokio-util"], &[]),
            ("ferroflow-proto", &[], &[]),
            ("tokio-util", &[], &[]),
            ("ferroflow-server", &["ferroflow-core"], &[]),
            ("ferroflow-store-sqlite", &[], &[]),
            ("ferroflow-artifacts", &["ferroflow-core"], &[]),
            ("ferroflow-sdk", &["ferroflow-store-sqlite"], &["ferroflow-server"]),
            ("ferroflow-sdk-macros", &["ferroflow-artifacts"], &[]),
        ];
        let deps_table =
            |deps: &[&str]| deps.iter().map(|d| format!("{d} = {{ path = \"../{d}\" }}\n")).collect::<String>();
        let members: Vec<String> = crates.iter().map(|(name, ..)| format!("\"{name}\"")).collect();
        fs::create_dir_all(&dir).expect("creating the scratch workspace");
        fs::write(
            dir.join("Cargo.toml"),
            format!("[workspace]\nresolver = \"2\"\nmembers = [{}]\n", members.join(", ")),
        )
        .expect("writing the scratch workspace");
        for (name, deps, dev_deps) in crates {
            let krate = dir.join(name);
            fs::create_dir_all(krate.join("src")).expect("creating a scratch crate");
            fs::write(krate.join("src").join("lib.rs"), "").expect("writing a scratch crate");
            fs::write(
                krate.join("Cargo.toml"),
                format!(
                    "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
                     [dependencies]\n{}\n[dev-dependencies]\n{}",
                    deps_table(deps),
                    deps_table(dev_deps)
                ),
            )
            .expect("writing a scratch crate");
        }

        let violations = dependency_rule_violations(&dir);
        let _ = fs::remove_dir_all(&dir);
        let heads: Vec<&str> = violations.iter().map(|v| v.split(" (").next().unwrap_or_default()).collect();
        assert_eq!(
            heads,
            [
                "ferroflow-core depends on tokio-util",
                "ferroflow-core depends on ferroflow-proto",
                // Not ferroflow-server: a dev-dependency.
                "ferroflow-sdk depends on ferroflow-store-sqlite",
                // Through ferroflow-artifacts.
                "ferroflow-sdk-macros depends on ferroflow-artifacts, ferroflow-core",
            ],
            "{violations:#?}"
        );
    }

    #[test]
    fn every_source_file_starts_with_a_module_doc() {
        let crates = workspace_root().join("crates");
        let mut files = Vec::new();
        for entry in fs::read_dir(&crates).expect("reading crates/") {
            let src = entry.expect("reading crates/").path().join("src");
            if src.is_dir() {
                collect_rs_files(&src, &mut files);
            }
        }
        assert!(!files.is_empty(), "no .rs file found under {}", crates.display());
        let mut missing: Vec<String> = files
            .iter()
            .filter(|path| {
                let text = fs::read_to_string(path).unwrap_or_default();
                let first = text.lines().map(str::trim_start).find(|line| !line.is_empty());
                !first.is_some_and(|line| line.starts_with("//!") || line.starts_with("#!["))
            })
            .map(|path| path.strip_prefix(workspace_root()).unwrap_or(path).display().to_string())
            .collect();
        missing.sort();
        assert!(
            missing.is_empty(),
            "these files must start with a `//!` line saying what the module is for:\n  {}",
            missing.join("\n  ")
        );
    }

    fn collect_rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("reading a source directory") {
            let path = entry.expect("reading a source directory").path();
            if path.is_dir() {
                collect_rs_files(&path, out);
            } else if path.extension() == Some(OsStr::new("rs")) {
                out.push(path);
            }
        }
    }
}
