//! The `ferroflow` command line: reads flags and environment into one typed config, builds the
//! store and the artifact repository chosen by URI, and runs the server until a signal.
//! `anyhow` lives here and nowhere below.

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use ferroflow_artifacts::{ObjectStoreRepo, S3Settings};
use ferroflow_core::store::Store;
use ferroflow_server::auth::{Auth, AuthSettings};
use ferroflow_server::security::SecurityConfig;
use ferroflow_server::{AppState, Limits, ServerConfig};
use ferroflow_store_postgres::PostgresStore;
use ferroflow_store_sqlite::SqliteStore;
use std::path::PathBuf;
use std::sync::Arc;

mod import;

// Ingest and search allocate many small strings per span and per record; mimalloc serves
// them from per-thread pages instead of glibc's shared arenas.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "ferroflow", version, about = "The MLflow 3 GenAI platform, in one fast binary.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the tracking server (MLflow REST API, OTLP ingest, artifact proxy).
    Server(Box<ServerArgs>),
    /// Copy an MLflow database (and its artifacts) into ferroflow's store. Resumable: run it
    /// again after an interruption; records already there are skipped.
    Import(ImportArgs),
    /// Check a served agent against the ResponsesAgent checklist (input key, response and
    /// stream shapes, signature, trace, failing data tools). Prints each item ✓/✗ with the
    /// reason; exits 1 if any fails.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The agent: models:/<name>@<alias>, models:/<name>/<version>, models:/<model_id> (its
    /// logged model gives the endpoint; needs MLFLOW_TRACKING_URI) or http(s)://host:port.
    target: String,
    /// An ordinary question to ask.
    #[arg(long, default_value = "Hello!")]
    question: String,
    /// A question that makes one of the agent's data tools fail (without it, that item is skipped).
    #[arg(long)]
    failing_question: Option<String>,
    /// Seconds to wait for a trace to reach the tracking server.
    #[arg(long, default_value_t = 15)]
    trace_timeout: u64,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The MLflow backend store to copy from: sqlite:///<path> (opened read-only) or
    /// postgresql://<user>:<password>@<host>:<port>/<db> (only read).
    #[arg(long)]
    from: String,
    /// The MLflow artifact root to copy from (a directory or s3://bucket/prefix), into
    /// --artifacts-destination. Without it artifacts are left where they are.
    #[arg(long)]
    artifacts_from: Option<String>,
    /// The store to copy into, as for `ferroflow server`.
    #[arg(long, env = "FERROFLOW_BACKEND_STORE_URI", default_value = "sqlite:///ferroflow.db")]
    backend_store_uri: String,
    /// Where copied artifacts go, as for `ferroflow server`.
    #[arg(long, env = "FERROFLOW_ARTIFACTS_DESTINATION", default_value = "./mlartifacts")]
    artifacts_destination: String,
    /// The artifact root of the Default experiment if the store is new, as for `ferroflow server`.
    #[arg(long, env = "FERROFLOW_DEFAULT_ARTIFACT_ROOT", default_value = "mlflow-artifacts:")]
    default_artifact_root: String,
}

#[derive(Debug, Args)]
// `-h` is the host, as in `mlflow server`; help stays on `--help`.
#[command(disable_help_flag = true)]
struct ServerArgs {
    /// Address to listen on.
    #[arg(short = 'h', long, env = "FERROFLOW_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one and prints it).
    #[arg(short = 'p', long, env = "FERROFLOW_PORT", default_value_t = 5000)]
    port: u16,
    /// A path prefix for every route (`/health`, `/api/...`, `/v1/traces`), as `mlflow server --static-prefix`.
    #[arg(long, env = "FERROFLOW_STATIC_PREFIX")]
    static_prefix: Option<String>,
    /// Accepted for `mlflow server` compatibility and ignored: one process serves every request.
    #[arg(short = 'w', long, hide = true)]
    workers: Option<String>,
    /// Accepted for `mlflow server` compatibility and ignored.
    #[arg(long, hide = true, num_args = 1, allow_hyphen_values = true)]
    gunicorn_opts: Option<String>,
    /// Accepted for `mlflow server` compatibility and ignored.
    #[arg(long, hide = true, num_args = 1, allow_hyphen_values = true)]
    uvicorn_opts: Option<String>,
    /// Accepted for `mlflow server` compatibility and ignored.
    #[arg(long, hide = true, num_args = 1, allow_hyphen_values = true)]
    waitress_opts: Option<String>,
    /// Accepted for `mlflow server` compatibility and ignored.
    #[arg(long, hide = true)]
    dev: bool,
    /// Where runs, traces and the registry live: sqlite:///<path> (relative) or sqlite:////<abs path>,
    /// or a PostgreSQL database, postgresql://<user>:<password>@<host>:<port>/<db> (also
    /// postgresql+psycopg2://…), which any number of servers may share.
    #[arg(long, env = "FERROFLOW_BACKEND_STORE_URI", default_value = "sqlite:///ferroflow.db")]
    backend_store_uri: String,
    /// Where served artifacts are stored: a directory, a file:// URI, or s3://bucket/prefix (an
    /// S3-compatible store: MLFLOW_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_SESSION_TOKEN, AWS_DEFAULT_REGION).
    #[arg(long, env = "FERROFLOW_ARTIFACTS_DESTINATION", default_value = "./mlartifacts")]
    artifacts_destination: String,
    /// Artifact root given to new experiments; defaults to `mlflow-artifacts:/` when serving artifacts.
    #[arg(long, env = "FERROFLOW_DEFAULT_ARTIFACT_ROOT")]
    default_artifact_root: Option<String>,
    /// Serve artifacts through this server (the default).
    #[arg(long, env = "FERROFLOW_SERVE_ARTIFACTS", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    serve_artifacts: bool,
    /// Do not serve artifacts; clients write to the artifact root themselves.
    #[arg(long)]
    no_serve_artifacts: bool,
    /// Also accept OTLP over gRPC on this port (4317 is the OpenTelemetry default). Off unless set.
    #[arg(long, env = "FERROFLOW_OTLP_GRPC_PORT")]
    otlp_grpc_port: Option<u16>,
    /// Host headers to accept, comma-separated (`fnmatch` patterns; `*` for any). Default:
    /// localhost in every spelling and the private address ranges. Guards against DNS rebinding.
    #[arg(long, env = "MLFLOW_SERVER_ALLOWED_HOSTS")]
    allowed_hosts: Option<String>,
    /// Origins besides localhost allowed to make cross-origin writes, comma-separated (`*` for any).
    #[arg(long, env = "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS")]
    cors_allowed_origins: Option<String>,
    /// The X-Frame-Options header: SAMEORIGIN (default), DENY, or NONE for none.
    #[arg(long, env = "MLFLOW_SERVER_X_FRAME_OPTIONS")]
    x_frame_options: Option<String>,
    /// Turn off the Host, CORS and security-header checks (only for testing).
    #[arg(long, env = "MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    disable_security_middleware: bool,
    /// Requests handled at once; more are answered 503 with Retry-After.
    #[arg(long, env = "FERROFLOW_MAX_CONCURRENT_REQUESTS", default_value_t = 512)]
    max_concurrent_requests: usize,
    /// Accept custom `@scorer` functions in scorer registrations (refused by default, as the
    /// reference refuses them: the client runs their source when it reads them back).
    #[arg(long, env = "MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    enable_custom_scorers: bool,
    /// `basic-auth` turns on authentication and permissions (MLflow's basic-auth app), set up
    /// by the ini file MLFLOW_AUTH_CONFIG_PATH names and MLFLOW_AUTH_ADMIN_USERNAME/PASSWORD.
    #[arg(long, env = "FERROFLOW_APP_NAME")]
    app_name: Option<String>,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("FERROFLOW_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

async fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    if args.workers.is_some()
        || args.gunicorn_opts.is_some()
        || args.uvicorn_opts.is_some()
        || args.waitress_opts.is_some()
        || args.dev
    {
        tracing::info!("worker and web-server options of `mlflow server` are accepted and ignored: one process serves all requests");
    }
    let serve_artifacts = args.serve_artifacts && !args.no_serve_artifacts;
    let default_artifact_root = match (&args.default_artifact_root, serve_artifacts) {
        (Some(root), _) => root.clone(),
        (None, true) => "mlflow-artifacts:".to_string(),
        (None, false) => bail!("--default-artifact-root is required with --no-serve-artifacts"),
    };
    let store = Backend::open(&args.backend_store_uri, &default_artifact_root).await?;
    let s3 = S3Settings::from_env().context("the S3 settings")?;
    let artifacts = ObjectStoreRepo::open(&args.artifacts_destination, &s3)
        .with_context(|| format!("opening the artifact destination {}", args.artifacts_destination))?;
    let auth = match args.app_name.as_deref() {
        None => None,
        Some("basic-auth") => Some(Arc::new(start_auth(&args, &store, &default_artifact_root).await?)),
        Some(other) => bail!("unknown --app-name '{other}': the one app is 'basic-auth'"),
    };
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("binding {}:{}", args.host, args.port))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, store = %store.describe(), "ferroflow server listening on http://{address}");
    let state = AppState {
        store: store.shared(),
        artifacts: Arc::new(artifacts),
        config: Arc::new(ServerConfig {
            default_artifact_root,
            serve_artifacts,
            static_prefix: args.static_prefix.clone().map(|p| format!("/{}", p.trim_matches('/'))).filter(|p| p != "/"),
            security: SecurityConfig::from_flags(
                args.allowed_hosts.as_deref(),
                args.cors_allowed_origins.as_deref(),
                args.x_frame_options.as_deref(),
                args.disable_security_middleware,
            ),
            limits: Limits { max_concurrent_requests: args.max_concurrent_requests, ..Limits::default() },
            custom_scorers: args.enable_custom_scorers,
        }),
        auth,
    };
    // One signal stops every listener.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let grpc = match args.otlp_grpc_port {
        Some(port) => {
            let grpc_listener = tokio::net::TcpListener::bind((args.host.as_str(), port))
                .await
                .with_context(|| format!("binding the OTLP gRPC port {}:{port}", args.host))?;
            tracing::info!(address = %grpc_listener.local_addr()?, "OTLP gRPC listening");
            let mut stopped = stopped.clone();
            let state = state.clone();
            Some(tokio::spawn(ferroflow_server::grpc::serve_grpc(grpc_listener, state, async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })))
        }
        None => None,
    };
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let mut http_stopped = stopped.clone();
    ferroflow_server::serve(listener, state, async move {
        let _ = http_stopped.wait_for(|stop| *stop).await;
    })
    .await?;
    if let Some(grpc) = grpc {
        grpc.await.context("the OTLP gRPC server task")?.context("the OTLP gRPC server")?;
    }
    store.close().await;
    Ok(())
}

async fn run_import(args: ImportArgs) -> anyhow::Result<()> {
    let store = Backend::open(&args.backend_store_uri, &args.default_artifact_root).await?;
    let s3 = S3Settings::from_env().context("the S3 settings")?;
    let artifacts = ObjectStoreRepo::open(&args.artifacts_destination, &s3)
        .with_context(|| format!("opening the artifact destination {}", args.artifacts_destination))?;
    let artifacts_from = match &args.artifacts_from {
        Some(location) => Some(
            ObjectStoreRepo::open(location, &s3).with_context(|| format!("opening the artifact source {location}"))?,
        ),
        None => None,
    };
    let artifacts_from = artifacts_from.as_ref().map(|repo| repo as &dyn ferroflow_core::artifacts::ArtifactRepo);
    let result = match &store {
        Backend::Sqlite(store) => {
            import::run(&args.from, import::Target { store, artifacts: &artifacts }, artifacts_from).await
        }
        Backend::Postgres(store) => {
            import::run(&args.from, import::Target { store, artifacts: &artifacts }, artifacts_from).await
        }
    };
    store.close().await;
    result
}

/// The basic-auth app: its settings from MLflow's ini file and variables, its users in the
/// database the file names (the tracking store itself when it names none or the same one).
async fn start_auth(args: &ServerArgs, store: &Backend, default_artifact_root: &str) -> anyhow::Result<Auth> {
    let text = match std::env::var_os("MLFLOW_AUTH_CONFIG_PATH") {
        Some(path) => std::fs::read_to_string(&path)
            .with_context(|| format!("reading the auth config {}", PathBuf::from(&path).display()))?,
        None => "[mlflow]\ndefault_permission = READ\nadmin_username = admin\n".to_string(),
    };
    let (settings, database_uri) = AuthSettings::from_ini(
        &text,
        std::env::var("MLFLOW_AUTH_ADMIN_USERNAME").ok(),
        std::env::var("MLFLOW_AUTH_ADMIN_PASSWORD").ok(),
    )
    .context("the basic-auth configuration")?;
    let users: Arc<dyn ferroflow_core::store::Store> = match database_uri {
        Some(uri) if uri != args.backend_store_uri => Backend::open(&uri, default_artifact_root)
            .await
            .with_context(|| format!("opening the auth database {uri}"))?
            .shared(),
        _ => store.shared(),
    };
    let auth = Auth::start(users, settings).await.context("starting the basic-auth app")?;
    tracing::info!("basic-auth is on: every route but /health, /version and server-info needs credentials");
    Ok(auth)
}

/// The store a URI names: SQLite (`sqlite:///…`) or PostgreSQL (`postgresql://…`,
/// `postgresql+psycopg2://…`), chosen once, here.
#[derive(Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Backend {
    async fn open(uri: &str, default_artifact_root: &str) -> anyhow::Result<Backend> {
        if uri.starts_with("sqlite:") {
            let store = SqliteStore::connect(uri, default_artifact_root)
                .await
                .with_context(|| format!("opening the store at {uri}"))?;
            Ok(Backend::Sqlite(store))
        } else if ferroflow_store_postgres::is_postgres_uri(uri) {
            let store = PostgresStore::connect(uri, default_artifact_root)
                .await
                .with_context(|| format!("opening the PostgreSQL store at {}", Backend::redacted(uri)))?;
            Ok(Backend::Postgres(store))
        } else {
            bail!(
                "unsupported store URI '{}': use sqlite:///<path> or postgresql://<user>:<password>@<host>:<port>/<db>",
                Backend::redacted(uri)
            )
        }
    }

    fn shared(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(store) => Arc::new(store.clone()),
            Backend::Postgres(store) => Arc::new(store.clone()),
        }
    }

    /// What the log says the store is (no password).
    fn describe(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgresql",
        }
    }

    /// The URI without its credentials, for messages.
    pub(crate) fn redacted(uri: &str) -> String {
        match uri.split_once("://").zip(uri.rfind('@')) {
            Some(((scheme, _), at)) => format!("{scheme}://…{}", &uri[at..]),
            None => uri.to_string(),
        }
    }

    async fn close(&self) {
        match self {
            Backend::Sqlite(store) => store.close().await,
            Backend::Postgres(store) => store.close().await,
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging();
    // Two workers, not one per core: request handling is not where the time goes (each SQLite
    // connection runs its queries on a thread of its own, and writes queue on the one writer),
    // while every worker adds a stack and allocator caches to the idle footprint that
    // bench/RESULTS.md holds to 15 MiB. Two rather than one, so that a long response (a large
    // trace streamed out) or a gzip body being inflated does not hold up every other request.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    match cli.command {
        Command::Server(args) => runtime.block_on(run_server(*args)),
        Command::Import(args) => runtime.block_on(run_import(args)),
        Command::Check(args) => {
            let options = ferroflow_sdk::check::CheckOptions {
                question: args.question,
                failing_question: args.failing_question,
                trace_timeout: std::time::Duration::from_secs(args.trace_timeout),
                ..Default::default()
            };
            let report = runtime.block_on(ferroflow_sdk::check::run(&args.target, &options));
            println!("{report}");
            if !report.passed() {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
