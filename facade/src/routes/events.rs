//! The event stream as Server-Sent Events, and the topology graph.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::Json;
use futures::Stream;
use serde::Deserialize;
use unidm_core::{Received, TopologyGraph};
use unidm_models::Event;
use utoipa::IntoParams;

use super::device_id;
use crate::extract::ApiQuery;
use crate::problem::ApiResult;
use crate::AppState;

/// Event stream filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventFilter {
    /// Comma-separated event types (`operationChanged,deviceRegistered`); all when absent.
    pub types: Option<String>,
    /// Only events about this device.
    pub device: Option<String>,
}

fn about_device(e: &Event) -> Option<&unidm_models::DeviceId> {
    match e {
        Event::DeviceRegistered { device } | Event::DeviceUpdated { device } => Some(&device.id),
        Event::DeviceDeregistered { device }
        | Event::DeviceExpired { device }
        | Event::DeviceDeleted { device }
        | Event::Observation { device, .. }
        | Event::TopologyChanged { device, .. } => Some(device),
        Event::OperationChanged { operation } => Some(&operation.device),
        Event::ConformanceRunChanged { run } => Some(&run.device),
        Event::GroupOperationChanged { .. } => None,
    }
}

/// Server-Sent Events: one `event:` per engine event (its type), JSON `data:`. A consumer that
/// falls behind gets an `event: lagged` with `{"missed": n}`.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventFilter),
    responses((status = 200, description = "text/event-stream of events", content_type = "text/event-stream", body = Event)))]
pub async fn stream(
    State(app): State<AppState>,
    ApiQuery(f): ApiQuery<EventFilter>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let types: Option<BTreeSet<String>> =
        f.types.map(|t| t.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect());
    let device = f.device.as_deref().map(device_id).transpose()?;
    let sub = app.engine.subscribe();
    let stream = futures::stream::unfold(sub, move |mut sub| {
        let types = types.clone();
        let device = device.clone();
        async move {
            // Events the filters leave out are skipped without being copied.
            let keep = |e: &Event| {
                types.as_ref().is_none_or(|t| t.contains(e.kind()))
                    && device.as_ref().is_none_or(|d| about_device(e) == Some(d))
            };
            match sub.recv_matching(keep).await? {
                Received::Lagged(n) => {
                    let ev = SseEvent::default().event("lagged").data(format!("{{\"missed\":{n}}}"));
                    Some((Ok(ev), sub))
                }
                Received::Event(e) => {
                    let data = serde_json::to_string(&e).unwrap_or_default();
                    Some((Ok(SseEvent::default().event(e.kind()).data(data)), sub))
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Every gateway and the devices behind it.
#[utoipa::path(get, path = "/api/v1/topology", tag = "topology", responses((status = 200, body = TopologyGraph)))]
pub async fn topology(State(app): State<AppState>) -> ApiResult<Json<TopologyGraph>> {
    Ok(Json(app.engine.topology_graph()?))
}
