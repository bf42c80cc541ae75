//! Packets over a socket: TCP with frame reassembly, or UDP with one packet per datagram. No
//! protocol logic and no timeouts here; the client wraps every wait in its own.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::codec::{
    ChecksumPolicy, CodecError, MAX_PACKET_LEN, Packet, check_tcp_eof, decode_tcp_frame,
};

/// Why a packet could not be received.
#[derive(Debug)]
pub(crate) enum RecvError {
    /// The socket failed.
    Io(io::Error),
    /// The peer closed the TCP connection (between frames or inside one).
    Closed,
    /// The bytes were not a packet (or the stream ended inside one).
    Codec(CodecError),
}

/// One connection to a device.
#[derive(Debug)]
pub(crate) enum PacketLink {
    Tcp { stream: TcpStream, buf: BytesMut },
    Udp { socket: UdpSocket, buf: Vec<u8> },
}

impl PacketLink {
    /// Opens a TCP connection.
    pub(crate) async fn tcp(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self::Tcp {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
        })
    }

    /// Binds a UDP socket (on the loopback address for a loopback device) connected to `addr`.
    pub(crate) async fn udp(addr: SocketAddr) -> io::Result<Self> {
        let local: SocketAddr = match (addr.is_ipv4(), addr.ip().is_loopback()) {
            (true, true) => (Ipv4Addr::LOCALHOST, 0).into(),
            (true, false) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            (false, true) => (Ipv6Addr::LOCALHOST, 0).into(),
            (false, false) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local).await?;
        socket.connect(addr).await?;
        Ok(Self::Udp {
            socket,
            buf: vec![0; MAX_PACKET_LEN + 1],
        })
    }

    /// Sends one packet in one write.
    pub(crate) async fn send(&mut self, packet: &Packet) -> io::Result<()> {
        match self {
            Self::Tcp { stream, .. } => stream.write_all(&packet.to_tcp_bytes()).await,
            Self::Udp { socket, .. } => socket.send(&packet.to_udp_bytes()).await.map(|_| ()),
        }
    }

    /// Receives the next packet.
    pub(crate) async fn recv(&mut self, policy: ChecksumPolicy) -> Result<Packet, RecvError> {
        match self {
            Self::Tcp { stream, buf } => loop {
                if let Some(p) = decode_tcp_frame(buf, policy).map_err(RecvError::Codec)? {
                    return Ok(p);
                }
                let n = stream.read_buf(buf).await.map_err(RecvError::Io)?;
                if n == 0 {
                    // A frame cut off by the close is still a close: report it as one.
                    if let Err(e) = check_tcp_eof(buf) {
                        tracing::debug!(error = %e, "device closed the connection inside a frame");
                    }
                    return Err(RecvError::Closed);
                }
            },
            Self::Udp { socket, buf } => {
                let n = socket.recv(buf).await.map_err(RecvError::Io)?;
                Packet::decode(&buf[..n], policy).map_err(RecvError::Codec)
            }
        }
    }
}
