//! A oneM2M HTTP binding client (TS-0009): requests with `X-M2M-Origin`, `X-M2M-RI`,
//! `X-M2M-RVI`, JSON with short names (`Content-Type: application/json;ty=N` on CREATE), and
//! the response status code `X-M2M-RSC` turned into an error that says what it means.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use serde_json::Value as Json;

/// What a CSE request came to when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CseError {
    /// The CSE could not be reached (connection refused, timeout): try again later.
    #[error("the CSE is unreachable: {0}")]
    Unreachable(String),
    /// 4004: no such resource.
    #[error("not found (4004): {0}")]
    NotFound(String),
    /// 4105: a resource of that name exists already.
    #[error("already exists (4105): {0}")]
    Conflict(String),
    /// 4103 / 4101: the originator may not do that (access control policies).
    #[error("access denied ({code}): {message}")]
    Denied {
        /// The RSC.
        code: u32,
        /// The CSE's message.
        message: String,
    },
    /// Any other refusal (4000 bad request, 4005 operation not allowed, 5xxx).
    #[error("refused ({code}): {message}")]
    Refused {
        /// The RSC.
        code: u32,
        /// The CSE's message.
        message: String,
    },
}

impl CseError {
    /// Worth trying again later (the CSE is down or overloaded), as opposed to a refusal.
    pub fn is_transient(&self) -> bool {
        matches!(self, CseError::Unreachable(_)) || matches!(self, CseError::Refused { code, .. } if *code >= 5000)
    }
}

/// One CSE, as one originator.
#[derive(Debug)]
pub struct Cse {
    http: reqwest::Client,
    /// `http://host:port`.
    base: String,
    /// `/id-in/cse-in` (SP-relative CSE-ID and CSEBase name).
    root: String,
    originator: String,
    next_ri: AtomicU64,
}

/// oneM2M release the requests declare (`X-M2M-RVI`).
const RVI: &str = "3";

impl Cse {
    /// `base` is the CSE's HTTP address, `cse_id` its CSE-ID (`/id-in`), `cse_name` its
    /// CSEBase resource name (`cse-in`); requests come from `originator`.
    pub fn new(base: &str, cse_id: &str, cse_name: &str, originator: &str) -> Cse {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Cse {
            http,
            base: base.trim_end_matches('/').to_owned(),
            root: format!("/{}/{}", cse_id.trim_matches('/'), cse_name.trim_matches('/')),
            originator: originator.to_owned(),
            next_ri: AtomicU64::new(1),
        }
    }

    /// The structured SP-relative address of `path` below the CSEBase (`""` is the CSEBase).
    pub fn address(&self, path: &str) -> String {
        match path.trim_matches('/') {
            "" => self.root.clone(),
            p => format!("{}/{p}", self.root),
        }
    }

    /// The originator requests come from.
    pub fn originator(&self) -> &str {
        &self.originator
    }

    fn url(&self, path: &str) -> String {
        format!("{}/~{}", self.base, self.address(path))
    }

    fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        let ri = format!("unidm-{}", self.next_ri.fetch_add(1, Ordering::Relaxed));
        for (name, value) in [("X-M2M-Origin", self.originator.as_str()), ("X-M2M-RI", ri.as_str()), ("X-M2M-RVI", RVI)]
        {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        }
        h.insert(ACCEPT, HeaderValue::from_static("application/json"));
        h
    }

    async fn send(&self, request: reqwest::RequestBuilder, target: &str) -> Result<Json, CseError> {
        let response = request.send().await.map_err(|e| CseError::Unreachable(e.to_string()))?;
        let status = response.status();
        let rsc = response
            .headers()
            .get("X-M2M-RSC")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or_else(|| if status.is_success() { 2000 } else { u32::from(status.as_u16()) * 10 });
        let body: Json = response.json().await.unwrap_or(Json::Null);
        tracing::trace!(%target, rsc, "CSE answered");
        if (2000..3000).contains(&rsc) {
            return Ok(body);
        }
        let message =
            body.get("m2m:dbg").and_then(Json::as_str).map_or_else(|| target.to_owned(), |d| format!("{target}: {d}"));
        Err(match rsc {
            4004 => CseError::NotFound(message),
            4105 => CseError::Conflict(message),
            4101 | 4103 => CseError::Denied { code: rsc, message },
            _ => CseError::Refused { code: rsc, message },
        })
    }

    /// CREATE a resource of type `ty` under `parent`; `body` is `{"m2m:xxx": {...}}`.
    pub async fn create(&self, parent: &str, ty: u16, body: &Json) -> Result<Json, CseError> {
        let mut headers = self.headers();
        if let Ok(v) = HeaderValue::from_str(&format!("application/json;ty={ty}")) {
            headers.insert(CONTENT_TYPE, v);
        }
        tracing::trace!(%parent, ty, "CREATE");
        self.send(self.http.post(self.url(parent)).headers(headers).json(body), &self.address(parent)).await
    }

    /// RETRIEVE a resource.
    pub async fn retrieve(&self, path: &str) -> Result<Json, CseError> {
        self.send(self.http.get(self.url(path)).headers(self.headers()), &self.address(path)).await
    }

    /// UPDATE a resource with `body` (`{"m2m:xxx": {changed attributes}}`).
    pub async fn update(&self, path: &str, body: &Json) -> Result<Json, CseError> {
        let mut headers = self.headers();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        tracing::trace!(%path, %body, "UPDATE");
        self.send(self.http.put(self.url(path)).headers(headers).json(body), &self.address(path)).await
    }

    /// DELETE a resource (and everything below it).
    pub async fn delete(&self, path: &str) -> Result<(), CseError> {
        self.send(self.http.delete(self.url(path)).headers(self.headers()), &self.address(path)).await.map(|_| ())
    }

    /// The resource ids (structured, below the CSEBase) of the resources of type `ty` carrying
    /// label `label` (discovery, `fu=1`).
    pub async fn discover(&self, ty: u16, label: &str) -> Result<Vec<String>, CseError> {
        let url = format!("{}?fu=1&ty={ty}&lbl={}&drt=1", self.url(""), urlencode(label));
        let found = self.send(self.http.get(url).headers(self.headers()), "discovery").await?;
        Ok(found["m2m:uril"]
            .as_array()
            .map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_owned)).collect())
            .unwrap_or_default())
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
