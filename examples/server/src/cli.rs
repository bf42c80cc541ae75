//! The command line: `attendance-server [serve] [flags]`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use attendance_adapters::engine::{Engine, EngineConfig};
use attendance_core::access::Role;
use attendance_core::service::AttendanceService;
use attendance_core::store::memory::MemoryStore;
use attendance_core::store::{Store, UserAccount};
use clap::Parser;

use crate::auth::{TokenKeys, hash_password};
use crate::{AppState, app};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(name = "attendance-server", version, about)]
pub struct Cli {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8000", env = "ATTENDANCE_BIND")]
    pub bind: SocketAddr,
    /// The first super admin's username, created when there are no users.
    #[arg(long, env = "ATTENDANCE_ADMIN_USER", default_value = "admin")]
    pub admin_user: String,
    /// The first super admin's password.
    #[arg(
        long,
        env = "ATTENDANCE_ADMIN_PASSWORD",
        default_value = "admin-password"
    )]
    pub admin_password: String,
}

/// Runs the binary.
pub fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,attendance=info".into()),
        )
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(cli))
}

async fn serve(cli: Cli) -> Result<()> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    if store.list_accounts().await?.is_empty() {
        store
            .create_account(&UserAccount {
                username: cli.admin_user.clone(),
                password_hash: hash_password(cli.admin_password.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?,
                role: Role::SuperAdmin,
                employee: None,
                active: true,
            })
            .await?;
    }
    let engine = Arc::new(Engine::start(
        AttendanceService::new(store.clone()),
        EngineConfig::default(),
    ));
    let secret: Vec<u8> = uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .chain(uuid::Uuid::new_v4().as_bytes())
        .copied()
        .collect();
    let state = AppState::new(
        store,
        engine.clone(),
        TokenKeys::new(&secret, Duration::from_secs(8 * 3600)),
    );
    let listener = tokio::net::TcpListener::bind(cli.bind)
        .await
        .with_context(|| format!("binding {}", cli.bind))?;
    println!(
        "attendance-server listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    engine.shutdown().await;
    Ok(())
}
