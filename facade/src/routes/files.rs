//! Files for devices: firmware images and configuration files are uploaded here and served to
//! devices (the TR-069 ACS serves them with byte ranges under `/files/<name>`); CPE uploads
//! (the Upload RPC) land in the same directory.

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use utoipa::{IntoParams, ToSchema};

use crate::extract::{ApiPath, ApiQuery};
use crate::problem::{ApiResult, Problem};
use crate::AppState;

/// Where files live and how devices reach them.
#[derive(Debug, Clone)]
pub struct FilesConfig {
    /// The directory.
    pub dir: PathBuf,
    /// Largest accepted upload, bytes.
    pub max_upload: u64,
    /// Base URL devices fetch files from (`http://acs:7547/files/`), when a file server runs.
    pub base_url: Option<String>,
}

/// A stored file.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileInfo {
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Where devices fetch it, when a file server runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Upload parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// File name: 1 to 128 of `A-Z a-z 0-9 . _ -`, not starting with `.`.
    #[param(pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")]
    pub name: String,
}

fn check_name(name: &str) -> Result<(), Problem> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Problem::bad_request("name", "1 to 128 of A-Z, a-z, 0-9, `.`, `_`, `-`, not starting with `.`"))
    }
}

fn files(app: &AppState) -> Result<&FilesConfig, Problem> {
    app.files.as_ref().ok_or_else(|| {
        Problem::new(StatusCode::CONFLICT, "files-disabled", "No file directory", "this server has no files directory")
    })
}

fn info(f: &FilesConfig, name: String, size: u64) -> FileInfo {
    let url = f.base_url.as_ref().map(|b| format!("{b}{name}"));
    FileInfo { name, size, url }
}

/// Upload a file (the raw body), replacing one of the same name.
#[utoipa::path(post, path = "/api/v1/files", tag = "files", params(UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = FileInfo), (status = 400, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem)))]
pub async fn upload(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<UploadParams>,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let f = files(&app)?;
    check_name(&p.name)?;
    let internal = |e: std::io::Error| {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "storage", "Storage failure", e.to_string())
    };
    tokio::fs::create_dir_all(&f.dir).await.map_err(internal)?;
    // Written under a temporary name and renamed, so a device never fetches half a file; the
    // sequence number keeps two concurrent uploads of one name apart.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = f.dir.join(format!(".upload-{}-{seq}-{}", std::process::id(), p.name));
    let mut out = tokio::fs::File::create(&tmp).await.map_err(internal)?;
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(Problem::bad_request("body", format!("the upload broke off: {e}")));
            }
        };
        size += chunk.len() as u64;
        if size > f.max_upload {
            drop(out);
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Upload too large",
                format!("files are limited to {} bytes", f.max_upload),
            ));
        }
        out.write_all(&chunk).await.map_err(internal)?;
    }
    out.sync_all().await.map_err(internal)?;
    drop(out);
    tokio::fs::rename(&tmp, f.dir.join(&p.name)).await.map_err(internal)?;
    Ok((StatusCode::CREATED, Json(info(f, p.name, size))))
}

/// List the files.
#[utoipa::path(get, path = "/api/v1/files", tag = "files", responses((status = 200, body = Vec<FileInfo>), (status = 409, body = Problem)))]
pub async fn list(State(app): State<AppState>) -> ApiResult<Json<Vec<FileInfo>>> {
    let f = files(&app)?;
    let mut out = Vec::new();
    let Ok(mut dir) = tokio::fs::read_dir(&f.dir).await else { return Ok(Json(out)) };
    while let Ok(Some(entry)) = dir.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if let Ok(meta) = entry.metadata().await {
            if meta.is_file() {
                out.push(info(f, name, meta.len()));
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(out))
}

/// Delete a file.
#[utoipa::path(delete, path = "/api/v1/files/{name}", tag = "files", params(("name" = String, Path, description = "File name")),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete(State(app): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<StatusCode> {
    let f = files(&app)?;
    check_name(&name)?;
    match tokio::fs::remove_file(f.dir.join(&name)).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Problem::not_found("file", &name)),
        Err(e) => Err(Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "storage", "Storage failure", e.to_string())),
    }
}
