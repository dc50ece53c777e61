//! The simulated client's FUMO (OMA FUMO 1.0 §10.1, §10.2.2): `Exec ./FUMO/DownloadAndUpdate`
//! is accepted (202) and its result reported by a Generic Alert 1226 of type
//! `…downloadandupdate` with `fumo_result`. Without [`super::SimConfig::fumo_delays`] the
//! update is done at once and the alert waits for the client's next session; with them, the
//! `State` node goes through Download Progressing (30) and Update Progressing (60) for the
//! delays, then the client opens a session of its own (Alert 1201) to report, as a device
//! does once its update is over.

use std::time::Duration;

use super::{Pending, SimDevice, State, Tree};
use crate::mo::fumo::{self, State as FumoState};

/// Sessions tried to report a result before it is left for the next one.
const REPORT_TRIES: u32 = 5;

impl SimDevice {
    /// `Exec ./FUMO/DownloadAndUpdate` (the node must be there); `None` for any other node.
    pub(super) fn fumo_exec(&self, st: &mut State, norm: &str, correlator: Option<String>) -> Option<u16> {
        if norm != Tree::norm("./FUMO/DownloadAndUpdate") || !st.tree.exists(norm) {
            return None;
        }
        let code = self.config.fumo_result;
        let pending = Pending {
            correlator,
            source: "./FUMO/DownloadAndUpdate".into(),
            r#type: fumo::alert_type::DOWNLOAD_AND_UPDATE.into(),
            code,
        };
        match self.config.fumo_delays {
            None => {
                st.tree.set("./FUMO/State", &end_state(code).value().to_string());
                st.pending.push(pending);
            }
            Some((download, update)) => {
                st.tree.set("./FUMO/State", &FumoState::DownloadProgressing.value().to_string());
                let me = self.clone();
                tokio::spawn(async move { me.download_and_update(download, update, pending).await });
            }
        }
        Some(202)
    }

    async fn download_and_update(self, download: Duration, update: Duration, pending: Pending) {
        tokio::time::sleep(download).await;
        self.state().tree.set("./FUMO/State", &FumoState::UpdateProgressing.value().to_string());
        tokio::time::sleep(update).await;
        {
            let mut st = self.state();
            st.tree.set("./FUMO/State", &end_state(pending.code).value().to_string());
            st.pending.push(pending);
        }
        for attempt in 0..REPORT_TRIES {
            match self.run().await {
                Ok(_) if !self.has_pending_alerts() => return,
                Ok(_) => {}
                Err(e) => tracing::info!(error = %e, "simulated DM session reporting FUMO failed"),
            }
            tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
        }
    }
}

/// The `State` a DownloadAndUpdate ends in: 100 on success (result 200), else 80.
fn end_state(code: u32) -> FumoState {
    if code == 200 {
        FumoState::UpdateSuccessfulNoData
    } else {
        FumoState::UpdateFailedNoData
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::body::Bytes;
    use axum::http::StatusCode;

    use super::*;
    use crate::sim::SimConfig;

    #[tokio::test]
    async fn with_delays_the_update_progresses_then_reports_in_a_session_of_its_own() {
        // A DM server that only records what it gets (500: the report is tried again).
        let posts = Arc::new(Mutex::new(Vec::<String>::new()));
        let p = posts.clone();
        let app = axum::Router::new().fallback(move |body: Bytes| {
            let p = p.clone();
            async move {
                p.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
                StatusCode::INTERNAL_SERVER_ERROR
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/dm", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });

        let mut c = SimConfig::new(url, "IMEI:1", "dev", "pw");
        c.fumo_delays = Some((Duration::from_millis(100), Duration::from_millis(100)));
        let d = SimDevice::new(c);
        assert_eq!(d.exec("./FUMO/DownloadAndUpdate", Some("corr-1".into())), 202);
        assert_eq!(d.node("./FUMO/State").as_deref(), Some("30"), "downloading");
        assert!(!d.has_pending_alerts(), "nothing to report yet");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(d.node("./FUMO/State").as_deref(), Some("60"), "updating");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while posts.lock().unwrap().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(d.node("./FUMO/State").as_deref(), Some("100"), "updated");
        let first = posts.lock().unwrap().first().cloned().unwrap_or_default();
        assert!(first.contains("<Data>1201</Data>") && first.contains("<Data>1226</Data>"), "{first}");
        assert!(first.contains("corr-1") && first.contains(fumo::alert_type::DOWNLOAD_AND_UPDATE), "{first}");
        // The server did not take it: the alert waits for the next session.
        assert!(d.has_pending_alerts());
    }

    #[test]
    fn without_delays_the_result_waits_for_the_next_session() {
        let d = SimDevice::new(SimConfig::new("http://127.0.0.1:9/dm", "IMEI:2", "dev", "pw"));
        assert_eq!(d.exec("./FUMO/DownloadAndUpdate", None), 202);
        assert_eq!(d.node("./FUMO/State").as_deref(), Some("100"));
        assert!(d.has_pending_alerts());
    }
}
