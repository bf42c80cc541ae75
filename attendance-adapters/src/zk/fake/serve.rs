//! The socket loops of the fake terminal around [`DeviceSession`]: one task per TCP connection,
//! one session per UDP peer.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{broadcast, watch};

use super::{Action, DeviceSession, FakeDevice, Link};
use crate::zk::codec::{
    ChecksumPolicy, Packet, RealtimeAttendance, cmd, decode_tcp_frame, event_flag,
};

impl FakeDevice {
    /// Accepts TCP clients until `shutdown` completes, one task per connection; the connections
    /// end with it.
    pub async fn serve_tcp(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        // Connections watch this to end when the device stops.
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let device = self.clone();
                        let stop = stop_rx.clone();
                        tokio::spawn(async move {
                            if let Err(e) = device.serve_connection(stream, stop).await {
                                tracing::debug!(%peer, error = %e, "fake device connection ended");
                            }
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "fake device accept failed"),
                },
            }
        }
        let _ = stop_tx.send(true);
    }

    async fn serve_connection(
        &self,
        mut stream: TcpStream,
        mut stop: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let mut session = self.session(Link::Tcp);
        let mut events = self.events.subscribe();
        let mut buf = BytesMut::with_capacity(4096);
        let mut registered = false;
        let mut stalled = false;
        let mut pending: VecDeque<RealtimeAttendance> = VecDeque::new();
        // Set while an event waits for its ACK: the next one goes out after the ACK or this time.
        let mut ack_deadline: Option<tokio::time::Instant> = None;
        loop {
            // Send the next event when nothing is awaiting an ACK.
            if ack_deadline.is_none()
                && let Some(event) = pending.pop_front()
            {
                match event.to_packet(self.config.event_layout) {
                    Ok(p) => {
                        stream.write_all(&p.to_tcp_bytes()).await?;
                        ack_deadline =
                            Some(tokio::time::Instant::now() + self.config.event_ack_timeout);
                    }
                    Err(e) => tracing::warn!(error = %e, "fake device cannot encode event"),
                }
                continue;
            }
            let deadline = ack_deadline;
            tokio::select! {
                _ = stop.changed() => return Ok(()),
                () = async { if let Some(d) = deadline { tokio::time::sleep_until(d).await } else { std::future::pending().await } } => {
                    tracing::debug!("fake device: event ACK timed out");
                    ack_deadline = None;
                }
                event = events.recv() => match event {
                    Ok(e) if registered => pending.push_back(e),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!(n, "fake device dropped events"),
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                read = stream.read_buf(&mut buf) => {
                    if read? == 0 {
                        // Includes pyzk's probe connection, which closes without a byte.
                        return Ok(());
                    }
                    loop {
                        let packet = match decode_tcp_frame(&mut buf, ChecksumPolicy::Lenient) {
                            Ok(Some(p)) => p,
                            Ok(None) => break,
                            Err(e) => {
                                tracing::warn!(error = %e, "fake device got a bad frame; closing");
                                return Ok(());
                            }
                        };
                        if stalled {
                            continue;
                        }
                        for action in session.handle(&packet) {
                            match action {
                                Action::Send(p) => stream.write_all(&p.to_tcp_bytes()).await?,
                                Action::Raw(bytes) => stream.write_all(&bytes).await?,
                                Action::Truncate(p) => {
                                    let frame = p.to_tcp_bytes();
                                    stream.write_all(&frame[..frame.len() / 2]).await?;
                                    stream.shutdown().await?;
                                    return Ok(());
                                }
                                Action::Close => {
                                    stream.shutdown().await?;
                                    return Ok(());
                                }
                                Action::Stall => stalled = true,
                                Action::EventAcked => ack_deadline = None,
                                Action::Events(flags) => {
                                    registered = flags & u32::from(event_flag::ATTLOG) != 0;
                                    if !registered {
                                        pending.clear();
                                        ack_deadline = None;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Serves UDP peers until `shutdown` completes, one [`DeviceSession`] per peer address (a new
    /// one on every `CMD_CONNECT`). Realtime events go to registered peers without waiting for
    /// ACKs, which are read and dropped.
    pub async fn serve_udp(self, socket: UdpSocket, shutdown: impl Future<Output = ()>) {
        struct Peer {
            session: DeviceSession,
            registered: bool,
            stalled: bool,
        }
        let mut peers: HashMap<SocketAddr, Peer> = HashMap::new();
        let mut events = self.events.subscribe();
        let mut buf = vec![0u8; 65_536];
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                event = events.recv() => {
                    let Ok(event) = event else { continue };
                    let Ok(packet) = event.to_packet(self.config.event_layout) else { continue };
                    let bytes = packet.to_udp_bytes();
                    for (addr, peer) in &peers {
                        if peer.registered
                            && !peer.stalled
                            && let Err(e) = socket.send_to(&bytes, addr).await
                        {
                            tracing::debug!(%addr, error = %e, "fake device send failed");
                        }
                    }
                }
                received = socket.recv_from(&mut buf) => {
                    let (n, addr) = match received {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::debug!(error = %e, "fake device recv failed");
                            continue;
                        }
                    };
                    let packet = match Packet::decode(&buf[..n], ChecksumPolicy::Lenient) {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::warn!(%addr, error = %e, "fake device got a bad datagram");
                            continue;
                        }
                    };
                    if packet.command == cmd::CONNECT {
                        peers.insert(addr, Peer { session: self.session(Link::Udp), registered: false, stalled: false });
                    }
                    let Some(peer) = peers.get_mut(&addr) else {
                        tracing::debug!(%addr, "fake device: datagram before CONNECT");
                        continue;
                    };
                    if peer.stalled {
                        continue;
                    }
                    let mut forget = false;
                    for action in peer.session.handle(&packet) {
                        let out = match action {
                            Action::Send(p) => p.to_udp_bytes(),
                            Action::Raw(bytes) => bytes,
                            Action::Truncate(_) | Action::Stall => {
                                peer.stalled = true;
                                break;
                            }
                            Action::Close => {
                                forget = true;
                                break;
                            }
                            Action::EventAcked => continue,
                            Action::Events(flags) => {
                                peer.registered = flags & u32::from(event_flag::ATTLOG) != 0;
                                continue;
                            }
                        };
                        if let Err(e) = socket.send_to(&out, addr).await {
                            tracing::debug!(%addr, error = %e, "fake device send failed");
                        }
                    }
                    if forget {
                        peers.remove(&addr);
                    }
                }
            }
        }
    }
}
