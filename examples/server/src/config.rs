//! The server's configuration: defaults, a TOML file, the environment and flags.
//!
//! Precedence, per key: **flags > environment > file > defaults**. Clap reads the flags and the
//! environment variables ([`Cli`]); the file (`--config FILE` or `ATTENDANCE_CONFIG`) is read
//! into [`FileConfig`], whose keys are the flags' long names with `_` for `-` (and
//! `cors_origins` for the repeatable `--cors-origin`). [`Config::resolve`] merges them into the
//! one [`Config`] the server starts from.
//!
//! A file that is missing, is not TOML, holds an unknown key or a value of the wrong kind stops
//! the server with a [`ConfigError`] that names the file and the key.
//! `examples/server/attendance.example.toml` documents every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::Method;
use axum::http::header::{
    ACCEPT, AUTHORIZATION, CONTENT_DISPOSITION, CONTENT_TYPE, HeaderValue, RETRY_AFTER,
};
use serde::Deserialize;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::cli::Cli;
use crate::serve::{
    DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    HttpLimits,
};

/// The default listening address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8000";

/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = "./attendance-data";

/// The shortest token signing secret accepted, in bytes.
pub const MIN_JWT_SECRET_LEN: usize = 32;

/// The origins the demo allows when none are configured: the usual development servers of a
/// frontend (Create React App / Next.js on 3000, Vite on 5173).
pub const DEMO_CORS_ORIGINS: [&str; 4] = [
    "http://localhost:3000",
    "http://127.0.0.1:3000",
    "http://localhost:5173",
    "http://127.0.0.1:5173",
];

/// The keys of a configuration file. Every key is optional; any other key is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `--bind`.
    pub bind: Option<SocketAddr>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--ws-port`.
    pub ws_port: Option<u16>,
    /// `--jwt-secret`.
    pub jwt_secret: Option<String>,
    /// `--admin-user`.
    pub admin_user: Option<String>,
    /// `--admin-password`.
    pub admin_password: Option<String>,
    /// `--cors-origin`, all of them.
    pub cors_origins: Option<Vec<String>>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--metrics-token`.
    pub metrics_token: Option<String>,
    /// `--header-timeout`, in seconds.
    pub header_timeout: Option<u64>,
    /// `--body-timeout`, in seconds.
    pub body_timeout: Option<u64>,
    /// `--idle-timeout`, in seconds.
    pub idle_timeout: Option<u64>,
    /// `--max-connections`.
    pub max_connections: Option<usize>,
    /// `--iclock-bind`.
    pub iclock_bind: Option<SocketAddr>,
    /// `--instance-name`.
    pub instance_name: Option<String>,
    /// `--lease-ms`.
    pub lease_ms: Option<u64>,
}

/// How the server writes its log lines (`--log-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event (the default).
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `fields`, the spans), for log
    /// collectors.
    Json,
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config` / `ATTENDANCE_CONFIG` does not exist.
    #[error("configuration file {}: not found (given by --config or ATTENDANCE_CONFIG)", file.display())]
    Missing {
        /// The file.
        file: PathBuf,
    },
    /// The file could not be read.
    #[error("configuration file {}: cannot be read: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("configuration file {}: not valid TOML: {message}", file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The parser's message, with the line.
        message: String,
    },
    /// The file holds a key the server does not know.
    #[error(
        "configuration file {}: unknown key `{key}` (the keys are {})",
        file.display(),
        FileConfig::KEYS.join(", ")
    )]
    UnknownKey {
        /// The file.
        file: PathBuf,
        /// The key.
        key: String,
    },
    /// A key of the file has a bad value.
    #[error("configuration file {}: key `{key}`: {message}", file.display())]
    BadValue {
        /// The file.
        file: PathBuf,
        /// The key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A flag or environment variable has a bad value.
    #[error("{flag}: {message}")]
    BadFlag {
        /// The flag and its variable.
        flag: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl FileConfig {
    /// Every key a file may hold.
    pub const KEYS: [&'static str; 17] = [
        "bind",
        "data_dir",
        "database_url",
        "ws_port",
        "jwt_secret",
        "admin_user",
        "admin_password",
        "cors_origins",
        "log_format",
        "metrics_token",
        "header_timeout",
        "body_timeout",
        "idle_timeout",
        "max_connections",
        "iclock_bind",
        "instance_name",
        "lease_ms",
    ];

    /// Reads and checks `file`.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ConfigError::Missing { file: file.into() }
            } else {
                ConfigError::Read {
                    file: file.into(),
                    source,
                }
            }
        })?;
        Self::parse(file, &text)
    }

    /// Parses and checks `text`, the contents of `file`.
    pub fn parse(file: &Path, text: &str) -> Result<Self, ConfigError> {
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    file: file.into(),
                    message: e.to_string().trim().to_owned(),
                })?;
        let whole = toml::Value::Table(table.clone()).try_into::<Self>();
        let config = match whole {
            Ok(config) => config,
            // Find the key at fault by reading each key on its own.
            Err(whole) => {
                for (key, value) in table {
                    if !Self::KEYS.contains(&key.as_str()) {
                        return Err(ConfigError::UnknownKey {
                            file: file.into(),
                            key,
                        });
                    }
                    let alone = toml::Table::from_iter([(key.clone(), value)]);
                    if let Err(e) = toml::Value::Table(alone).try_into::<Self>() {
                        return Err(ConfigError::BadValue {
                            file: file.into(),
                            key,
                            message: e.message().to_owned(),
                        });
                    }
                }
                return Err(ConfigError::Syntax {
                    file: file.into(),
                    message: whole.message().to_owned(),
                });
            }
        };
        let bad = |key: &str, message: String| ConfigError::BadValue {
            file: file.into(),
            key: key.into(),
            message,
        };
        if let Some(secret) = &config.jwt_secret {
            check_jwt_secret(secret).map_err(|m| bad("jwt_secret", m))?;
        }
        if let Some(origins) = &config.cors_origins {
            CorsPolicy::parse(origins).map_err(|m| bad("cors_origins", m))?;
        }
        if let Some(token) = &config.metrics_token {
            check_metrics_token(token).map_err(|m| bad("metrics_token", m))?;
        }
        for (key, value) in [
            ("header_timeout", config.header_timeout),
            ("body_timeout", config.body_timeout),
            ("idle_timeout", config.idle_timeout),
        ] {
            if let Some(secs) = value {
                check_timeout(secs).map_err(|m| bad(key, m))?;
            }
        }
        if let Some(n) = config.max_connections {
            check_max_connections(n).map_err(|m| bad("max_connections", m))?;
        }
        if let Some(ms) = config.lease_ms {
            check_lease_ms(ms).map_err(|m| bad("lease_ms", m))?;
        }
        Ok(config)
    }
}

/// The shortest metrics token accepted, in characters.
pub const MIN_METRICS_TOKEN_LEN: usize = 16;

pub(crate) fn check_metrics_token(token: &str) -> Result<(), String> {
    if token.trim() != token || token.chars().any(char::is_control) {
        return Err(
            "the metrics token must not hold spaces at its ends or control characters".into(),
        );
    }
    if token.len() < MIN_METRICS_TOKEN_LEN {
        return Err(format!(
            "the metrics token must be at least {MIN_METRICS_TOKEN_LEN} characters"
        ));
    }
    Ok(())
}

/// The longest HTTP timeout accepted, in seconds (a day).
pub const MAX_TIMEOUT_SECS: u64 = 86_400;

pub(crate) fn check_timeout(secs: u64) -> Result<(), String> {
    if !(1..=MAX_TIMEOUT_SECS).contains(&secs) {
        return Err(format!(
            "a timeout must be 1 to {MAX_TIMEOUT_SECS} seconds, not {secs}"
        ));
    }
    Ok(())
}

/// The most connections a listener may be configured to hold.
pub const MAX_CONNECTIONS_LIMIT: usize = 1_000_000;

pub(crate) fn check_max_connections(n: usize) -> Result<(), String> {
    if !(1..=MAX_CONNECTIONS_LIMIT).contains(&n) {
        return Err(format!(
            "the connection cap must be 1 to {MAX_CONNECTIONS_LIMIT}, not {n}"
        ));
    }
    Ok(())
}

/// The shortest and longest lease accepted (`--lease-ms`), in milliseconds.
pub const LEASE_MS_RANGE: std::ops::RangeInclusive<u64> = 300..=60_000;

/// The default lease (`--lease-ms`).
pub const DEFAULT_LEASE_MS: u64 = 5_000;

pub(crate) fn check_lease_ms(ms: u64) -> Result<(), String> {
    if !LEASE_MS_RANGE.contains(&ms) {
        return Err(format!(
            "the lease must be from {} to {} milliseconds",
            LEASE_MS_RANGE.start(),
            LEASE_MS_RANGE.end()
        ));
    }
    Ok(())
}

pub(crate) fn check_jwt_secret(secret: &str) -> Result<(), String> {
    if secret.len() < MIN_JWT_SECRET_LEN {
        return Err(format!(
            "the token secret must be at least {MIN_JWT_SECRET_LEN} characters"
        ));
    }
    Ok(())
}

/// Which browser origins may call the API (CORS). Credentials are never allowed: the API takes
/// bearer tokens, not cookies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsPolicy {
    /// No CORS headers (browsers allow only same-origin calls).
    Off,
    /// Any origin (`*`), chosen explicitly.
    Any,
    /// These origins exactly (`scheme://host[:port]`).
    Origins(Vec<String>),
}

impl CorsPolicy {
    /// The policy of a list of origins: empty is [`CorsPolicy::Off`], `["*"]` is
    /// [`CorsPolicy::Any`]; each other entry must be `http(s)://host[:port]`.
    pub fn parse(origins: &[String]) -> Result<Self, String> {
        if origins.is_empty() {
            return Ok(Self::Off);
        }
        if origins.iter().any(|o| o.trim() == "*") {
            if origins.len() > 1 {
                return Err("`*` allows every origin and cannot be listed with others".into());
            }
            return Ok(Self::Any);
        }
        let mut list = Vec::with_capacity(origins.len());
        for origin in origins {
            let origin = parse_origin(origin)?;
            if !list.contains(&origin) {
                list.push(origin);
            }
        }
        Ok(Self::Origins(list))
    }

    /// The demo's policy: [`DEMO_CORS_ORIGINS`].
    pub fn demo() -> Self {
        Self::Origins(DEMO_CORS_ORIGINS.iter().map(|o| (*o).to_owned()).collect())
    }

    /// The layer that applies the policy, `None` when it is off.
    pub fn layer(&self) -> Option<CorsLayer> {
        let allow = match self {
            Self::Off => return None,
            Self::Any => AllowOrigin::any(),
            Self::Origins(origins) => {
                AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
            }
        };
        Some(
            CorsLayer::new()
                .allow_origin(allow)
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers([AUTHORIZATION, CONTENT_TYPE, ACCEPT])
                .expose_headers([CONTENT_DISPOSITION, RETRY_AFTER])
                .allow_credentials(false)
                .max_age(Duration::from_secs(3600)),
        )
    }

    /// One line for the start-up banner.
    pub fn describe(&self) -> String {
        match self {
            Self::Off => "off (same-origin only; --cors-origin to allow a frontend)".into(),
            Self::Any => "any origin (*), without credentials".into(),
            Self::Origins(origins) => origins.join(", "),
        }
    }
}

/// `origin` checked and in the form browsers send: lower case, no trailing slash.
fn parse_origin(origin: &str) -> Result<String, String> {
    let trimmed = origin.trim();
    let lower = trimmed.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
        .ok_or_else(|| format!("origin `{trimmed}` must start with http:// or https://"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let shape = || format!("origin `{trimmed}` must be scheme://host[:port], with no path");
    let (host_ok, port) = match rest.strip_prefix('[') {
        // An IPv6 literal: `[::1]` or `[::1]:5173`.
        Some(v6) => {
            let (inside, after) = v6.split_once(']').ok_or_else(shape)?;
            let port = match after {
                "" => None,
                after => Some(after.strip_prefix(':').ok_or_else(shape)?),
            };
            (inside.parse::<std::net::Ipv6Addr>().is_ok(), port)
        }
        None => {
            let (host, port) = match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            };
            let host_ok = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
            (host_ok, port)
        }
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !host_ok || !port_ok {
        return Err(shape());
    }
    let scheme = if lower.starts_with("https://") {
        "https://"
    } else {
        "http://"
    };
    Ok(format!("{scheme}{rest}"))
}

/// Everything the server starts from, merged from flags, environment, file and defaults.
#[derive(Clone)]
pub struct Config {
    /// Whether this run is the demo.
    pub demo: bool,
    /// The configuration file read, if any.
    pub file: Option<PathBuf>,
    /// Where to listen.
    pub bind: SocketAddr,
    /// Where the server keeps its files.
    pub data_dir: PathBuf,
    /// The database; the SQLite file in `data_dir` when `None`.
    pub database_url: Option<String>,
    /// The dedicated WebSocket port.
    pub ws_port: Option<u16>,
    /// The token signing secret; generated into `data_dir` when `None`.
    pub jwt_secret: Option<String>,
    /// The first super admin's username.
    pub admin_user: Option<String>,
    /// The first super admin's password.
    pub admin_password: Option<String>,
    /// Which browser origins may call the API.
    pub cors: CorsPolicy,
    /// How the log lines are written.
    pub log_format: LogFormat,
    /// The bearer token `GET /metrics` requires; open when `None`.
    pub metrics_token: Option<String>,
    /// The HTTP listeners' timeouts and connection cap.
    pub http_limits: HttpLimits,
    /// Where the device push routes (`/iclock/…`, `/hikvision/…`) are served instead of the API's
    /// address, if anywhere.
    pub iclock_bind: Option<SocketAddr>,
    /// With PostgreSQL: this instance's name in the cluster (the host name when `None`).
    pub instance_name: Option<String>,
    /// With PostgreSQL: how long a lease lasts unless renewed.
    pub lease: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "***");
        f.debug_struct("Config")
            .field("demo", &self.demo)
            .field("file", &self.file)
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("ws_port", &self.ws_port)
            .field("jwt_secret", &hidden(&self.jwt_secret))
            .field("admin_user", &self.admin_user)
            .field("admin_password", &hidden(&self.admin_password))
            .field("cors", &self.cors)
            .field("log_format", &self.log_format)
            .field("metrics_token", &hidden(&self.metrics_token))
            .field("http_limits", &self.http_limits)
            .field("iclock_bind", &self.iclock_bind)
            .field("instance_name", &self.instance_name)
            .field("lease", &self.lease)
            .finish()
    }
}

impl Config {
    /// The configuration of `cli`: reads its file (if any) and merges.
    pub fn resolve(cli: &Cli) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        Self::merge(cli, file)
    }

    /// Merges `cli` (flags and environment) over `file` over the defaults.
    pub fn merge(cli: &Cli, file: FileConfig) -> Result<Self, ConfigError> {
        let demo = cli.is_demo();
        let bind = match (cli.bind, file.bind) {
            (Some(bind), _) | (None, Some(bind)) => bind,
            (None, None) => DEFAULT_BIND.parse().map_err(|_| ConfigError::BadFlag {
                flag: "--bind",
                message: format!("the default {DEFAULT_BIND} is not an address"),
            })?,
        };
        let jwt_secret = match &cli.jwt_secret {
            Some(secret) => {
                check_jwt_secret(secret).map_err(|message| ConfigError::BadFlag {
                    flag: "--jwt-secret / ATTENDANCE_JWT_SECRET",
                    message,
                })?;
                Some(secret.clone())
            }
            None => file.jwt_secret,
        };
        let metrics_token = match &cli.metrics_token {
            Some(token) => {
                check_metrics_token(token).map_err(|message| ConfigError::BadFlag {
                    flag: "--metrics-token / ATTENDANCE_METRICS_TOKEN",
                    message,
                })?;
                Some(token.clone())
            }
            None => file.metrics_token,
        };
        let seconds =
            |flag: &'static str, value: Option<u64>, file: Option<u64>, default: Duration| {
                match value {
                    Some(secs) => check_timeout(secs)
                        .map(|()| Duration::from_secs(secs))
                        .map_err(|message| ConfigError::BadFlag { flag, message }),
                    None => Ok(file.map_or(default, Duration::from_secs)),
                }
            };
        let max_connections = match cli.max_connections {
            Some(n) => {
                check_max_connections(n).map_err(|message| ConfigError::BadFlag {
                    flag: "--max-connections / ATTENDANCE_MAX_CONNECTIONS",
                    message,
                })?;
                n
            }
            None => file.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
        };
        let http_limits = HttpLimits {
            header_timeout: seconds(
                "--header-timeout / ATTENDANCE_HEADER_TIMEOUT",
                cli.header_timeout,
                file.header_timeout,
                DEFAULT_HEADER_TIMEOUT,
            )?,
            body_timeout: seconds(
                "--body-timeout / ATTENDANCE_BODY_TIMEOUT",
                cli.body_timeout,
                file.body_timeout,
                DEFAULT_BODY_TIMEOUT,
            )?,
            idle_timeout: seconds(
                "--idle-timeout / ATTENDANCE_IDLE_TIMEOUT",
                cli.idle_timeout,
                file.idle_timeout,
                DEFAULT_IDLE_TIMEOUT,
            )?,
            max_connections,
        };
        if let Some(ms) = cli.lease_ms {
            check_lease_ms(ms).map_err(|message| ConfigError::BadFlag {
                flag: "--lease-ms / ATTENDANCE_LEASE_MS",
                message,
            })?;
        }
        let lease_ms = cli.lease_ms.or(file.lease_ms).unwrap_or(DEFAULT_LEASE_MS);
        let cors = if !cli.cors_origin.is_empty() {
            CorsPolicy::parse(&cli.cors_origin).map_err(|message| ConfigError::BadFlag {
                flag: "--cors-origin / ATTENDANCE_CORS_ORIGINS",
                message,
            })?
        } else if let Some(origins) = &file.cors_origins {
            CorsPolicy::parse(origins).map_err(|message| ConfigError::BadValue {
                file: cli.config.clone().unwrap_or_default(),
                key: "cors_origins".into(),
                message,
            })?
        } else if demo {
            CorsPolicy::demo()
        } else {
            CorsPolicy::Off
        };
        Ok(Self {
            demo,
            file: cli.config.clone(),
            bind,
            data_dir: cli
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            database_url: cli.database_url.clone().or(file.database_url),
            ws_port: cli.ws_port.or(file.ws_port),
            jwt_secret,
            admin_user: cli.admin_user.clone().or(file.admin_user),
            admin_password: cli.admin_password.clone().or(file.admin_password),
            cors,
            log_format: cli.log_format.or(file.log_format).unwrap_or_default(),
            metrics_token,
            http_limits,
            iclock_bind: cli.iclock_bind.or(file.iclock_bind),
            instance_name: cli
                .instance_name
                .clone()
                .or(file.instance_name)
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty()),
            lease: Duration::from_millis(lease_ms),
        })
    }
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("attendance-server").chain(args.iter().copied()))
            .unwrap()
    }

    fn file(text: &str) -> Result<FileConfig, ConfigError> {
        FileConfig::parse(Path::new("site.toml"), text)
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_the_defaults() {
        let from_file = file(
            r#"
            bind = "0.0.0.0:9000"
            data_dir = "/var/lib/attendance"
            ws_port = 8765
            admin_user = "root"
            cors_origins = ["https://hr.example.com"]
            "#,
        )
        .unwrap();
        let merged = Config::merge(
            &cli(&["serve", "--bind", "127.0.0.1:0", "--admin-user", "boss"]),
            from_file.clone(),
        )
        .unwrap();
        assert_eq!(merged.bind, "127.0.0.1:0".parse().unwrap());
        assert_eq!(merged.admin_user.as_deref(), Some("boss"));
        assert_eq!(merged.data_dir, PathBuf::from("/var/lib/attendance"));
        assert_eq!(merged.ws_port, Some(8765));
        assert_eq!(
            merged.cors,
            CorsPolicy::Origins(vec!["https://hr.example.com".into()])
        );
        assert!(!merged.demo);

        let defaults = Config::merge(&cli(&["serve"]), FileConfig::default()).unwrap();
        assert_eq!(defaults.bind, DEFAULT_BIND.parse().unwrap());
        assert_eq!(defaults.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(defaults.database_url, None);
        assert_eq!(defaults.cors, CorsPolicy::Off);
        assert_eq!(defaults.log_format, LogFormat::Text);
        assert_eq!(defaults.metrics_token, None);
        assert_eq!(defaults.http_limits, HttpLimits::default());
        assert_eq!(defaults.iclock_bind, None);

        // The HTTP limits and the device port: flag over file over default.
        let from_file = file(
            "header_timeout = 5\nbody_timeout = 30\nidle_timeout = 20\nmax_connections = 50\niclock_bind = \"0.0.0.0:8081\"\n",
        )
        .unwrap();
        let merged = Config::merge(
            &cli(&["serve", "--idle-timeout", "7", "--max-connections", "9"]),
            from_file,
        )
        .unwrap();
        assert_eq!(
            merged.http_limits,
            HttpLimits {
                header_timeout: Duration::from_secs(5),
                body_timeout: Duration::from_secs(30),
                idle_timeout: Duration::from_secs(7),
                max_connections: 9,
            }
        );
        assert_eq!(merged.iclock_bind, Some("0.0.0.0:8081".parse().unwrap()));
        assert!(
            Config::merge(
                &cli(&["serve", "--header-timeout", "0"]),
                FileConfig::default()
            )
            .is_err()
        );

        // The log format and the metrics token: flag over file.
        let from_file =
            file("log_format = \"json\"\nmetrics_token = \"sixteen chars ok\"\n").unwrap();
        let merged = Config::merge(&cli(&["serve"]), from_file.clone()).unwrap();
        assert_eq!(merged.log_format, LogFormat::Json);
        assert_eq!(merged.metrics_token.as_deref(), Some("sixteen chars ok"));
        assert!(!format!("{merged:?}").contains("sixteen chars ok"));
        let merged = Config::merge(
            &cli(&[
                "serve",
                "--log-format",
                "text",
                "--metrics-token",
                "another long token",
            ]),
            from_file,
        )
        .unwrap();
        assert_eq!(merged.log_format, LogFormat::Text);
        assert_eq!(merged.metrics_token.as_deref(), Some("another long token"));
        assert!(
            Config::merge(
                &cli(&["serve", "--metrics-token", "short"]),
                FileConfig::default()
            )
            .is_err()
        );

        // Flags replace the file's origins; the demo allows the local dev servers by default.
        let flagged = Config::merge(
            &cli(&["--cors-origin", "*"]),
            FileConfig {
                cors_origins: Some(vec!["http://a.example".into()]),
                ..FileConfig::default()
            },
        )
        .unwrap();
        assert_eq!(flagged.cors, CorsPolicy::Any);
        let demo = Config::merge(&cli(&[]), FileConfig::default()).unwrap();
        assert!(demo.demo);
        assert_eq!(demo.cors, CorsPolicy::demo());
    }

    #[test]
    fn a_bad_file_names_the_key() {
        match file("bind = \"127.0.0.1:1\"\nbnd = 3\n") {
            Err(ConfigError::UnknownKey { key, file }) => {
                assert_eq!(key, "bnd");
                assert_eq!(file, PathBuf::from("site.toml"));
            }
            other => panic!("{other:?}"),
        }
        for (text, key) in [
            ("bind = \"nowhere\"", "bind"),
            ("ws_port = 70000", "ws_port"),
            ("ws_port = \"8765\"", "ws_port"),
            ("cors_origins = \"http://a.example\"", "cors_origins"),
            ("cors_origins = [\"a.example\"]", "cors_origins"),
            (
                "cors_origins = [\"*\", \"http://a.example\"]",
                "cors_origins",
            ),
            ("jwt_secret = \"short\"", "jwt_secret"),
            ("log_format = \"xml\"", "log_format"),
            ("header_timeout = 0", "header_timeout"),
            ("body_timeout = -1", "body_timeout"),
            ("idle_timeout = \"60\"", "idle_timeout"),
            ("max_connections = 0", "max_connections"),
            ("iclock_bind = \"8081\"", "iclock_bind"),
            ("metrics_token = \"short\"", "metrics_token"),
            (
                "metrics_token = \" a token with a space at its end \"",
                "metrics_token",
            ),
        ] {
            match file(text) {
                Err(e @ ConfigError::BadValue { .. }) => {
                    let message = e.to_string();
                    assert!(
                        message.contains(&format!("key `{key}`")) && message.contains("site.toml"),
                        "{text}: {message}"
                    );
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(file("bind = "), Err(ConfigError::Syntax { .. })));
        assert!(matches!(
            FileConfig::load(Path::new("/nonexistent/attendance.toml")),
            Err(ConfigError::Missing { .. })
        ));
    }

    #[test]
    fn origins_are_checked_and_normalised() {
        let ok = |o: &str| parse_origin(o).unwrap();
        assert_eq!(ok("http://localhost:3000"), "http://localhost:3000");
        assert_eq!(ok("HTTPS://HR.Example.com/"), "https://hr.example.com");
        assert_eq!(ok("http://[::1]:5173"), "http://[::1]:5173");
        assert_eq!(ok("http://[::1]"), "http://[::1]");
        for bad in [
            "localhost:3000",
            "ftp://a.example",
            "http://",
            "http://a.example/app",
            "http://a.example:0",
            "http://a.example:99999",
            "http://a example",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
        assert_eq!(CorsPolicy::parse(&[]).unwrap(), CorsPolicy::Off);
        assert!(CorsPolicy::Off.layer().is_none());
        assert!(CorsPolicy::Any.layer().is_some());
    }

    #[test]
    fn the_example_file_holds_every_key_and_is_valid() {
        let text = include_str!("../attendance.example.toml");
        // Every key appears (commented out or not) in the example.
        for key in FileConfig::KEYS {
            assert!(
                text.lines().any(|l| l
                    .trim_start_matches(['#', ' '])
                    .starts_with(&format!("{key} ="))),
                "{key} is not documented"
            );
        }
        // Uncommented, the example is a valid file.
        let uncommented: String = text
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|l| l.contains(" = "))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        file(&uncommented).unwrap();
    }
}
