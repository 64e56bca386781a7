//! Review resources computed on create and never stored: `SelfSubjectAccessReview`,
//! `SubjectAccessReview`, `LocalSubjectAccessReview`, `SelfSubjectRulesReview` (what
//! `kubectl auth can-i` asks), `SelfSubjectReview` (`kubectl auth whoami`) and `TokenReview`
//! (whether a bearer token authenticates, and as whom).

use super::{Ctx, decode_object};
use crate::Identity;
use crate::response::{self, ResponseBody};
use crate::status::ApiError;
use http::Response;
use serde_json::{Value, json};

fn is_master(groups: &[String]) -> bool {
    groups.iter().any(|g| g == "system:masters")
}

fn identity_of(spec: &Value) -> Identity {
    Identity {
        user: spec["user"].as_str().unwrap_or("").to_string(),
        groups: spec["groups"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|g| g.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Whether `who` may do what the attributes describe.
fn allowed(who: &Identity) -> (bool, &'static str) {
    if is_master(&who.groups) {
        (true, "")
    } else {
        (false, "no RBAC policy matched")
    }
}

pub(crate) async fn create(
    server: &crate::ApiServer,
    ctx: &mut Ctx,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<Response<ResponseBody>, ApiError> {
    if let crate::negotiate::Output::Table { .. } = ctx.output {
        return Err(ApiError::new(
            406,
            "NotAcceptable",
            format!(
                "the resource {} does not support being converted to a Table",
                ctx.info.qualified_resource()
            ),
        ));
    }
    let format = super::object_format(content_type)?;
    let mut obj = decode_object(body, format)?;
    super::write::check_types(&ctx.info, &ctx.info.version, &obj)?;
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request("the body is not an object"));
    };
    map.insert("apiVersion".into(), json!(ctx.info.api_version()));
    map.insert("kind".into(), json!(ctx.info.kind));
    if !map.get("metadata").is_some_and(Value::is_object) {
        map.insert("metadata".into(), json!({}));
    }
    let status = match ctx.info.kind.as_str() {
        "SelfSubjectAccessReview" => {
            let (ok, reason) = allowed(&ctx.identity);
            json!({"allowed": ok, "reason": reason})
        }
        "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            let who = identity_of(&obj["spec"]);
            if who.user.is_empty() && who.groups.is_empty() {
                return Err(ApiError::invalid(
                    &ctx.info,
                    "",
                    &[krust_api::FieldError::invalid(
                        "spec.user",
                        json!(""),
                        "at least one of user or group must be specified",
                    )],
                ));
            }
            let (ok, reason) = allowed(&who);
            json!({"allowed": ok, "reason": reason})
        }
        "SelfSubjectRulesReview" => {
            if is_master(&ctx.identity.groups) {
                json!({
                    "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                    "incomplete": false,
                })
            } else {
                json!({"resourceRules": [], "nonResourceRules": [], "incomplete": false})
            }
        }
        "TokenReview" => {
            let token = krust_api::meta::get_str(&obj, &["spec", "token"]).unwrap_or("");
            if token.is_empty() {
                return Err(ApiError::bad_request(
                    "token is required for TokenReview in authentication",
                ));
            }
            let audiences = krust_api::meta::get_path(&obj, &["spec", "audiences"]).cloned();
            match server.token_identity(token).await {
                Some(who) => {
                    let mut status = json!({"authenticated": true, "user": {
                        "username": who.user, "groups": who.groups}});
                    if let Some(a) =
                        audiences.filter(|a| a.as_array().is_some_and(|a| !a.is_empty()))
                    {
                        krust_api::meta::set_path(&mut status, &["audiences"], a);
                    }
                    status
                }
                _ => json!({"user": {}, "error": "[invalid bearer token, token lookup failed]"}),
            }
        }
        "SelfSubjectReview" => {
            json!({"userInfo": {"username": ctx.identity.user, "groups": ctx.identity.groups}})
        }
        _ => return Err(ApiError::method_not_allowed("POST", &ctx.info.kind)),
    };
    obj["status"] = status;
    Ok(response::object(201, &obj, ctx.output, &ctx.warnings))
}
