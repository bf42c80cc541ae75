//! The command-line tools beside the server: `attendance-server users …` and
//! `attendance-server import employees FILE` (`import scans` and `export monthly` are in
//! [`crate::file_tools`]).
//!
//! They open the store of the same configuration as `serve` (`--data-dir`, `--database-url`,
//! `--config`, the environment), so they work whether a server runs on it or not: SQLite takes
//! the two processes' writes in turn, PostgreSQL is shared anyway. They apply the API's rules
//! (through [`crate::accounts`] and [`crate::employee_import`]) acting as a super admin, print
//! their result on stdout and exit 0; a refusal exits non-zero with the reason on stderr. Their
//! changes are audited like the API's, by `cli:<os user>` ([`cli_actor`]).
//!
//! A running server sees their changes at once in its reads: a disabled account, or one whose
//! password was set, gets 401 at its next request; its WebSockets close within
//! [`crate::ws::ACCOUNT_CHECK_EVERY`]. Employees imported here are stored and their days
//! recomputed, but a running server's WebSocket clients are not told (the engine that publishes
//! lives in the server's process).

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use attendance_core::access::Role;
use attendance_core::service::AttendanceService;
use attendance_core::store::Store;
use chrono::Utc;

use crate::accounts::{
    AccountChange, AccountError, Accounts, NewAccount, parse_employee, parse_role,
};
use crate::audit::cli_actor;
use crate::cli::{Cli, Command, ExportCommand, ImportCommand, UsersCommand, open_store};
use crate::config::Config;
use crate::employee_import::{self, Format, ImportError};

/// The role the tools act with: whoever runs them can read the store anyway.
const OPERATOR: Role = Role::SuperAdmin;

/// Runs the tool `cli` names.
pub async fn run(cli: &Cli) -> Result<()> {
    let config = Config::resolve(cli)?;
    match &cli.command {
        Some(Command::Users(command)) => users(&config, command).await,
        Some(Command::Import(ImportCommand::Employees { file })) => {
            import_employees(&config, file).await
        }
        Some(Command::Import(ImportCommand::Scans { file })) => {
            crate::file_tools::import_scans(&config, file).await
        }
        Some(Command::Export(ExportCommand::Monthly {
            month,
            department,
            format,
            output,
        })) => {
            crate::file_tools::export_monthly(&config, month, department.as_deref(), format, output)
                .await
        }
        Some(Command::Backup { file }) => crate::ops::backup(&config, file).await,
        _ => bail!("not a command-line tool"),
    }
}

/// The store of `config`; the in-memory store is refused (a tool's changes would vanish with it).
pub(crate) async fn store_of(config: &Config) -> Result<Arc<dyn Store>> {
    if let Some(url) = config.database_url.as_deref()
        && url.trim().starts_with("mem")
    {
        bail!(
            "--database-url {url}: the in-memory store keeps nothing; point the tool at the server's database"
        );
    }
    open_store(config).await
}

fn refused(e: AccountError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Runs one `users` command.
pub async fn users(config: &Config, command: &UsersCommand) -> Result<()> {
    match command {
        UsersCommand::Add {
            name,
            role,
            employee,
        } => {
            let role = parse_role(role).map_err(refused)?;
            let employee = employee
                .as_deref()
                .map(parse_employee)
                .transpose()
                .map_err(refused)?;
            let password = read_password(name)?;
            let accounts = Accounts::new(store_of(config).await?);
            let account = accounts
                .create(
                    OPERATOR,
                    &cli_actor(),
                    NewAccount {
                        username: name.clone(),
                        password,
                        role,
                        employee,
                    },
                    Utc::now(),
                )
                .await
                .map_err(refused)?;
            let link = account
                .employee
                .map(|e| format!(" for employee {e}"))
                .unwrap_or_default();
            say(&format!(
                "created the {} account {}{link}\n",
                account.role, account.username
            ));
        }
        UsersCommand::List => {
            let accounts = Accounts::new(store_of(config).await?).list(OPERATOR).await;
            let accounts = accounts.map_err(refused)?;
            let mut out = format!(
                "{:<24} {:<16} {:<10} {:<8} {}\n",
                "USERNAME", "ROLE", "EMPLOYEE", "ACTIVE", "CREATED"
            );
            for a in &accounts {
                out.push_str(&format!(
                    "{:<24} {:<16} {:<10} {:<8} {}\n",
                    a.username,
                    a.role,
                    a.employee.as_ref().map_or("-", |e| e.as_str()),
                    if a.active { "yes" } else { "no" },
                    a.created_at.map_or_else(
                        || "-".to_owned(),
                        |t| t.format("%Y-%m-%d %H:%M UTC").to_string()
                    ),
                ));
            }
            say(&out);
        }
        UsersCommand::Passwd { name } => {
            let password = read_password(name)?;
            let accounts = Accounts::new(store_of(config).await?);
            let change = AccountChange {
                password: Some(password),
                ..AccountChange::default()
            };
            accounts
                .update(OPERATOR, &cli_actor(), name, change)
                .await
                .map_err(refused)?;
            say(&format!(
                "set the password of {name}; its existing tokens are revoked\n"
            ));
        }
        UsersCommand::Disable { name } => {
            let accounts = Accounts::new(store_of(config).await?);
            let changed = accounts
                .deactivate(OPERATOR, &cli_actor(), name)
                .await
                .map_err(refused)?;
            if changed.revoked {
                say(&format!("deactivated {name}; its tokens are revoked\n"));
            } else {
                say(&format!("{name} was deactivated already\n"));
            }
        }
    }
    Ok(())
}

/// A password: asked for twice without echo on a terminal, else one line of standard input.
fn read_password(name: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {name}: "))
            .context("reading the password")?;
        let again =
            rpassword::prompt_password("The same again: ").context("reading the password")?;
        if first != again {
            bail!("the two passwords differ; nothing was changed");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let password = line.trim_end_matches(['\n', '\r']).to_owned();
        if password.is_empty() {
            bail!("no password on standard input (give it as one line)");
        }
        Ok(password)
    }
}

/// Writes `text` to stdout.
pub(crate) fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// `import employees FILE`.
pub async fn import_employees(config: &Config, file: &Path) -> Result<()> {
    let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let format = match file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        _ => Format::sniff(&body),
    };
    let shown = file.display();
    let rows =
        employee_import::read_rows(format, &body).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let store = store_of(config).await?;
    let valid = match employee_import::validate(store.as_ref(), rows).await {
        Ok(valid) => valid,
        Err(ImportError::Rejected(bad)) => {
            let mut err = std::io::stderr().lock();
            for line in &bad {
                let _ = writeln!(err, "{shown}: line {}: {}", line.line, line.reason);
            }
            bail!("{shown}: {} rows refused; nothing was stored", bad.len());
        }
        Err(e) => bail!("{shown}: {e}"),
    };
    let service = AttendanceService::new(store.clone());
    let actor = cli_actor();
    let total = valid.len();
    let outcome = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("storing employees {bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let result = employee_import::store(
            store.as_ref(),
            &service,
            &actor,
            &valid,
            Utc::now(),
            &mut |done, total| {
                bar.set_position(done as u64);
                if done == total {
                    bar.set_message("stored; recomputing their days …");
                }
            },
        )
        .await;
        bar.finish_and_clear();
        result
    } else {
        // Plain lines: every 10 % (and the last).
        let step = (total / 10).max(1);
        employee_import::store(
            store.as_ref(),
            &service,
            &actor,
            &valid,
            Utc::now(),
            &mut |done, total| {
                if done == total {
                    eprintln!("stored {done}/{total} employees; recomputing their days …");
                } else if done % step == 0 {
                    eprintln!("stored {done}/{total} employees");
                }
            },
        )
        .await
    };
    let outcome = outcome.map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    say(&format!(
        "imported {} employees from {shown} ({} daily records recomputed)\n",
        outcome.created, outcome.records
    ));
    Ok(())
}
