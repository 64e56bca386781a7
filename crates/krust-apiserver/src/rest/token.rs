//! `serviceaccounts/token`: issues a ServiceAccount token for an `authentication.k8s.io/v1`
//! `TokenRequest`, as upstream's `TokenREST` (what `kubectl create token` calls).
//!
//! `spec.audiences` defaults to the API server's audience, `spec.expirationSeconds` to 3600 and
//! must be at least 600 (422 otherwise); `spec.boundObjectRef` may name a Pod, Secret or Node,
//! which must exist (its UID, when given, must match: 409) and whose UID goes into the token, so
//! the token dies with the object. The ServiceAccount must exist (404). The answer (201) is the
//! TokenRequest with `status.token` and `status.expirationTimestamp`.

use super::{Ctx, decode_object};
use crate::ApiServer;
use crate::response::{self, ResponseBody};
use crate::service_account_token::{Claims, ISSUER, ObjectRef, lookup, now_seconds};
use crate::status::ApiError;
use http::Response;
use krust_api::FieldError;
use serde_json::{Value, json};

const GROUP: &str = "authentication.k8s.io";
const KIND: &str = "TokenRequest";
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
const MIN_EXPIRATION_SECONDS: i64 = 600;
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;

fn invalid(errors: &[FieldError]) -> ApiError {
    ApiError::invalid_kind(&format!("{KIND}.{GROUP}"), GROUP, KIND, "", errors)
}

/// The group of an `apiVersion` (`""` for `v1`).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

pub(crate) async fn create(
    server: &ApiServer,
    ctx: &mut Ctx,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<Response<ResponseBody>, ApiError> {
    let format = super::object_format(content_type)?;
    let req = decode_object(body, format)?;
    if let Some(kind) = req["kind"].as_str().filter(|k| !k.is_empty() && *k != KIND) {
        return Err(ApiError::bad_request(format!(
            "expected a {KIND} object, got {kind}"
        )));
    }
    let name = ctx.name().to_string();
    let namespace = ctx.namespace().unwrap_or("").to_string();
    let meta = &req["metadata"];
    if let Some(n) = meta["name"]
        .as_str()
        .filter(|n| !n.is_empty() && *n != name)
    {
        return Err(ApiError::invalid_kind(
            &format!("{KIND}.{GROUP}"),
            GROUP,
            KIND,
            &name,
            &[FieldError::invalid(
                "metadata.name",
                json!(n),
                "must match the service account name if specified",
            )],
        ));
    }
    if let Some(n) = meta["namespace"]
        .as_str()
        .filter(|n| !n.is_empty() && *n != namespace)
    {
        return Err(ApiError::invalid_kind(
            &format!("{KIND}.{GROUP}"),
            GROUP,
            KIND,
            &name,
            &[FieldError::invalid(
                "metadata.namespace",
                json!(n),
                "must match the service account namespace if specified",
            )],
        ));
    }

    let sa = lookup(server, "serviceaccounts", Some(&namespace), &name)
        .await?
        .ok_or_else(|| ApiError::not_found(&ctx.info, &name))?;
    let sa_uid = krust_api::meta::uid(&sa).to_string();

    let spec = &req["spec"];
    let mut audiences: Vec<String> = match &spec["audiences"] {
        Value::Null => Vec::new(),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::bad_request("spec.audiences: expected a list of strings"))?,
        _ => {
            return Err(ApiError::bad_request(
                "spec.audiences: expected a list of strings",
            ));
        }
    };
    if audiences.is_empty() {
        audiences.push(ISSUER.to_string());
    }
    let expiration = match &spec["expirationSeconds"] {
        Value::Null => DEFAULT_EXPIRATION_SECONDS,
        v => v
            .as_i64()
            .ok_or_else(|| ApiError::bad_request("spec.expirationSeconds: expected an integer"))?,
    };
    if expiration < MIN_EXPIRATION_SECONDS {
        return Err(invalid(&[FieldError::invalid(
            "spec.expirationSeconds",
            json!(expiration),
            "may not specify a duration less than 10 minutes",
        )]));
    }
    if expiration > MAX_EXPIRATION_SECONDS {
        return Err(invalid(&[FieldError::invalid(
            "spec.expirationSeconds",
            json!(expiration),
            "may not specify a duration larger than 2^32 seconds",
        )]));
    }

    let now = now_seconds();
    let mut claims = Claims::new(
        &namespace,
        &name,
        &sa_uid,
        audiences.clone(),
        now,
        expiration,
    );
    let bound = &spec["boundObjectRef"];
    if bound.is_object() {
        let kind = bound["kind"].as_str().unwrap_or("");
        let api_version = bound["apiVersion"].as_str().unwrap_or("");
        let obj_name = bound["name"].as_str().unwrap_or("");
        let want_uid = bound["uid"].as_str().unwrap_or("");
        let group = group_of(api_version);
        let (plural, ns) = match (group, kind) {
            ("", "Pod") => ("pods", Some(namespace.as_str())),
            ("", "Secret") => ("secrets", Some(namespace.as_str())),
            ("", "Node") => ("nodes", None),
            _ => {
                let version = api_version.rsplit('/').next().unwrap_or("");
                return Err(ApiError::bad_request(format!(
                    "cannot bind token to object of type {group}/{version}, Kind={kind}"
                )));
            }
        };
        if obj_name.is_empty() {
            return Err(ApiError::bad_request("resource name may not be empty"));
        }
        let obj = lookup(server, plural, ns, obj_name)
            .await?
            .ok_or_else(|| ApiError::not_found_resource("", plural, obj_name))?;
        let uid = krust_api::meta::uid(&obj).to_string();
        if !want_uid.is_empty() && want_uid != uid {
            let mut err = ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {kind} \"{obj_name}\": the UID in the bound object reference ({want_uid}) does not match the UID in record. The object might have been deleted and then recreated"
                ),
            );
            err.details = Some(json!({"name": obj_name, "kind": kind}));
            return Err(err);
        }
        let reference = ObjectRef::new(obj_name, uid);
        match kind {
            "Pod" => {
                // Without the ServiceAccount admission plugin's default, an unset name is `default`.
                let pod_sa = obj["spec"]["serviceAccountName"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("default");
                if pod_sa != name {
                    return Err(ApiError::bad_request(format!(
                        "cannot bind token for serviceaccount {name:?} to pod running with different serviceaccount name."
                    )));
                }
                if let Some(node_name) = obj["spec"]["nodeName"].as_str().filter(|n| !n.is_empty())
                    && let Some(node) = lookup(server, "nodes", None, node_name).await?
                {
                    claims.node = Some(ObjectRef::new(node_name, krust_api::meta::uid(&node)));
                }
                claims.pod = Some(reference);
            }
            "Secret" => claims.secret = Some(reference),
            _ => claims.node = Some(reference),
        }
    }

    let token = server
        .state
        .token_signer
        .sign(&claims)
        .map_err(|e| ApiError::internal(format!("failed to generate token: {e}")))?;
    let created = jiff::Timestamp::from_second(now)
        .map(krust_api::time::format_seconds)
        .unwrap_or_else(|_| krust_api::time::now_rfc3339());
    let expires = jiff::Timestamp::from_second(now.saturating_add(expiration))
        .map(krust_api::time::format_seconds)
        .map_err(|_| ApiError::internal("expiration out of range"))?;
    let mut out_spec = json!({"audiences": audiences, "expirationSeconds": expiration});
    if bound.is_object() {
        out_spec["boundObjectRef"] = bound.clone();
    }
    let out = json!({
        "kind": KIND,
        "apiVersion": format!("{GROUP}/v1"),
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
        "spec": out_spec,
        "status": {"token": token, "expirationTimestamp": expires},
    });
    Ok(response::object(201, &out, ctx.output, &ctx.warnings))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use crate::service_account_token::ISSUER;
    use crate::{ApiServer, Config, Identity};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use serde_json::{Value, json};
    use std::sync::Arc;

    async fn server() -> ApiServer {
        let backend = Arc::new(krust_store::memory::MemoryBackend::new());
        ApiServer::new(Config::default(), backend).await.unwrap()
    }

    enum Auth<'a> {
        Admin,
        Bearer(&'a str),
    }

    async fn call(
        api: &ApiServer,
        auth: Auth<'_>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Auth::Bearer(t) = auth {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let mut req = req
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .unwrap();
        if let Auth::Admin = auth {
            req.extensions_mut()
                .insert(Identity::new("admin", &["system:masters"]));
        }
        let resp = api.handle(req).await;
        let code = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn create(api: &ApiServer, path: &str, obj: Value) -> Value {
        let (code, v) = call(api, Auth::Admin, "POST", path, Some(obj)).await;
        assert_eq!(code, 201, "{v}");
        v
    }

    async fn token(api: &ApiServer, name: &str, spec: Value) -> (u16, Value) {
        let body =
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec});
        call(
            api,
            Auth::Admin,
            "POST",
            &format!("/api/v1/namespaces/default/serviceaccounts/{name}/token"),
            Some(body),
        )
        .await
    }

    fn payload(token: &str) -> Value {
        let p = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
    }

    async fn whoami(api: &ApiServer, token: &str) -> (u16, Value) {
        let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
        call(
            api,
            Auth::Bearer(token),
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            Some(body),
        )
        .await
    }

    #[tokio::test]
    async fn issue_authenticate_and_revoke() {
        let api = server().await;
        let sa = create(
            &api,
            "/api/v1/namespaces/default/serviceaccounts",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}),
        )
        .await;
        let (code, out) = token(&api, "robot", json!({})).await;
        assert_eq!(code, 201, "{out}");
        assert_eq!(out["kind"], "TokenRequest");
        assert_eq!(out["spec"]["audiences"], json!([ISSUER]));
        assert_eq!(out["spec"]["expirationSeconds"], 3600);
        assert_eq!(out["metadata"]["name"], "robot");
        assert!(out["status"]["expirationTimestamp"].is_string());
        let jwt = out["status"]["token"].as_str().unwrap().to_string();
        let p = payload(&jwt);
        assert_eq!(p["sub"], "system:serviceaccount:default:robot");
        assert_eq!(p["iss"], ISSUER);
        assert_eq!(
            p["kubernetes.io"]["serviceaccount"]["uid"],
            sa["metadata"]["uid"]
        );
        assert_eq!(
            p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap(),
            3600
        );

        let (code, review) = whoami(&api, &jwt).await;
        assert_eq!(code, 201, "{review}");
        assert_eq!(
            review["status"]["userInfo"]["username"],
            "system:serviceaccount:default:robot"
        );
        assert_eq!(
            review["status"]["userInfo"]["groups"],
            json!([
                "system:serviceaccounts",
                "system:serviceaccounts:default",
                "system:authenticated"
            ])
        );
        // Authenticated but not authorized (no RBAC bindings).
        let (code, _) = call(
            &api,
            Auth::Bearer(&jwt),
            "GET",
            "/api/v1/namespaces/default/pods",
            None,
        )
        .await;
        assert_eq!(code, 403);
        // Tampered: 401.
        let mut bad = jwt.clone();
        bad.push('A');
        assert_eq!(whoami(&api, &bad).await.0, 401);

        let (code, _) = call(
            &api,
            Auth::Admin,
            "DELETE",
            "/api/v1/namespaces/default/serviceaccounts/robot",
            None,
        )
        .await;
        assert_eq!(code, 200);
        assert_eq!(whoami(&api, &jwt).await.0, 401);
        // A new account of the same name has another UID: the old token stays dead.
        create(
            &api,
            "/api/v1/namespaces/default/serviceaccounts",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}),
        )
        .await;
        assert_eq!(whoami(&api, &jwt).await.0, 401);
    }

    #[tokio::test]
    async fn validation_and_errors() {
        let api = server().await;
        let (code, e) = token(&api, "nobody", json!({})).await;
        assert_eq!(code, 404, "{e}");
        assert_eq!(e["message"], "serviceaccounts \"nobody\" not found");
        create(
            &api,
            "/api/v1/namespaces/default/serviceaccounts",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}),
        )
        .await;
        let (code, e) = token(&api, "robot", json!({"expirationSeconds": 60})).await;
        assert_eq!(code, 422, "{e}");
        assert_eq!(
            e["message"],
            "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"
        );
        let (code, out) = token(
            &api,
            "robot",
            json!({"expirationSeconds": 600, "audiences": ["vault"]}),
        )
        .await;
        assert_eq!(code, 201);
        let jwt = out["status"]["token"].as_str().unwrap();
        assert_eq!(payload(jwt)["aud"], json!(["vault"]));
        // Not an audience of the API server.
        assert_eq!(whoami(&api, jwt).await.0, 401);
        let (code, e) = token(
            &api,
            "robot",
            json!({"boundObjectRef": {"apiVersion": "v1", "kind": "ConfigMap", "name": "x"}}),
        )
        .await;
        assert_eq!(code, 400, "{e}");
        assert_eq!(
            e["message"],
            "cannot bind token to object of type /v1, Kind=ConfigMap"
        );
        let (code, e) = token(
            &api,
            "robot",
            json!({"boundObjectRef": {"apiVersion": "v1", "kind": "Secret", "name": "missing"}}),
        )
        .await;
        assert_eq!(code, 404, "{e}");
        let (code, _) = call(
            &api,
            Auth::Admin,
            "POST",
            "/api/v1/namespaces/default/serviceaccounts/robot/token",
            Some(json!({"kind": "TokenRequest", "metadata": {"name": "other"}})),
        )
        .await;
        assert_eq!(code, 422);
        let (code, _) = call(
            &api,
            Auth::Admin,
            "POST",
            "/api/v1/namespaces/default/serviceaccounts/robot/token",
            Some(json!([1, 2])),
        )
        .await;
        assert_eq!(code, 400);
    }

    #[tokio::test]
    async fn bound_tokens_die_with_their_object() {
        let api = server().await;
        create(
            &api,
            "/api/v1/namespaces/default/serviceaccounts",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
        )
        .await;
        let secret = create(
            &api,
            "/api/v1/namespaces/default/secrets",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1"}}),
        )
        .await;
        let (code, e) = token(
            &api,
            "default",
            json!({"boundObjectRef": {"apiVersion": "v1", "kind": "Secret", "name": "s1", "uid": "wrong"}}),
        )
        .await;
        assert_eq!(code, 409, "{e}");
        let (code, out) = token(
            &api,
            "default",
            json!({"boundObjectRef": {"apiVersion": "v1", "kind": "Secret", "name": "s1"}}),
        )
        .await;
        assert_eq!(code, 201, "{out}");
        let jwt = out["status"]["token"].as_str().unwrap().to_string();
        assert_eq!(
            payload(&jwt)["kubernetes.io"]["secret"],
            json!({"name": "s1", "uid": secret["metadata"]["uid"]})
        );
        assert_eq!(whoami(&api, &jwt).await.0, 201);
        let (code, _) = call(
            &api,
            Auth::Admin,
            "DELETE",
            "/api/v1/namespaces/default/secrets/s1",
            None,
        )
        .await;
        assert_eq!(code, 200);
        assert_eq!(whoami(&api, &jwt).await.0, 401);

        // Pods: the pod must run as the account.
        let pod = |name: &str, sa: Option<&str>| {
            let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
            if let Some(sa) = sa {
                p["spec"]["serviceAccountName"] = json!(sa);
            }
            p
        };
        create(&api, "/api/v1/namespaces/default/pods", pod("p1", None)).await;
        // ServiceAccount admission: a pod's account must exist.
        create(
            &api,
            "/api/v1/namespaces/default/serviceaccounts",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "other"}}),
        )
        .await;
        create(
            &api,
            "/api/v1/namespaces/default/pods",
            pod("p2", Some("other")),
        )
        .await;
        let (code, out) = token(
            &api,
            "default",
            json!({"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "p1"}}),
        )
        .await;
        assert_eq!(code, 201, "{out}");
        assert_eq!(
            payload(out["status"]["token"].as_str().unwrap())["kubernetes.io"]["pod"]["name"],
            "p1"
        );
        let (code, e) = token(
            &api,
            "default",
            json!({"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "p2"}}),
        )
        .await;
        assert_eq!(code, 400, "{e}");
    }

    #[tokio::test]
    async fn join_token_still_authenticates() {
        let backend = Arc::new(krust_store::memory::MemoryBackend::new());
        let config = Config {
            join_secret: Some("s3cret".into()),
            ..Config::default()
        };
        let api = ApiServer::new(config, backend).await.unwrap();
        let (code, review) = whoami(&api, "K10abc::server:s3cret").await;
        assert_eq!(code, 201, "{review}");
        assert_eq!(
            review["status"]["userInfo"]["username"],
            "system:krust-agent"
        );
        assert_eq!(whoami(&api, "K10abc::server:wrong").await.0, 401);
    }
}
