//! `zk-fake`: a fake ZKTeco terminal on 127.0.0.1 for demos, benchmarks and third-party clients
//! (pyzk, zkteco-js, node-zklib).
//!
//! ```text
//! zk-fake --port 4370 --records 10000 --record-size 40 --users 10 --comm-key 123 --udp --live-every 5
//! ```

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use attendance_adapters::zk::codec::{EventLayout, RecordLayout, UserLayout};
use attendance_adapters::zk::fake::{FakeConfig, FakeDevice};
use clap::Parser;
use tokio::net::{TcpListener, UdpSocket};

/// A fake ZKTeco terminal speaking the binary protocol.
#[derive(Debug, Parser)]
#[command(name = "zk-fake", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (4370 on real terminals; 0 picks a free one).
    #[arg(long, default_value_t = 4370)]
    port: u16,
    /// Number of attendance records.
    #[arg(long, default_value_t = 10_000)]
    records: usize,
    /// Attendance record size: 8, 16 or 40 bytes.
    #[arg(long, default_value_t = 40)]
    record_size: usize,
    /// Number of enrolled users (PINs `--first-pin`, `--first-pin` + 1, ...).
    #[arg(long, default_value_t = 10)]
    users: usize,
    /// The PIN of the first user, so the fake's users can match enrolled employees.
    #[arg(long, default_value_t = 1)]
    first_pin: usize,
    /// User record size: 28 or 72 bytes (default: 28 with 16-byte records, else 72).
    #[arg(long)]
    user_size: Option<usize>,
    /// Realtime event size: 12, 32, 36 or 52 bytes.
    #[arg(long, default_value_t = 32)]
    event_size: usize,
    /// Comm key the clients must prove.
    #[arg(long)]
    comm_key: Option<u32>,
    /// Serve UDP instead of TCP.
    #[arg(long)]
    udp: bool,
    /// Push a realtime punch to registered clients every this many seconds.
    #[arg(long)]
    live_every: Option<f64>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let Some(record_layout) = RecordLayout::from_size(args.record_size) else {
        bail!("--record-size must be 8, 16 or 40");
    };
    let user_size = args
        .user_size
        .unwrap_or(if record_layout == RecordLayout::Numeric16 {
            28
        } else {
            72
        });
    let Some(user_layout) = UserLayout::from_size(user_size) else {
        bail!("--user-size must be 28 or 72");
    };
    let event_layout = match args.event_size {
        12 => EventLayout::Numeric12,
        32 => EventLayout::Text32,
        36 => EventLayout::Text36,
        52 => EventLayout::Text52,
        _ => bail!("--event-size must be 12, 32, 36 or 52"),
    };
    let config = FakeConfig {
        records: args.records,
        record_layout,
        users: args.users,
        first_pin: args.first_pin,
        user_layout,
        event_layout,
        comm_key: args.comm_key,
        ..FakeConfig::default()
    };
    let device = FakeDevice::new(config).context("building the fake device's data")?;

    if let Some(seconds) = args.live_every {
        let period = Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|d| !d.is_zero())
            .context("--live-every must be a positive number of seconds")?;
        let pusher = device.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            for n in 0.. {
                tick.tick().await;
                let event = pusher.config().live_event(n);
                let receivers = pusher.push_event(event.clone());
                tracing::info!(user_id = %event.user_id, receivers, "pushed a live punch");
            }
        });
    }

    let shutdown = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot wait for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let transport = if args.udp { "UDP" } else { "TCP" };
    if args.udp {
        let socket = UdpSocket::bind((args.host, args.port))
            .await
            .with_context(|| format!("binding UDP {}:{}", args.host, args.port))?;
        tracing::info!(addr = %socket.local_addr()?, transport, records = args.records, "zk-fake listening");
        device.serve_udp(socket, shutdown).await;
    } else {
        let listener = TcpListener::bind((args.host, args.port))
            .await
            .with_context(|| format!("binding TCP {}:{}", args.host, args.port))?;
        tracing::info!(addr = %listener.local_addr()?, transport, records = args.records, "zk-fake listening");
        device.serve_tcp(listener, shutdown).await;
    }
    Ok(())
}
