//! The command line: `attendance-server [serve] [flags]`.
//!
//! - `attendance-server` (no subcommand) runs the **demo**: seeded departments, employees, leave
//!   policies, holidays, one user per role, and two machines that really run (the simulator and
//!   an in-process fake ZKTeco terminal read through the real ZKTeco adapter).
//! - `attendance-server serve` runs without demo data: it reads the stored machines, and creates
//!   the first super admin from `--admin-user` / `--admin-password` (or
//!   `ATTENDANCE_ADMIN_USER` / `ATTENDANCE_ADMIN_PASSWORD`) when there are no users yet.
//! - `attendance-server users add|list|passwd|disable …`, `attendance-server import employees
//!   FILE`, `attendance-server import scans FILE` and `attendance-server export monthly …` work
//!   on the store of the same `--data-dir` / `--database-url`, whether a server runs on it or not
//!   (see [`crate::tools`] and [`crate::file_tools`]); `attendance-server backup FILE` copies a
//!   SQLite database while the server runs ([`crate::ops::backup`]).
//! - `--log-format json|text` chooses the log lines' format; `--metrics-token` makes
//!   `GET /metrics` require a bearer token (see [`crate::ops`]).
//!
//! Every flag also reads an environment variable and a key of the TOML file given by `--config`
//! (see [`crate::config`]): flags > environment > file > defaults.
//!
//! Shutdown (Ctrl-C): WebSockets close, HTTP stops accepting, the machines stop, then the engine
//! drains its queue (every scan accepted is stored) and the process exits.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use attendance_adapters::engine::EngineHandle;
use attendance_core::access::Role;
use attendance_core::store::Store;
use attendance_core::store::memory::MemoryStore;
use attendance_store_postgres::{PgOptions, PgStore};
use attendance_store_sqlite::{SqliteOptions, SqliteStore};
use chrono::Utc;
use clap::{Parser, Subcommand};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::accounts::{Accounts, NewAccount};
use crate::auth::TokenKeys;
use crate::config::{Config, CorsPolicy, LogFormat, check_jwt_secret, redact_url};
use crate::runtime::{MachineRuntime, Runtime, RuntimeConfig};
use crate::serve::serve;
use crate::ws::ws_only_app;
use crate::{AppState, api_app, app, push_app};
use attendance_adapters::cluster::ClusterConfig;
use attendance_core::store::cluster::{ClusterStore, InstanceInfo};

/// How long a login token lives.
pub const TOKEN_TTL: Duration = Duration::from_secs(8 * 3600);

/// Command-line options.
#[derive(Debug, Clone, Parser)]
#[command(name = "attendance-server", version, about)]
pub struct Cli {
    /// What to run; the demo when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// A TOML configuration file (keys: see `attendance.example.toml`); flags and environment
    /// variables override it.
    #[arg(long, global = true, env = "ATTENDANCE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where to listen (`127.0.0.1:0` picks a free port) [default: 127.0.0.1:8000].
    #[arg(long, global = true, env = "ATTENDANCE_BIND", value_name = "ADDR:PORT")]
    pub bind: Option<SocketAddr>,
    /// Where the server keeps its files (the JWT secret, the SQLite database)
    /// [default: ./attendance-data].
    #[arg(long, global = true, env = "ATTENDANCE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The database: `sqlite:PATH`, `postgres://…` or `memory:` [default: SQLite in the data
    /// directory].
    #[arg(
        long,
        global = true,
        env = "ATTENDANCE_DATABASE_URL",
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// Also serve the WebSocket on this port, at `/` and `/ws` (the seed's frontend uses 8765).
    #[arg(long, global = true, env = "ATTENDANCE_WS_PORT", value_name = "PORT")]
    pub ws_port: Option<u16>,
    /// The token signing secret; generated once into `<data-dir>/jwt-secret` when absent.
    #[arg(
        long,
        global = true,
        env = "ATTENDANCE_JWT_SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,
    /// The first super admin's username, created when there are no users.
    #[arg(long, global = true, env = "ATTENDANCE_ADMIN_USER")]
    pub admin_user: Option<String>,
    /// The first super admin's password.
    #[arg(
        long,
        global = true,
        env = "ATTENDANCE_ADMIN_PASSWORD",
        hide_env_values = true
    )]
    pub admin_password: Option<String>,
    /// A browser origin allowed to call the API (CORS), e.g. `https://hr.example.com`; repeat
    /// for more, or `*` for any. Off for `serve` by default; the demo allows localhost and
    /// 127.0.0.1 on ports 3000 and 5173. Credentials are never allowed.
    #[arg(
        long = "cors-origin",
        global = true,
        env = "ATTENDANCE_CORS_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub cors_origin: Vec<String>,
    /// How log lines are written: `text` (readable lines) or `json` (one JSON object per line,
    /// for log collectors) [default: text]. The level is set by `RUST_LOG`.
    #[arg(
        long,
        global = true,
        env = "ATTENDANCE_LOG_FORMAT",
        value_name = "FORMAT",
        value_enum
    )]
    pub log_format: Option<LogFormat>,
    /// A bearer token `GET /metrics` then requires (`Authorization: Bearer <token>`, at least
    /// 16 characters); without it the metrics are open on the API port.
    #[arg(
        long,
        global = true,
        env = "ATTENDANCE_METRICS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub metrics_token: Option<String>,
    /// Seconds a new connection has to send its first request head (one that sends nothing or
    /// trickles it is cut) [default: 10].
    #[arg(
        long,
        global = true,
        env = "ATTENDANCE_HEADER_TIMEOUT",
        value_name = "SECS"
    )]
    pub header_timeout: Option<u64>,
    /// Seconds a request body may take to arrive whole, from its head (slower: 408 and the
    /// connection closes) [default: 60].
    #[arg(
        long,
        global = true,
        env = "ATTENDANCE_BODY_TIMEOUT",
        value_name = "SECS"
    )]
    pub body_timeout: Option<u64>,
    /// Seconds a keep-alive connection may wait for its next request head before it is closed;
    /// open WebSockets are not cut (they are pinged) [default: 60].
    #[arg(
        long,
        global = true,
        env = "ATTENDANCE_IDLE_TIMEOUT",
        value_name = "SECS"
    )]
    pub idle_timeout: Option<u64>,
    /// The most connections (WebSockets included) open at once per listener; more clients wait
    /// in the accept backlog until one closes [default: 10000].
    #[arg(
        long,
        global = true,
        env = "ATTENDANCE_MAX_CONNECTIONS",
        value_name = "N"
    )]
    pub max_connections: Option<usize>,
    /// Serve the device push routes (ADMS `/iclock/…`, Hikvision `/hikvision/…`) on this address
    /// instead, and then NOT on the API's address (`--bind`) [default: on the API's address].
    #[arg(
        long,
        global = true,
        env = "ATTENDANCE_ICLOCK_BIND",
        value_name = "ADDR:PORT"
    )]
    pub iclock_bind: Option<SocketAddr>,
    /// With PostgreSQL: this instance's name in the cluster (`system-status`) [default: the
    /// host name]; its id is the name, the process id and a random suffix.
    #[arg(
        long,
        global = true,
        env = "ATTENDANCE_INSTANCE_NAME",
        value_name = "NAME"
    )]
    pub instance_name: Option<String>,
    /// With PostgreSQL: how long a machine or leader lease lasts unless renewed, in
    /// milliseconds (renewed every third of it): an instance that dies loses its machines to
    /// the others within it plus a third [default: 5000; 300 to 60000].
    #[arg(long, global = true, env = "ATTENDANCE_LEASE_MS", value_name = "MS")]
    pub lease_ms: Option<u64>,
}

/// The subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run without demo data: the stored machines, the first admin from the flags.
    Serve,
    /// Run the demo (the default).
    Demo,
    /// Manage logins in the store (with the server running or not).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Import data into the store (with the server running or not).
    #[command(subcommand)]
    Import(ImportCommand),
    /// Export reports from the store (with the server running or not).
    #[command(subcommand)]
    Export(ExportCommand),
    /// Copy the SQLite database to a new FILE, consistently, while the server runs (SQLite's
    /// `VACUUM INTO`); never overwrites a file. For PostgreSQL use `pg_dump`.
    Backup {
        /// The new file (it must not exist).
        file: PathBuf,
    },
}

/// `attendance-server users …`: the same rules as `/api/auth/users/`, acting as a super admin.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum UsersCommand {
    /// Add an account. The password is asked for on a terminal (twice, without echo), or read
    /// as one line from standard input otherwise.
    Add {
        /// The username.
        name: String,
        /// `employee`, `department_head`, `hr_staff` or `super_admin`.
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// The employee code the account is (required for `employee` and `department_head`).
        #[arg(long, value_name = "EMP")]
        employee: Option<String>,
    },
    /// List the accounts.
    List,
    /// Set a new password (asked for, or read from standard input); the account's tokens are
    /// revoked.
    Passwd {
        /// The username.
        name: String,
    },
    /// Deactivate an account; its tokens are revoked (refused for the last active super admin).
    Disable {
        /// The username.
        name: String,
    },
}

/// `attendance-server import …`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ImportCommand {
    /// Import employees from a CSV file (with a header row) or a JSON array, all or nothing.
    Employees {
        /// The file (`.json` is read as JSON, `.csv` as CSV, anything else by its first
        /// character).
        file: PathBuf,
    },
    /// Import scans from a CSV file (header: `employee_id` or `device_user_id`, `timestamp`,
    /// optionally `scan_type` and `machine_id`), all or nothing; their days are recomputed.
    Scans {
        /// The CSV file.
        file: PathBuf,
    },
}

/// `attendance-server export …`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ExportCommand {
    /// The monthly payroll report of every active employee (or one department's), as the API's
    /// `GET /api/attendance/reports/monthly/` gives it to HR.
    Monthly {
        /// The month, `YYYY-MM` (the current one or earlier).
        #[arg(long, value_name = "YYYY-MM")]
        month: String,
        /// Only this department.
        #[arg(long, value_name = "DEPARTMENT")]
        department: Option<String>,
        /// `csv` or `xlsx`.
        #[arg(long, value_name = "FORMAT")]
        format: String,
        /// The file to write (replaced if it exists).
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
    },
}

impl Cli {
    /// Whether this run is the demo.
    pub fn is_demo(&self) -> bool {
        matches!(self.command, None | Some(Command::Demo))
    }

    /// Whether this run is a command-line tool (`users`, `import`, `export`, `backup`) rather
    /// than a server.
    pub fn is_tool(&self) -> bool {
        matches!(
            self.command,
            Some(
                Command::Users(_)
                    | Command::Import(_)
                    | Command::Export(_)
                    | Command::Backup { .. }
            )
        )
    }
}

/// Runs the binary.
pub fn main() -> Result<()> {
    let cli = Cli::parse();
    let config = Config::resolve(&cli)?;
    if cli.is_tool() {
        // The tools print their results on stdout; logs (warnings only, by default) go to
        // stderr.
        init_logging(config.log_format, "warn", true);
        let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
        return runtime.block_on(crate::tools::run(&cli));
    }
    init_logging(config.log_format, "info,attendance=info", false);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let server = Server::start_with(&config).await?;
        say(&server.banner());
        let _ = tokio::signal::ctrl_c().await;
        say("shutting down: stopping machines, draining the engine …\n");
        server.stop().await;
        Ok(())
    })
}

/// Installs the log subscriber: `format` lines, the level from `RUST_LOG` (else
/// `default_filter`), on stderr or stdout.
fn init_logging(format: LogFormat, default_filter: &str, stderr: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let installed = match (format, stderr) {
        (LogFormat::Text, false) => builder.try_init(),
        (LogFormat::Text, true) => builder.with_writer(std::io::stderr).try_init(),
        (LogFormat::Json, false) => builder.json().try_init(),
        (LogFormat::Json, true) => builder.json().with_writer(std::io::stderr).try_init(),
    };
    if let Err(e) = installed {
        eprintln!("logging not set up: {e}");
    }
}

/// Writes `text` to stdout in one piece; a closed stdout is no reason to stop the server.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The store for `config` (see [`open_store`]) and, for PostgreSQL, its cluster port: several
/// instances on one database share its machines and jobs and each other's events.
pub async fn open_store_and_cluster(
    config: &Config,
) -> Result<(Arc<dyn Store>, Option<Arc<dyn ClusterStore>>)> {
    match config.database_url.as_deref().map(str::trim) {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let store = PgStore::connect(url, PgOptions::default())
                .await
                .with_context(|| {
                    format!(
                        "--database-url {}: connecting to PostgreSQL",
                        redact_url(url)
                    )
                })?;
            tracing::info!("using the PostgreSQL store");
            let cluster: Arc<dyn ClusterStore> = Arc::new(store.cluster());
            Ok((Arc::new(store), Some(cluster)))
        }
        _ => Ok((open_store(config).await?, None)),
    }
}

/// The runtime's settings for `config`: the defaults, and with a cluster port this instance's
/// membership (`--instance-name`, `--lease-ms`).
pub fn runtime_config(config: &Config, cluster: Option<Arc<dyn ClusterStore>>) -> RuntimeConfig {
    let mut runtime = RuntimeConfig::default();
    if let Some(store) = cluster {
        let name = config
            .instance_name
            .clone()
            .unwrap_or_else(attendance_adapters::cluster::host_name);
        let instance = InstanceInfo {
            instance_id: attendance_adapters::cluster::new_instance_id(&name),
            name,
        };
        tracing::info!(instance = %instance.instance_id, lease = ?config.lease, "joining the cluster of this database");
        runtime.cluster = Some(ClusterConfig::new(store, instance, config.lease));
    }
    runtime
}

/// The store for `config`: with no `--database-url`, the embedded SQLite store in
/// `<data-dir>/attendance.sqlite` (created on first start); `sqlite:…` another SQLite file;
/// `postgres://…` (or `postgresql://…`) the PostgreSQL store; `memory:` the in-memory store,
/// which keeps nothing when the server stops. Migrations run on open.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    match config.database_url.as_deref().map(str::trim) {
        None => {
            private_dir(&config.data_dir)?;
            let path = config.data_dir.join("attendance.sqlite");
            private_database_file(&path)?;
            let shown = path.display().to_string();
            let store = SqliteStore::open(&shown, server_sqlite_options())
                .await
                .with_context(|| format!("opening the SQLite store {shown}"))?;
            tracing::info!(path = %shown, "using the embedded SQLite store");
            Ok(Arc::new(store))
        }
        Some("memory:" | "memory" | "mem://") => {
            tracing::warn!("using the in-memory store: data is lost when the server stops");
            Ok(Arc::new(MemoryStore::new()))
        }
        Some(url) if url.starts_with("sqlite:") => {
            let store = SqliteStore::open(url, server_sqlite_options())
                .await
                .with_context(|| format!("--database-url {url}: opening the SQLite store"))?;
            Ok(Arc::new(store))
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let store = PgStore::connect(url, PgOptions::default())
                .await
                .with_context(|| {
                    format!(
                        "--database-url {}: connecting to PostgreSQL",
                        redact_url(url)
                    )
                })?;
            tracing::info!("using the PostgreSQL store");
            Ok(Arc::new(store))
        }
        Some(url) => bail!(
            "--database-url {}: unsupported; use sqlite:PATH, postgres://… or memory:",
            redact_url(url)
        ),
    }
}

/// The server's SQLite settings: the store's defaults with a 16 MiB writer cache (its 64 MiB
/// default suits bulk loads of millions of scans; a server's groups are small) and two read
/// connections (each runs on its own thread, and each thread's allocations their own malloc
/// arena). With the defaults the server held about 200 MB after the 100,000-punch ADMS
/// benchmark, with these about 145 MB, at the same throughput.
fn server_sqlite_options() -> SqliteOptions {
    SqliteOptions {
        cache_size_kib: 16 * 1024,
        read_connections: 2,
        ..SqliteOptions::default()
    }
}

/// The token secret: `--jwt-secret`, else the one kept in `<data-dir>/jwt-secret` (created with
/// mode 0600 on first start).
pub fn jwt_secret(config: &Config) -> Result<Vec<u8>> {
    if let Some(secret) = &config.jwt_secret {
        check_jwt_secret(secret).map_err(|e| anyhow::anyhow!("--jwt-secret: {e}"))?;
        return Ok(secret.as_bytes().to_vec());
    }
    let path = config.data_dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 32 => return Ok(text.trim().as_bytes().to_vec()),
        Ok(_) => bail!(
            "{} holds a secret shorter than 32 characters",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    private_dir(&config.data_dir)?;
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated the token signing secret");
    Ok(secret.into_bytes())
}

/// Creates `dir` (and its parents) if missing and makes it readable by its owner only (0700 on
/// Unix): it holds the database and the token signing secret.
pub fn private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private (0700)", dir.display()))?;
    }
    Ok(())
}

/// Makes the SQLite database `path` (created empty if missing: SQLite makes it a database) and
/// the journal files beside it readable by their owner only (0600 on Unix). SQLite gives its
/// `-wal` and `-shm` files the database file's mode, so later ones are private too.
pub fn private_database_file(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("making {} private (0600)", file.display()));
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Creates the first super admin from the flags when there are no users (with the rules of
/// every account: a plain username, a password of at least 10 characters that is not the
/// username); refuses to go on when there are none and no flags.
async fn ensure_admin(store: Arc<dyn Store>, config: &Config) -> Result<()> {
    if !store.list_accounts().await?.is_empty() {
        return Ok(());
    }
    let (Some(user), Some(password)) = (&config.admin_user, &config.admin_password) else {
        bail!(
            "there are no users yet: give the first super admin with --admin-user and \
             --admin-password (or ATTENDANCE_ADMIN_USER and ATTENDANCE_ADMIN_PASSWORD), or \
             add one with `attendance-server users add NAME --role super_admin`"
        );
    };
    let account = Accounts::new(store)
        .create(
            Role::SuperAdmin,
            crate::audit::SYSTEM_ACTOR,
            NewAccount {
                username: user.clone(),
                password: password.clone(),
                role: Role::SuperAdmin,
                employee: None,
            },
            Utc::now(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("the first admin (--admin-user / --admin-password): {e}"))?;
    tracing::info!(user = %account.username, "created the first super admin");
    Ok(())
}

/// A running server: its addresses, and what [`Server::stop`] shuts down in order.
#[derive(Debug)]
pub struct Server {
    /// The HTTP address.
    pub addr: SocketAddr,
    /// The dedicated WebSocket address, with `--ws-port`.
    pub ws_addr: Option<SocketAddr>,
    /// The device push address, with `--iclock-bind` (the pushes are then not on `addr`).
    pub iclock_addr: Option<SocketAddr>,
    /// Which browser origins may call the API.
    pub cors: CorsPolicy,
    /// The state (store, engine, runtime).
    pub state: AppState,
    /// The demo's logins, when this is the demo.
    pub demo: Option<crate::demo::Demo>,
    engine: Arc<EngineHandle>,
    runtime: Arc<MachineRuntime>,
    stop_http: Vec<oneshot::Sender<()>>,
    serving: Vec<JoinHandle<()>>,
}

impl Server {
    /// Resolves the configuration of `cli` (its file, the environment, the flags) and starts
    /// with it (see [`Server::start_with`]).
    pub async fn start(cli: &Cli) -> Result<Self> {
        Self::start_with(&Config::resolve(cli)?).await
    }

    /// Opens the store, seeds the demo (or checks the first admin), starts the engine, the
    /// machines and the listeners.
    pub async fn start_with(config: &Config) -> Result<Self> {
        // The process's metrics recorder (once per process; servers share it).
        let _ = crate::ops::prometheus();
        let (store, cluster) = open_store_and_cluster(config).await?;
        let secret = jwt_secret(config)?;
        let started = Runtime::start(store.clone(), runtime_config(config, cluster));
        let engine = started.engine().clone();
        let runtime = started.machines().clone();
        let state = AppState::new(
            store.clone(),
            engine.clone(),
            TokenKeys::new(&secret, TOKEN_TTL),
        )
        .with_machines(runtime.clone())
        .with_metrics_token(config.metrics_token.clone());
        let demo = if config.demo {
            Some(crate::demo::Demo::start(&state).await?)
        } else {
            ensure_admin(store.clone(), config).await?;
            None
        };
        let started = runtime.start_stored().await?;
        tracing::info!(started, "machines started");

        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("binding {}", config.bind))?;
        let addr = listener.local_addr()?;
        let mut stop_http = Vec::new();
        let mut serving = Vec::new();
        let (tx, rx) = oneshot::channel::<()>();
        stop_http.push(tx);
        let limits = config.http_limits;
        // With a device address, the pushes are served there and not on the API's address.
        let mut router = match config.iclock_bind {
            Some(_) => api_app(state.clone()),
            None => app(state.clone()),
        };
        if let Some(cors) = config.cors.layer() {
            router = router.layer(cors);
        }
        serving.push(tokio::spawn(serve(listener, router, limits, async {
            let _ = rx.await;
        })));
        let iclock_addr = match config.iclock_bind {
            Some(bind) => {
                let listener = tokio::net::TcpListener::bind(bind)
                    .await
                    .with_context(|| format!("binding the device push address {bind}"))?;
                let iclock_addr = listener.local_addr()?;
                let (tx, rx) = oneshot::channel::<()>();
                stop_http.push(tx);
                serving.push(tokio::spawn(serve(
                    listener,
                    push_app(state.clone()),
                    limits,
                    async {
                        let _ = rx.await;
                    },
                )));
                tracing::info!(address = %iclock_addr, "device pushes (/iclock, /hikvision) served on their own address");
                Some(iclock_addr)
            }
            None => None,
        };
        let ws_addr = match config.ws_port {
            Some(port) => {
                let bind = SocketAddr::new(config.bind.ip(), port);
                let listener = tokio::net::TcpListener::bind(bind)
                    .await
                    .with_context(|| format!("binding the WebSocket port {bind}"))?;
                let ws_addr = listener.local_addr()?;
                let (tx, rx) = oneshot::channel::<()>();
                stop_http.push(tx);
                serving.push(tokio::spawn(serve(
                    listener,
                    ws_only_app(state.clone()),
                    limits,
                    async {
                        let _ = rx.await;
                    },
                )));
                Some(ws_addr)
            }
            None => None,
        };
        Ok(Self {
            addr,
            ws_addr,
            iclock_addr,
            cors: config.cors.clone(),
            state,
            demo,
            engine,
            runtime,
            stop_http,
            serving,
        })
    }

    /// What to print at start: the URLs and, for the demo, the logins.
    pub fn banner(&self) -> String {
        let mut out = format!(
            "attendance-server listening on http://{addr}\n  REST:      http://{addr}/api/ (OpenAPI at /api/openapi.json)\n  Operator:  http://{addr}/healthz, /readyz, /metrics\n  WebSocket: ws://{addr}/ws?token=<access_token>\n",
            addr = self.addr
        );
        if let Some(ws) = self.ws_addr {
            out.push_str(&format!(
                "  WebSocket (dedicated port): ws://{ws}/?token=<access_token>\n"
            ));
        }
        match self.iclock_addr {
            Some(devices) => out.push_str(&format!(
                "  Devices:   http://{devices}/iclock/… (ADMS), http://{devices}/hikvision/… (not on the API's port)\n"
            )),
            None => out.push_str(&format!(
                "  Devices:   http://{addr}/iclock/… (ADMS), http://{addr}/hikvision/…\n",
                addr = self.addr
            )),
        }
        out.push_str(&format!("  CORS:      {}\n", self.cors.describe()));
        if let Some(demo) = &self.demo {
            out.push_str(&demo.describe());
        }
        out
    }

    /// Stops in order: WebSockets and HTTP, the machines, then the engine's drain.
    pub async fn stop(self) {
        self.state.realtime.shutdown();
        for tx in self.stop_http {
            let _ = tx.send(());
        }
        for task in self.serving {
            // Connections that never end must not hold the shutdown for ever.
            if tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .is_err()
            {
                tracing::warn!("HTTP connections still open after 10 s; closing anyway");
            }
        }
        self.runtime.shutdown().await;
        if let Some(demo) = self.demo {
            demo.stop().await;
        }
        let stats = self.engine.shutdown().await;
        tracing::info!(
            stored = stats.scans_stored,
            abandoned = stats.scans_abandoned,
            "engine drained"
        );
    }
}
