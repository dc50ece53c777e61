//! The simulated CPE's file transfers besides Download: Upload (TR-069 Amendment 6, A.4.1.5),
//! ScheduleDownload with time windows (A.4.1.8) and CancelTransfer (A.4.1.9). Each ends with a
//! TransferComplete (A.3.3.2) carrying the request's CommandKey and `M Upload` /
//! `M ScheduleDownload`.

use std::sync::Arc;
use std::time::Duration;

use super::cpe::{download, lock, now_date_time, After, SharedRef};
use super::{Shared, SimConfig};
use crate::rpc::cancel_transfer::CancelTransferResponse;
use crate::rpc::common::FaultStruct;
use crate::rpc::download::Download;
use crate::rpc::fault::{Fault, FaultCode};
use crate::rpc::inform::event_code;
use crate::rpc::schedule_download::{ScheduleDownload, ScheduleDownloadResponse};
use crate::rpc::transfer_complete::TransferComplete;
use crate::rpc::upload::{Upload, UploadResponse};
use crate::rpc::Rpc;

/// The simulated configuration / log file.
fn file_body(file_type: &str) -> &'static [u8] {
    if file_type.starts_with('2') {
        b"<134>1 sim-cpe: link up\n"
    } else {
        b"<config><wifi ssid=\"sim\"/></config>\n"
    }
}

/// Accepts an Upload; the file goes out after the session (Status 1: TransferComplete follows).
pub(super) fn upload(u: Upload, after: &mut Vec<After>) -> Result<Rpc, Fault> {
    if !(u.file_type.starts_with('1') || u.file_type.starts_with('2')) {
        return Err(Fault::new(FaultCode::InvalidArguments));
    }
    after.push(After::Upload(u));
    Ok(UploadResponse {
        status: 1,
        start_time: "0001-01-01T00:00:00Z".into(),
        complete_time: "0001-01-01T00:00:00Z".into(),
    }
    .into())
}

/// Accepts a ScheduleDownload; it can be cancelled until its first window opens.
pub(super) fn schedule_download(s: &mut Shared, d: ScheduleDownload, after: &mut Vec<After>) -> Result<Rpc, Fault> {
    if d.time_window_list.is_empty() || !(d.file_type.starts_with('1') || d.file_type.starts_with('3')) {
        return Err(Fault::new(FaultCode::InvalidArguments));
    }
    s.scheduled.push(d.command_key.clone());
    after.push(After::ScheduleDownload(d));
    Ok(ScheduleDownloadResponse.into())
}

/// Cancels a transfer that has not started; else fault 9021.
pub(super) fn cancel(s: &mut Shared, command_key: &str) -> Result<Rpc, Fault> {
    match s.scheduled.iter().position(|k| k == command_key) {
        Some(i) => {
            s.scheduled.remove(i);
            Ok(CancelTransferResponse.into())
        }
        None => Err(Fault::new(FaultCode::CancelNotPermitted)),
    }
}

/// PUTs the file to the Upload URL, then queues the TransferComplete (9011 when the server
/// refuses, 9015 when it cannot be reached).
pub(super) fn carry_out_upload(u: Upload, shared: &SharedRef, wake: &Arc<tokio::sync::Notify>) {
    let (shared, wake) = (shared.clone(), wake.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(u.delay_seconds.into())).await;
        let start = now_date_time();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default();
        let mut req = client.put(&u.url).body(file_body(&u.file_type));
        if !u.username.is_empty() {
            req = req.basic_auth(&u.username, Some(&u.password));
        }
        let (fault, status) = match req.send().await {
            Ok(r) if r.status().is_success() => ((0, String::new()), r.status().as_u16()),
            Ok(r) => ((9011, format!("upload failure: HTTP {}", r.status())), r.status().as_u16()),
            Err(e) => ((9015, format!("unable to contact file server: {e}")), 0),
        };
        {
            let mut s = lock(&shared);
            s.uploads.push((u.url.clone(), status));
            s.pending_requests.push(
                TransferComplete {
                    command_key: u.command_key.clone(),
                    fault: FaultStruct { fault_code: fault.0, fault_string: fault.1 },
                    start_time: start,
                    complete_time: now_date_time(),
                }
                .into(),
            );
            s.add_event(event_code::TRANSFER_COMPLETE, "");
            s.add_event(event_code::M_UPLOAD, &u.command_key);
        }
        wake.notify_one();
    });
}

/// Waits for the first window to open; unless cancelled by then, downloads as a Download.
pub(super) fn carry_out_schedule(
    d: ScheduleDownload,
    config: &SimConfig,
    shared: &SharedRef,
    wake: &Arc<tokio::sync::Notify>,
) {
    let (shared, wake, config) = (shared.clone(), wake.clone(), config.clone());
    tokio::spawn(async move {
        let start = d.time_window_list.iter().map(|w| w.window_start).min().unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(start.into())).await;
        {
            let mut s = lock(&shared);
            let Some(i) = s.scheduled.iter().position(|k| *k == d.command_key) else { return };
            s.scheduled.remove(i);
        }
        let dl = Download {
            command_key: d.command_key,
            file_type: d.file_type,
            url: d.url,
            username: d.username,
            password: d.password,
            file_size: d.file_size,
            target_file_name: d.target_file_name,
            ..Download::default()
        };
        download(dl, event_code::M_SCHEDULE_DOWNLOAD, &config, &shared, &wake);
    });
}
