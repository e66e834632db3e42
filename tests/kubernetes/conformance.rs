//! `tests/conformance.sh` refuses what it cannot run, with the command
//! that fixes it, before it builds a lab: a cache without the e2e build,
//! and a focus that selects no test. (The run itself is a stage of
//! `scripts/test.sh`.)

use std::path::Path;
use std::process::Command;

use podnet_tests::text;

fn conformance(env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run conformance.sh");
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn a_cache_without_e2e_test_names_the_build_command() {
    let (code, _, err) = conformance(&[("PODNET_KUBE_BIN", "/nonexistent/kube")], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("/nonexistent/kube/e2e.test is missing")
            && err.contains("bash scripts/kube-build.sh"),
        "{err}"
    );
}

#[test]
fn a_focus_that_selects_nothing_is_an_error_and_builds_no_lab() {
    let (code, out, err) = conformance(&[], &["no test is called this"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("selects no test"), "{err}");
    assert!(!out.contains("lab up"), "{out}");
}

#[test]
fn the_default_focus_lists_the_tests_a_cni_decides() {
    let (code, out, err) = conformance(&[("LIST", "1")], &[]);
    assert_eq!(code, 0, "{err}");
    for wanted in [
        "Networking Granular Checks: Pods should function for intra-pod communication: udp",
        "Networking Granular Checks: Services should function for pod-Service: http",
        "Services should be able to create a functioning NodePort service",
        "DNS should provide DNS for services",
        "Proxy version v1 should proxy through a service and a pod",
        "validates that there is no conflict between pods with same hostPort but different hostIP and protocol",
    ] {
        assert!(out.contains(wanted), "{wanted} not in:\n{out}");
    }
    assert!(
        !out.contains("[Disruptive]") && !out.contains("SCTP"),
        "{out}"
    );
}
