//! The `/api/v1` routes, one module per resource. Each handler carries its OpenAPI description,
//! so the document served at `/api/v1/openapi.json` is generated from the same code that routes.

pub mod access;
pub mod conformance;
pub mod credentials;
pub mod devices;
pub mod events;
pub mod files;
pub mod groups;
pub mod lwm2m;
pub mod omadm;
pub mod onem2m;
pub mod operations;
pub mod rules;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use unidm_core::CreateOptions;
use unidm_models::{DeviceId, RetryPolicy};
use utoipa::{IntoParams, ToSchema};

use crate::problem::Problem;

/// Longest operation timeout: one year. Longer ones would be mistakes (and deadlines past
/// year 9999 cannot be written as RFC 3339).
pub const MAX_TIMEOUT_S: u64 = 365 * 24 * 3600;

/// Options every operation request may carry.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationOptions {
    /// Seconds before the operation expires (default: the server's, 24 h).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 31536000)]
    pub timeout_seconds: Option<u64>,
    /// Retry policy for retryable failures.
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
}

impl OperationOptions {
    pub(crate) fn to_core(&self) -> Result<CreateOptions, Problem> {
        if self.timeout_seconds.is_some_and(|t| t == 0 || t > MAX_TIMEOUT_S) {
            return Err(Problem::bad_request("timeoutSeconds", format!("must be between 1 and {MAX_TIMEOUT_S}")));
        }
        if let Some(r) = &self.retry {
            if r.max_attempts == 0 || r.max_attempts > 100 {
                return Err(Problem::bad_request("retry.maxAttempts", "must be between 1 and 100"));
            }
        }
        Ok(CreateOptions { timeout: self.timeout_seconds.map(Duration::from_secs), retry: self.retry })
    }
}

/// Paging parameters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Items to skip.
    pub offset: Option<usize>,
    /// Items to return (1..=1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

impl Paging {
    pub(crate) fn resolve(&self) -> Result<(usize, usize), Problem> {
        let limit = self.limit.unwrap_or(50);
        if limit == 0 || limit > 1000 {
            return Err(Problem::bad_request("limit", "must be between 1 and 1000"));
        }
        Ok((self.offset.unwrap_or(0), limit))
    }
}

/// Parses a device id from a path segment (already percent-decoded by the router).
pub(crate) fn device_id(raw: &str) -> Result<DeviceId, Problem> {
    DeviceId::parse(raw).map_err(|e| Problem::bad_request("id", e.to_string()))
}

/// Parses `k=v,k2=v2` label filters.
pub(crate) fn parse_labels(raw: Option<&str>) -> Result<BTreeMap<String, String>, Problem> {
    let mut out = BTreeMap::new();
    for pair in raw.unwrap_or("").split(',').filter(|p| !p.is_empty()) {
        let (k, v) =
            pair.split_once('=').ok_or_else(|| Problem::bad_request("label", format!("`{pair}` is not key=value")))?;
        out.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(out)
}
