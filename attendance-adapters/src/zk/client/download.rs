//! The buffered downloads (`docs/protocols/zkteco-binary.md` §7) and the complete pull.

use attendance_core::scan::MachineId;
use bytes::{Bytes, BytesMut};
use chrono_tz::Tz;

use super::{AttendanceDump, Pull, ZkClient, ZkError, records_to_scans};
use crate::zk::codec::{
    BufferReady, BufferRequest, ChunkRequest, FreeSizes, PrepareData, UserLayout, UserRecord,
    attendance_layout, cmd, dataset_body, decode_attendance_records, decode_user_records,
    user_layout,
};

impl ZkClient {
    /// Reads a whole table through the device's read buffer (`docs/protocols/zkteco-binary.md`
    /// §7) and returns the dataset (`u32 total_bytes` + entries).
    async fn read_buffer(
        &mut self,
        request: BufferRequest,
        during: &'static str,
    ) -> Result<Bytes, ZkError> {
        let first = self
            .request(cmd::DATA_WRRQ, request.encode(), during)
            .await?;
        let size = match first.command {
            // Small tables come back inline, and need no FREE_DATA.
            cmd::DATA => return Ok(first.data),
            cmd::ACK_OK => {
                BufferReady::decode(&first.data)
                    .map_err(|source| ZkError::Codec { during, source })?
                    .size
            }
            _ => return Self::expect(first, during).map(|_| Bytes::new()),
        };
        // The size comes from outside: do not trust it for the allocation.
        let mut out = BytesMut::with_capacity((size as usize).min(16 << 20));
        let chunk = self.config.chunk();
        let mut start: u32 = 0;
        while start < size {
            let length = chunk.min(size - start);
            self.read_chunk(start, length, &mut out, during).await?;
            start += length;
        }
        if out.len() != size as usize {
            return Err(ZkError::Unexpected {
                during,
                command: cmd::DATA,
                detail: format!("{} bytes received for a {size}-byte buffer", out.len()),
            });
        }
        self.command(cmd::FREE_DATA, Bytes::new(), "free data")
            .await?;
        Ok(out.freeze())
    }

    async fn read_chunk(
        &mut self,
        start: u32,
        length: u32,
        out: &mut BytesMut,
        during: &'static str,
    ) -> Result<(), ZkError> {
        let request = ChunkRequest {
            start: i32::try_from(start).unwrap_or(i32::MAX),
            length: i32::try_from(length).unwrap_or(i32::MAX),
        };
        let first = self
            .request(cmd::DATA_RDY, request.encode(), during)
            .await?;
        let want = match first.command {
            // Some firmware answers a chunk request with the data directly.
            cmd::DATA => {
                out.extend_from_slice(&first.data);
                return Ok(());
            }
            cmd::PREPARE_DATA => {
                PrepareData::decode(&first.data)
                    .map_err(|source| ZkError::Codec { during, source })?
                    .length as usize
            }
            _ => return Self::expect(first, during).map(drop),
        };
        if want > length as usize {
            return Err(ZkError::Unexpected {
                during,
                command: cmd::PREPARE_DATA,
                detail: format!("{want} bytes announced for a {length}-byte chunk"),
            });
        }
        let mut got = 0;
        while got < want {
            let p = self.recv_reply(during).await?;
            if p.command != cmd::DATA {
                return Err(ZkError::Unexpected {
                    during,
                    command: p.command,
                    detail: format!("DATA expected, {got} of {want} bytes received"),
                });
            }
            got += p.data.len();
            if got > want {
                return Err(ZkError::Unexpected {
                    during,
                    command: p.command,
                    detail: format!("{got} bytes received for a {want}-byte chunk"),
                });
            }
            out.extend_from_slice(&p.data);
        }
        let ack = self.recv_reply(during).await?;
        Self::expect(ack, during).map(drop)
    }

    /// The user table. Its layout is derived from the user count of `sizes` (read it with
    /// [`ZkClient::free_sizes`]); errors with [`ZkError::Codec`] when it matches no layout.
    pub async fn read_users(&mut self, sizes: &FreeSizes) -> Result<Vec<UserRecord>, ZkError> {
        let during = "read users";
        let count = usize::try_from(sizes.users).unwrap_or(0);
        if count == 0 {
            return Ok(Vec::new());
        }
        let codec = |source| ZkError::Codec { during, source };
        let dataset = self.read_buffer(BufferRequest::USERS, during).await?;
        let body = dataset_body(&dataset).map_err(codec)?;
        let Some(layout): Option<UserLayout> = user_layout(body.len(), count).map_err(codec)?
        else {
            return Ok(Vec::new());
        };
        decode_user_records(layout, body).map_err(codec)
    }

    /// All attendance records, through the buffered read. The layout is derived from the
    /// record count of `sizes`; a count of 0 skips the download, as pyzk does.
    pub async fn read_attendance(&mut self, sizes: &FreeSizes) -> Result<AttendanceDump, ZkError> {
        let during = "read attendance";
        let count = usize::try_from(sizes.records).unwrap_or(0);
        if count == 0 {
            return Ok(AttendanceDump::default());
        }
        let codec = |source| ZkError::Codec { during, source };
        let dataset = self.read_buffer(BufferRequest::ATTENDANCE, during).await?;
        let body = dataset_body(&dataset).map_err(codec)?;
        let layout = attendance_layout(body.len(), count).map_err(codec)?;
        let records = match layout {
            Some(layout) => decode_attendance_records(layout, body).map_err(codec)?,
            None => Vec::new(),
        };
        let raw = dataset.slice(4..4 + body.len());
        Ok(AttendanceDump {
            layout,
            records,
            raw,
        })
    }

    /// The complete pull in the recommended order: disable the terminal, read the counters,
    /// the users and the attendance records, then enable the terminal again on every path,
    /// errors included. Records become scans in `tz` (see [`records_to_scans`]).
    pub async fn pull(&mut self, machine: &MachineId, tz: Tz) -> Result<Pull, ZkError> {
        self.disable_device().await?;
        let result = self.pull_disabled().await;
        let enabled = self.enable_device().await;
        let (users, dump) = match (result, enabled) {
            (Ok(r), Ok(())) => r,
            (Err(e), enabled) => {
                if let Err(again) = enabled {
                    tracing::warn!(error = %again, "could not enable the device after a failed pull");
                }
                return Err(e);
            }
            (Ok(_), Err(e)) => return Err(e),
        };
        let (scans, bad_records) = records_to_scans(&dump, &users, machine, tz);
        if !bad_records.is_empty() {
            tracing::warn!(
                machine = %machine,
                bad = bad_records.len(),
                "ZK records that could not become scans"
            );
        }
        Ok(Pull {
            users,
            layout: dump.layout,
            scans,
            bad_records,
        })
    }

    async fn pull_disabled(&mut self) -> Result<(Vec<UserRecord>, AttendanceDump), ZkError> {
        let sizes = self.free_sizes().await?;
        let users = self.read_users(&sizes).await?;
        let dump = self.read_attendance(&sizes).await?;
        Ok((users, dump))
    }
}
