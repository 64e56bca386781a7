//! Custom resources: a CRD written the way operators write them (printer columns, status and
//! scale subresources, several versions, defaults, validation, pruning, short names,
//! categories) and a kube-rs `#[derive(CustomResource)]` type, through the real binary.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use krust_e2e::{Server, eventually};
use kube::api::{Api, PostParams};
use kube::runtime::{conditions, wait::await_condition, watcher};
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const CRONTAB_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [cronSpec]
            properties:
              cronSpec:
                type: string
                pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'
              image:
                type: string
              replicas:
                type: integer
                minimum: 1
                maximum: 10
                default: 1
              mode:
                type: string
                enum: [fast, slow]
          status:
            type: object
            properties:
              replicas:
                type: integer
              labelSelector:
                type: string
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.labelSelector
    additionalPrinterColumns:
    - name: Spec
      type: string
      jsonPath: .spec.cronSpec
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

const CRONTAB: &str = r#"
apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: my-cron
spec:
  cronSpec: "* * * * */5"
  image: my-awesome-cron-image
  bogus: dropped-by-pruning
"#;

#[test]
fn crontab_crd_is_served_validated_and_cleaned_up() {
    let s = Server::start();
    s.ok_input(&["apply", "-f", "-"], CRONTAB_CRD);
    s.ok(&[
        "wait",
        "--for",
        "condition=established",
        "crd/crontabs.stable.example.com",
        "--timeout=30s",
    ]);
    let status = s.ok(&[
        "get",
        "crd",
        "crontabs.stable.example.com",
        "-o",
        "jsonpath={.status.acceptedNames.kind}/{.status.storedVersions[0]}",
    ]);
    assert_eq!(status, "CronTab/v1");
    let res = s.ok(&["api-resources", "--api-group=stable.example.com"]);
    assert!(
        res.contains("crontabs") && res.contains("ct") && res.contains("CronTab"),
        "{res}"
    );

    // Create with --validate=false: the unknown field is pruned, the default applied.
    s.ok_input(&["apply", "--validate=false", "-f", "-"], CRONTAB);
    let obj = s.ok(&["get", "crontab", "my-cron", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&obj).unwrap_or_default();
    assert_eq!(v["spec"]["replicas"], 1, "{obj}");
    assert!(v["spec"].get("bogus").is_none(), "{obj}");
    assert_eq!(v["metadata"]["generation"], 1);

    // Printer columns, short name, category "all", other version.
    let table = s.ok(&["get", "ct"]);
    assert!(
        table.contains("SPEC") && table.contains("REPLICAS") && table.contains("AGE"),
        "{table}"
    );
    assert!(table.contains("* * * * */5"), "{table}");
    assert!(
        s.ok(&["get", "all", "-o", "name"])
            .contains("crontab.stable.example.com/my-cron")
    );
    assert_eq!(
        s.ok(&[
            "get",
            "crontabs.v1beta1.stable.example.com",
            "my-cron",
            "-o",
            "jsonpath={.apiVersion}"
        ]),
        "stable.example.com/v1beta1"
    );

    // Schema validation with upstream's messages.
    let bad = CRONTAB
        .replace("* * * * */5", "not a cron")
        .replace("my-cron", "bad-cron");
    let err = String::from_utf8_lossy(
        &s.kubectl_input(&["apply", "--validate=false", "-f", "-"], Some(&bad))
            .stderr,
    )
    .into_owned();
    assert!(
        err.contains("is invalid") && err.contains("spec.cronSpec") && err.contains("should match"),
        "{err}"
    );
    let bad = CRONTAB
        .replace("image: my-awesome-cron-image", "replicas: 20")
        .replace("my-cron", "bad-cron");
    let err = String::from_utf8_lossy(
        &s.kubectl_input(&["apply", "--validate=false", "-f", "-"], Some(&bad))
            .stderr,
    )
    .into_owned();
    assert!(
        err.contains("spec.replicas") && err.contains("less than or equal to 10"),
        "{err}"
    );
    let bad = CRONTAB
        .replace("image: my-awesome-cron-image", "mode: medium")
        .replace("my-cron", "bad-cron");
    let err = String::from_utf8_lossy(
        &s.kubectl_input(&["apply", "--validate=false", "-f", "-"], Some(&bad))
            .stderr,
    )
    .into_owned();
    assert!(
        err.contains("spec.mode") && err.contains("Unsupported value"),
        "{err}"
    );

    // Status subresource: status writes only change status; main writes keep it.
    s.ok(&[
        "patch",
        "crontab",
        "my-cron",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":2,"labelSelector":"app=cron"},"spec":{"image":"ignored"}}"#,
    ]);
    assert_eq!(
        s.ok(&[
            "get",
            "ct",
            "my-cron",
            "-o",
            "jsonpath={.status.replicas}/{.spec.image}"
        ]),
        "2/my-awesome-cron-image"
    );
    s.ok(&[
        "patch",
        "crontab",
        "my-cron",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":9},"spec":{"image":"v2"}}"#,
    ]);
    assert_eq!(
        s.ok(&[
            "get",
            "ct",
            "my-cron",
            "-o",
            "jsonpath={.status.replicas}/{.spec.image}/{.metadata.generation}"
        ]),
        "2/v2/2"
    );

    // Scale subresource.
    s.ok(&["scale", "crontab", "my-cron", "--replicas=3"]);
    assert_eq!(
        s.ok(&["get", "ct", "my-cron", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );
    let scale = s.ok(&[
        "get",
        "--raw",
        "/apis/stable.example.com/v1/namespaces/default/crontabs/my-cron/scale",
    ]);
    assert!(
        scale.contains("\"selector\":\"app=cron\"") && scale.contains("\"replicas\":2"),
        "{scale}"
    );

    // Deleting the CRD deletes its objects and stops serving it.
    s.ok(&[
        "delete",
        "crd",
        "crontabs.stable.example.com",
        "--wait=true",
        "--timeout=60s",
    ]);
    assert!(eventually(Duration::from_secs(30), || !s
        .kubectl(&["get", "crontabs"])
        .status
        .success()));
    s.ok_input(&["apply", "-f", "-"], CRONTAB_CRD);
    s.ok(&[
        "wait",
        "--for",
        "condition=established",
        "crd/crontabs.stable.example.com",
        "--timeout=30s",
    ]);
    let out = s.kubectl(&["get", "crontabs", "-o", "name"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "objects survived their CRD: {out:?}"
    );
}

#[test]
fn cluster_scoped_crd() {
    let s = Server::start();
    let crd = CRONTAB_CRD
        .replace("scope: Namespaced", "scope: Cluster")
        .replace("crontabs", "globaltabs")
        .replace("crontab", "globaltab")
        .replace("CronTab", "GlobalTab")
        .replace("[ct]", "[gt]");
    s.ok_input(&["apply", "-f", "-"], &crd);
    s.ok(&[
        "wait",
        "--for",
        "condition=established",
        "crd/globaltabs.stable.example.com",
        "--timeout=30s",
    ]);
    let obj = "apiVersion: stable.example.com/v1\nkind: GlobalTab\nmetadata:\n  name: g1\nspec:\n  cronSpec: \"* * * * *\"\n";
    s.ok_input(&["apply", "--validate=false", "-f", "-"], obj);
    assert_eq!(
        s.ok(&["get", "gt", "g1", "-o", "jsonpath={.metadata.namespace}"]),
        ""
    );
    assert!(s.ok(&["get", "globaltabs"]).contains("g1"));
}

/// A CronTab as an operator written with kube-rs declares it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "kube.rs.example.com",
    version = "v1",
    kind = "Document",
    namespaced
)]
#[kube(
    status = "DocumentStatus",
    shortname = "doc",
    printcolumn = r#"{"name":"Title","type":"string","jsonPath":".spec.title"}"#
)]
pub struct DocumentSpec {
    title: String,
    #[serde(default)]
    hidden: bool,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
pub struct DocumentStatus {
    published: bool,
}

#[tokio::test(flavor = "multi_thread")]
async fn kube_rs_derived_custom_resource() {
    let s = Server::start();
    let client = s.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Document::crd())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let established = await_condition(
        crds.clone(),
        "documents.kube.rs.example.com",
        conditions::is_crd_established(),
    );
    tokio::time::timeout(Duration::from_secs(30), established)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));

    let docs: Api<Document> = Api::namespaced(client.clone(), "default");
    let mut events = watcher(docs.clone(), watcher::Config::default()).boxed();
    let doc = Document::new(
        "hello",
        DocumentSpec {
            title: "Hello".into(),
            hidden: false,
            tags: vec!["a".into()],
        },
    );
    let created = docs
        .create(&PostParams::default(), &doc)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.spec.title, "Hello");
    let mut with_status = docs.get("hello").await.unwrap_or_else(|e| panic!("{e}"));
    with_status.status = Some(DocumentStatus { published: true });
    let updated = docs
        .replace_status("hello", &PostParams::default(), &with_status)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(updated.status.map(|s| s.published).unwrap_or(false));
    let listed = docs
        .list(&Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.items.len(), 1);
    let seen = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(ev) = events.try_next().await.unwrap_or_else(|e| panic!("{e}")) {
            if let watcher::Event::Apply(d) | watcher::Event::InitApply(d) = ev
                && d.metadata.name.as_deref() == Some("hello")
            {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(seen, "the watcher sees the custom object");
    let table = s.ok(&["get", "doc"]);
    assert!(
        table.contains("TITLE") && table.contains("Hello"),
        "{table}"
    );
}

/// `GET path` with `accept` (and `If-None-Match`), through kube's client: status, ETag,
/// Content-Type and body.
async fn discovery_get(
    client: &kube::Client,
    path: &str,
    accept: &str,
    if_none_match: Option<&str>,
) -> (u16, String, String, serde_json::Value) {
    let mut req = http::Request::get(path).header(http::header::ACCEPT, accept);
    if let Some(tag) = if_none_match {
        req = req.header(http::header::IF_NONE_MATCH, tag);
    }
    let req = req
        .body(Vec::new())
        .unwrap_or_else(|e| panic!("request: {e}"));
    let resp = client
        .send(req.map(kube::client::Body::from))
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    let header = |name: http::header::HeaderName| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let etag = header(http::header::ETAG);
    let content_type = header(http::header::CONTENT_TYPE);
    let bytes = resp
        .into_body()
        .collect_bytes()
        .await
        .unwrap_or_else(|e| panic!("body: {e}"));
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, etag, content_type, body)
}

const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

/// Whether an aggregated `/apis` document lists `resource` in `group`/`version`.
fn lists(doc: &serde_json::Value, group: &str, version: &str, resource: &str) -> bool {
    doc["items"].as_array().into_iter().flatten().any(|g| {
        g["metadata"]["name"] == group
            && g["versions"].as_array().into_iter().flatten().any(|v| {
                v["version"] == version
                    && v["resources"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|r| r["resource"] == resource)
            })
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn aggregated_discovery_follows_crds_with_an_etag() {
    let s = Server::start();
    let client = s.client().await;
    let (status, etag, content_type, doc) =
        discovery_get(&client, "/apis", AGGREGATED_V2, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        content_type,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    assert_eq!(doc["kind"], "APIGroupDiscoveryList");
    assert!(lists(&doc, "apps", "v1", "deployments"), "{doc}");
    assert!(!lists(&doc, "stable.example.com", "v1", "crontabs"));
    assert!(etag.starts_with('"') && etag.len() > 2, "{etag:?}");
    // The client's copy is current: 304.
    let (status, again, _, _) = discovery_get(&client, "/apis", AGGREGATED_V2, Some(&etag)).await;
    assert_eq!((status, again.as_str()), (304, etag.as_str()));
    // The core group at /api, and v2beta1 for older clients.
    let (status, _, content_type, core) = discovery_get(
        &client,
        "/api",
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(content_type.contains("v=v2beta1"), "{content_type}");
    assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2beta1");
    assert_eq!(core["items"][0]["versions"][0]["version"], "v1");
    // Plain JSON still gets the legacy list.
    let (_, _, _, legacy) = discovery_get(&client, "/apis", "application/json", None).await;
    assert_eq!(legacy["kind"], "APIGroupList");

    // A new CRD shows up in both forms within a few seconds, and the ETag changes.
    s.ok_input(&["apply", "-f", "-"], CRONTAB_CRD);
    let started = std::time::Instant::now();
    let mut fresh = (0, String::new(), String::new(), serde_json::Value::Null);
    let deadline = started + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        fresh = discovery_get(&client, "/apis", AGGREGATED_V2, Some(&etag)).await;
        if lists(&fresh.3, "stable.example.com", "v1", "crontabs") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        lists(&fresh.3, "stable.example.com", "v1", "crontabs"),
        "{}",
        fresh.3
    );
    eprintln!("CRD in aggregated discovery after {:?}", started.elapsed());
    assert_eq!(fresh.0, 200);
    assert_ne!(fresh.1, etag, "the ETag did not change");
    let (status, _, _, list) = discovery_get(
        &client,
        "/apis/stable.example.com/v1",
        "application/json",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        list["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["name"] == "crontabs"),
        "{list}"
    );
    // kubectl (which asks for aggregated discovery first) maps the new kind.
    assert!(
        s.ok(&["api-resources", "--api-group=stable.example.com"])
            .contains("crontabs")
    );
}

const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              color: {type: string}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn crd_defaults_apply_on_read_to_objects_stored_before_them() {
    let s = Server::start();
    s.ok_input(&["apply", "-f", "-"], WIDGET_CRD);
    assert!(eventually(Duration::from_secs(10), || s
        .kubectl(&["get", "widgets"])
        .status
        .success()));
    s.ok_input(
        &["apply", "-f", "-"],
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: old}\nspec: {size: 1}\n",
    );
    let spec = |name: &str| s.ok(&["get", "widget", name, "-o", "jsonpath={.spec}"]);
    assert_eq!(spec("old"), r#"{"size":1}"#);
    // A default is added to the schema: the stored object comes back with it.
    s.ok_input(
        &["apply", "-f", "-"],
        &WIDGET_CRD.replace(
            "color: {type: string}",
            "color: {type: string, default: blue}",
        ),
    );
    assert!(
        eventually(Duration::from_secs(10), || spec("old")
            == r#"{"color":"blue","size":1}"#),
        "{}",
        spec("old")
    );
    assert_eq!(
        s.ok(&["get", "widgets", "-o", "jsonpath={.items[0].spec.color}"]),
        "blue"
    );
    // A watch sends it defaulted too.
    let client = s.client().await;
    let req = http::Request::get(
        "/apis/example.com/v1/namespaces/default/widgets?watch=1&timeoutSeconds=1",
    )
    .body(kube::client::Body::from(Vec::new()))
    .unwrap_or_else(|e| panic!("{e}"));
    let body = client
        .send(req)
        .await
        .unwrap_or_else(|e| panic!("watch: {e}"))
        .into_body()
        .collect_bytes()
        .await
        .unwrap_or_else(|e| panic!("watch body: {e}"));
    let first: serde_json::Value = serde_json::from_slice(
        body.split(|b| *b == b'\n')
            .next()
            .unwrap_or_else(|| panic!("no watch event")),
    )
    .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["spec"]["color"], "blue", "{first}");
    // Nothing was written: the stored object is unchanged until it is next updated.
    assert_eq!(
        s.ok(&[
            "get",
            "widget",
            "old",
            "-o",
            "jsonpath={.metadata.generation}"
        ]),
        "1"
    );
}

/// A CRD as the conformance suite's field-validation specs write it (cluster-scoped, `spec`
/// optionally preserving unknown fields, an embedded resource `template`).
fn field_validation_crd(plural: &str, kind: &str, preserve: bool) -> String {
    format!(
        r#"{{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
"metadata":{{"name":"{plural}.fv.example.com"}},
"spec":{{"group":"fv.example.com","scope":"Cluster","names":{{"kind":"{kind}","plural":"{plural}","singular":"{}"}},
"versions":[{{"name":"v1","served":true,"storage":true,"schema":{{"openAPIV3Schema":{{"type":"object","properties":{{
"spec":{{"type":"object",{preserve}"properties":{{
"foo":{{"type":"string"}},
"template":{{"type":"object","x-kubernetes-embedded-resource":true,"properties":{{"metadata":{{"type":"object","properties":{{"name":{{"type":"string"}}}}}},"spec":{{"type":"object"}}}}}},
"ports":{{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["containerPort","protocol"],
  "items":{{"type":"object","required":["containerPort","protocol"],"properties":{{"containerPort":{{"type":"integer","format":"int32"}},"name":{{"type":"string"}},"protocol":{{"type":"string"}}}}}}}}
}}}}}}}}}}}}]}}}}"#,
        plural.trim_end_matches('s'),
        preserve = if preserve {
            r#""x-kubernetes-preserve-unknown-fields":true,"#
        } else {
            ""
        }
    )
}

/// A raw request through kube's client: status, `Warning` headers and the body.
async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, Vec<String>, serde_json::Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(kube::client::Body::from(body.as_bytes().to_vec()))
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = client
        .send(req)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = resp.status().as_u16();
    let warnings = resp
        .headers()
        .get_all(http::header::WARNING)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let bytes = resp
        .into_body()
        .collect_bytes()
        .await
        .unwrap_or_else(|e| panic!("body: {e}"));
    (
        status,
        warnings,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_resource_field_validation_as_the_conformance_suite_checks_it() {
    let s = Server::start();
    s.ok_input(
        &["apply", "-f", "-"],
        &field_validation_crd("plains", "Plain", false),
    );
    s.ok_input(
        &["apply", "-f", "-"],
        &field_validation_crd("keeps", "Keep", true),
    );
    assert!(eventually(Duration::from_secs(10), || s
        .kubectl(&["get", "plains,keeps"])
        .status
        .success()));
    let client = s.client().await;
    let message = |v: &serde_json::Value| v["message"].as_str().unwrap_or_default().to_string();
    const APPLY: &str = "application/apply-patch+yaml";
    let strict = "?fieldManager=field_validation_mgr&fieldValidation=Strict";

    // Server-side apply: an undeclared field, at the root or in metadata (root and embedded),
    // fails the apply whatever the directive, naming every path.
    let (code, _, v) = raw(
        &client,
        "PATCH",
        &format!("/apis/fv.example.com/v1/plains/mytest{strict}"),
        APPLY,
        "apiVersion: fv.example.com/v1\nkind: Plain\nmetadata:\n  name: mytest\nunknownField: unknown\nspec:\n  foo: foo1\n",
    )
    .await;
    assert_eq!(code, 500, "{v}");
    assert_eq!(
        message(&v),
        "failed to create typed patch object (/mytest; fv.example.com/v1, Kind=Plain): .unknownField: field not declared in schema"
    );
    let embedded = "apiVersion: fv.example.com/v1\nkind: Keep\nmetadata:\n  name: mytest\n  unknownMeta: unknown\nspec:\n  template:\n    apiVersion: foo/v1\n    kind: Sub\n    metadata:\n      unknownSubMeta: unknown\n      name: subobject\n  foo: foo1\n";
    for directive in ["Strict", "Warn", "Ignore"] {
        let (code, _, v) = raw(
            &client,
            "PATCH",
            &format!(
                "/apis/fv.example.com/v1/keeps/mytest?fieldManager=m&fieldValidation={directive}"
            ),
            APPLY,
            embedded,
        )
        .await;
        assert_eq!(code, 500, "{directive}: {v}");
        let m = message(&v);
        assert!(
            m.contains(".metadata.unknownMeta: field not declared in schema"),
            "{m}"
        );
        assert!(
            m.contains(".spec.template.metadata.unknownSubMeta: field not declared in schema"),
            "{m}"
        );
    }
    // A repeated key: Strict fails with go-yaml's words, Warn applies and warns, even where
    // the schema preserves unknown fields.
    let dup = "\napiVersion: fv.example.com/v1\nkind: Keep\nmetadata:\n  name: mytest\n  finalizers:\n  - test-finalizer\nspec:\n  unknown: uk1\n  foo: foo1\n  foo: foo2\n  ports:\n  - name: x\n    containerPort: 80\n    protocol: TCP\n";
    let (code, _, v) = raw(
        &client,
        "PATCH",
        &format!("/apis/fv.example.com/v1/keeps/mytest{strict}"),
        APPLY,
        dup,
    )
    .await;
    assert_eq!(code, 400, "{v}");
    assert!(
        message(&v).contains(r#"line 11: key "foo" already set in map"#),
        "{v}"
    );
    assert!(!s.kubectl(&["get", "keep", "mytest"]).status.success());
    let (code, warnings, v) = raw(
        &client,
        "PATCH",
        "/apis/fv.example.com/v1/keeps/mytest?fieldManager=m&fieldValidation=Warn",
        APPLY,
        dup,
    )
    .await;
    assert_eq!(code, 201, "{v}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains(r#"line 11: key \"foo\" already set in map"#)),
        "{warnings:?}"
    );
    assert_eq!(v["spec"]["foo"], "foo2", "the last of repeated keys wins");
    assert_eq!(v["spec"]["unknown"], "uk1", "preserved");

    // Create, update and merge patch report unknown metadata fields (root and embedded) and
    // duplicates as strict decoding errors.
    let (code, _, v) = raw(
        &client,
        "POST",
        "/apis/fv.example.com/v1/keeps?fieldValidation=Strict",
        "application/json",
        r#"{"apiVersion":"fv.example.com/v1","kind":"Keep","metadata":{"name":"e1","unknownMeta":1},"spec":{"foo":"a","foo":"b","template":{"apiVersion":"v1","kind":"Sub","metadata":{"name":"x","unknownSubMeta":1}}}}"#,
    )
    .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(
        message(&v),
        r#"Keep in version "v1" cannot be handled as a Keep: strict decoding error: unknown field "metadata.unknownMeta", duplicate field "spec.foo", unknown field "spec.template.metadata.unknownSubMeta""#
    );
    let (code, _, v) = raw(
        &client,
        "PUT",
        "/apis/fv.example.com/v1/keeps/mytest?fieldValidation=Strict",
        "application/json",
        r#"{"apiVersion":"fv.example.com/v1","kind":"Keep","metadata":{"name":"mytest","unknownMeta":1},"spec":{"foo":"a"}}"#,
    )
    .await;
    assert_eq!(code, 400, "{v}");
    assert!(
        message(&v).contains(r#"unknown field "metadata.unknownMeta""#),
        "{v}"
    );
    let (code, _, v) = raw(
        &client,
        "PATCH",
        "/apis/fv.example.com/v1/keeps/mytest?fieldValidation=Strict",
        "application/merge-patch+json",
        r#"{"spec":{"template":{"apiVersion":"v1","kind":"Sub","metadata":{"unknownSubMeta":1}}}}"#,
    )
    .await;
    assert_eq!(code, 422, "{v}");
    assert!(
        message(&v).contains(r#"unknown field "spec.template.metadata.unknownSubMeta""#),
        "{v}"
    );
    // Nothing of the refused writes was stored.
    assert_eq!(
        s.ok(&["get", "keep", "mytest", "-o", "jsonpath={.spec.foo}"]),
        "foo2"
    );
}
