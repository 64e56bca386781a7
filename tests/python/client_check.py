"""The Python `kubernetes` client against krust: list, create, read, patch (strategic and
merge), watch and delete, as scripts and operators use it. Usage: client_check.py KUBECONFIG"""
import sys

from kubernetes import client, config, watch


def main(kubeconfig):
    config.load_kube_config(config_file=kubeconfig)
    core = client.CoreV1Api()
    apps = client.AppsV1Api()
    names = [ns.metadata.name for ns in core.list_namespace().items]
    assert "default" in names and "kube-system" in names, names

    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-cm", labels={"from": "python"}), data={"a": "1"})
    core.create_namespaced_config_map("default", cm)
    got = core.read_namespaced_config_map("py-cm", "default")
    assert got.data == {"a": "1"}, got.data
    core.patch_namespaced_config_map("py-cm", "default", {"data": {"b": "2"}})
    assert core.read_namespaced_config_map("py-cm", "default").data == {"a": "1", "b": "2"}

    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="py-web"),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels={"app": "py-web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "py-web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx:1.7.9")]),
            ),
        ),
    )
    apps.create_namespaced_deployment("default", dep)
    apps.patch_namespaced_deployment("py-web", "default", {"spec": {"replicas": 3}})
    d = apps.read_namespaced_deployment("py-web", "default")
    assert d.spec.replicas == 3 and d.spec.strategy.type == "RollingUpdate", d.spec

    rv = core.list_namespaced_config_map("default").metadata.resource_version
    w = watch.Watch()
    core.delete_namespaced_config_map("py-cm", "default")
    seen = []
    for event in w.stream(core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            w.stop()
    assert ("DELETED", "py-cm") in seen, seen
    print("python client: ok")


if __name__ == "__main__":
    main(sys.argv[1])
