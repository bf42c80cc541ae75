//! Realtime capture (`docs/protocols/zkteco-binary.md` §12): every event is acknowledged as it
//! arrives.

use attendance_core::scan::{MachineId, ScanData};
use bytes::Bytes;
use chrono_tz::Tz;
use futures::Stream;

use super::{ZkClient, ZkError, event_to_scan};
use crate::zk::codec::{RealtimeAttendance, cmd, event_flag};

/// A realtime event from the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveEvent {
    /// An attendance punch, with its raw data.
    Attendance {
        /// The decoded punch.
        event: RealtimeAttendance,
        /// The event data as sent.
        data: Bytes,
    },
    /// Another event kind (flag other than 1), kept raw.
    Other {
        /// The event flag.
        flag: u16,
        /// The event data.
        data: Bytes,
    },
}

/// A client registered for realtime events. Every event is acknowledged as it arrives.
#[derive(Debug)]
pub struct LiveCapture {
    pub(super) client: ZkClient,
}

impl LiveCapture {
    /// Waits (without timeout: punches may be hours apart) for the next event. Errors with
    /// [`ZkError::Disconnected`] when the device closes the connection and with
    /// [`ZkError::Codec`] for an attendance event of unknown size.
    pub async fn next_event(&mut self) -> Result<LiveEvent, ZkError> {
        let during = "live capture";
        let packet = loop {
            if let Some(p) = self.client.events.pop_front() {
                break p;
            }
            let p = self
                .client
                .link
                .recv(self.client.config.checksum_policy)
                .await
                .map_err(|e| ZkError::from_recv(e, during, self.client.config.addr))?;
            if ZkClient::is_event(&p) {
                self.client.ack_event().await?;
                break p;
            }
            tracing::debug!(
                command = p.command,
                "ignoring a non-event packet during live capture"
            );
        };
        if packet.session & event_flag::ATTLOG != 0 {
            let event = RealtimeAttendance::decode(&packet.data)
                .map_err(|source| ZkError::Codec { during, source })?;
            Ok(LiveEvent::Attendance {
                event,
                data: packet.data,
            })
        } else {
            Ok(LiveEvent::Other {
                flag: packet.session,
                data: packet.data,
            })
        }
    }

    /// Waits for the next attendance punch and converts it to a scan (other events are
    /// skipped). A punch with an impossible date or PIN is logged and skipped.
    pub async fn next_scan(&mut self, machine: &MachineId, tz: Tz) -> Result<ScanData, ZkError> {
        loop {
            if let LiveEvent::Attendance { event, data } = self.next_event().await? {
                match event_to_scan(&event, &data, machine, tz) {
                    Ok(scan) => return Ok(scan),
                    Err(reason) => tracing::warn!(%reason, "skipping a bad realtime punch"),
                }
            }
        }
    }

    /// The punches as a stream of scans; it ends after the first error.
    pub fn into_scans(
        self,
        machine: MachineId,
        tz: Tz,
    ) -> impl Stream<Item = Result<ScanData, ZkError>> {
        futures::stream::unfold(Some(self), move |state| {
            let machine = machine.clone();
            async move {
                let mut capture = state?;
                match capture.next_scan(&machine, tz).await {
                    Ok(scan) => Some((Ok(scan), Some(capture))),
                    Err(e) => Some((Err(e), None)),
                }
            }
        })
    }

    /// Unregisters (flags 0), acknowledging events that arrive meanwhile (they stay queued for
    /// nobody and are dropped), and returns the client.
    pub async fn stop(mut self) -> Result<ZkClient, ZkError> {
        self.client
            .command(
                cmd::REG_EVENT,
                Bytes::copy_from_slice(&0u32.to_le_bytes()),
                "unregister events",
            )
            .await?;
        self.client.events.clear();
        Ok(self.client)
    }
}
