//! Kernelspecs when kernels start on a gateway (`nbgate serve --gateway-url`): the gateway's own, asked
//! for on each request (`GET /api/kernelspecs` there), served as nbgate's `GET /api/kernelspecs[/{name}]`,
//! `GET /kernelspecs/{name}/{file}` (proxied: a spec's resource URLs keep the gateway's paths, which
//! are nbgate's too) and the executor API's `GET /api/environments`.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use nbgate_kernel::Gateway;
use serde_json::{Map, Value};

use crate::ApiError;
use nbgate_scheduler::Environment;

/// `{"default", "kernelspecs": {name: model}}` as the gateway answers it.
pub(crate) async fn list(gateway: &Gateway) -> Result<Value, ApiError> {
    Ok(nbgate_kernel::gateway::kernelspecs(gateway).await?)
}

fn models(list: &Value) -> Map<String, Value> {
    list.get("kernelspecs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The model of the gateway's kernelspec `name`, or a 404 listing the gateway's names.
pub(crate) async fn one(gateway: &Gateway, name: &str) -> Result<Value, ApiError> {
    let models = models(&list(gateway).await?);
    match models.get(name) {
        Some(model) => Ok(model.clone()),
        None => Err(ApiError::KernelSpecNotFound {
            name: name.to_owned(),
            available: models.keys().cloned().collect(),
        }),
    }
}

/// The gateway's kernelspecs as the executor API's environments, by name.
pub(crate) async fn environments(gateway: &Gateway) -> Result<Vec<Environment>, ApiError> {
    let mut environments: Vec<Environment> = models(&list(gateway).await?)
        .into_iter()
        .map(|(name, model)| {
            let field = |key: &str| {
                model
                    .pointer(&format!("/spec/{key}"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            Environment {
                display_name: field("display_name"),
                language: field("language"),
                name,
            }
        })
        .collect();
    environments.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(environments)
}

/// A path segment that cannot reach another of the gateway's URLs.
fn plain(segment: &str) -> bool {
    !segment.is_empty()
        && !segment.starts_with('.')
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The gateway's resource file `file` of kernelspec `name` (a logo), with its content type.
pub(crate) async fn resource(
    gateway: &Gateway,
    name: &str,
    file: &str,
) -> Result<Response, ApiError> {
    if !plain(name) || !plain(file) {
        return Err(ApiError::NotFound(format!("{name}/{file} not found")));
    }
    let (content_type, bytes) = nbgate_kernel::gateway::kernelspec_resource(gateway, name, file)
        .await
        .map_err(|error| match error {
            nbgate_kernel::KernelError::Gateway { status: 404, .. } => {
                ApiError::NotFound(format!("{name}/{file} not found"))
            }
            other => other.into(),
        })?;
    let content_type = content_type.unwrap_or_else(|| "application/octet-stream".to_owned());
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn only_plain_segments_are_passed_to_the_gateway() {
        assert!(plain("python3") && plain("logo-64x64.png"));
        for bad in ["", "..", ".hidden", "a/b", "a%2Fb", "x?token=1", "a b"] {
            assert!(!plain(bad), "{bad}");
        }
    }
}
