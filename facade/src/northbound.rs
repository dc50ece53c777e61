//! The LwM2M northbound client as `serve` runs it ([`unidm_lwm2m::northbound`]): started from
//! `[lwm2m.northbound]` or from settings given through `PUT /api/v1/lwm2m/northbound`, which
//! are stored (namespace `northbound`) and win over the file's at the next start, replaced at
//! run time (the old client de-registers first) and removed with `DELETE`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use unidm_core::Engine;
use unidm_lwm2m::northbound::{Northbound, NorthboundConfig};
use unidm_lwm2m::Lwm2mAdapter;
use utoipa::ToSchema;

use crate::config::NorthboundSection;

/// The namespace of the stored settings.
const NAMESPACE: &str = "northbound";
/// Their key.
const KEY: &str = "settings";

/// Which devices are end devices (every one when left empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NorthboundDevices {
    /// `lwm2m`, `tr069` or `omadm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Manufacturer, exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Model, exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Labels that must be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// unidm's registration with a distant LwM2M server, as an LwM2M gateway.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NorthboundSettings {
    /// The distant server: `coap://host:port` or `host:port` (port 5683 when left out);
    /// optional with a bootstrap server, whose account then decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// A distant bootstrap server that gives unidm its server account first (port 5783 when
    /// left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_server: Option<String>,
    /// With a `coaps://` server: the PSK identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psk_identity: Option<String>,
    /// The PSK as text (write-only: stored, never answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psk_key: Option<String>,
    /// The PSK in hexadecimal (write-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psk_key_hex: Option<String>,
    /// The endpoint name unidm registers as (default `unidm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Registration lifetime in seconds, 30 to 2592000 (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_s: Option<u64>,
    /// The local UDP address (default `0.0.0.0:0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub listen: Option<std::net::SocketAddr>,
    /// Whether devices are listed at all (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_devices: Option<bool>,
    /// Most end devices, 1 to 65534 (default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_devices: Option<usize>,
    /// Requests for LwM2M devices go to the device (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_lwm2m: Option<bool>,
    /// unidm's groups listed as end devices whose operations fan out (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_groups: Option<bool>,
    /// Which devices.
    #[serde(default)]
    pub devices: NorthboundDevices,
}

impl std::fmt::Debug for NorthboundSettings {
    /// Without the PSK.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NorthboundSettings")
            .field("server", &self.server)
            .field("bootstrap_server", &self.bootstrap_server)
            .field("psk_identity", &self.psk_identity)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl NorthboundSettings {
    /// The client's settings, each checked.
    pub fn resolve(&self) -> anyhow::Result<NorthboundConfig> {
        NorthboundSection {
            server: self.server.clone(),
            bootstrap_server: self.bootstrap_server.clone(),
            psk_identity: self.psk_identity.clone(),
            psk_key: self.psk_key.clone(),
            psk_key_hex: self.psk_key_hex.clone(),
            endpoint: self.endpoint.clone(),
            lifetime_s: self.lifetime_s,
            listen: self.listen,
            report_devices: self.report_devices,
            max_devices: self.max_devices,
            proxy_lwm2m: self.proxy_lwm2m,
            report_groups: self.report_groups,
            protocol: self.devices.protocol.clone(),
            manufacturer: self.devices.manufacturer.clone(),
            model: self.devices.model.clone(),
            labels: self.devices.labels.clone(),
        }
        .resolve()
    }
}

/// The running client, if any, and what starts and stops it.
pub struct NorthboundSlot {
    engine: Engine,
    lwm2m: Option<Arc<Lwm2mAdapter>>,
    current: RwLock<Option<Arc<Northbound>>>,
    /// One change at a time.
    changing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for NorthboundSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NorthboundSlot").field("running", &self.current().is_some()).finish_non_exhaustive()
    }
}

impl NorthboundSlot {
    /// No client yet; requests to LwM2M end devices go through `lwm2m` when given.
    pub fn new(engine: Engine, lwm2m: Option<Arc<Lwm2mAdapter>>) -> Arc<NorthboundSlot> {
        Arc::new(NorthboundSlot { engine, lwm2m, current: RwLock::new(None), changing: Default::default() })
    }

    /// The running client.
    pub fn current(&self) -> Option<Arc<Northbound>> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The settings stored through the API, if any.
    pub async fn stored(&self) -> anyhow::Result<Option<NorthboundSettings>> {
        let values = self.engine.load_app_state(NAMESPACE).await?;
        let Some((_, bytes)) = values.into_iter().find(|(k, _)| k == KEY) else { return Ok(None) };
        Ok(Some(serde_json::from_slice(&bytes)?))
    }

    /// Starts a client with `config`, after stopping (and de-registering) the running one.
    pub async fn start(&self, config: NorthboundConfig) -> std::io::Result<Arc<Northbound>> {
        let _one = self.changing.lock().await;
        self.stop_running().await;
        let nb = Arc::new(Northbound::start_with(self.engine.clone(), config, self.lwm2m.clone()).await?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(nb.clone());
        Ok(nb)
    }

    /// Stores `settings` (a restart starts them) and starts them.
    pub async fn put(
        &self,
        settings: &NorthboundSettings,
        config: NorthboundConfig,
    ) -> anyhow::Result<Arc<Northbound>> {
        let nb = self.start(config).await?;
        self.engine.put_app_state(NAMESPACE, vec![(KEY.to_owned(), serde_json::to_vec(settings)?)]).await?;
        Ok(nb)
    }

    /// Stops the client and forgets the stored settings; whether one ran.
    pub async fn delete(&self) -> anyhow::Result<bool> {
        let _one = self.changing.lock().await;
        let ran = self.stop_running().await;
        self.engine.delete_app_state(NAMESPACE, vec![KEY.to_owned()]).await?;
        Ok(ran)
    }

    /// Stops the client (de-registering), e.g. at shutdown; the stored settings stay.
    pub async fn stop(&self) {
        let _one = self.changing.lock().await;
        self.stop_running().await;
    }

    async fn stop_running(&self) -> bool {
        let running = self.current.write().unwrap_or_else(|e| e.into_inner()).take();
        match running {
            Some(nb) => {
                nb.stop().await;
                true
            }
            None => false,
        }
    }
}
