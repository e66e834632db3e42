//! `podnet image`: the OCI archive of podnet's DaemonSet image, built from
//! the workspace's own binaries (so it needs them built, as the labs do).

use std::process::Command;

use podnet_tests::{text, PODNET};

fn podnet(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(&*PODNET)
        .args(args)
        .output()
        .expect("run podnet");
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn image_writes_an_oci_archive_the_runtime_names_as_the_manifest_does() {
    let dir = std::env::temp_dir().join(format!("podnet-image-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("podnet.oci.tar");
    let (code, text, err) = podnet(&["image", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}{err}");
    assert!(text.contains("docker.io/library/podnet:0.1.0"), "{text}");
    let tar = |args: &[&str]| {
        let o = Command::new("tar").args(args).output().unwrap();
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let listing = tar(&["-tf", out.to_str().unwrap()]);
    assert!(
        listing.lines().any(|l| l == "oci-layout") && listing.contains("index.json"),
        "{listing}"
    );
    let index: serde_json::Value =
        serde_json::from_str(&tar(&["-xOf", out.to_str().unwrap(), "index.json"])).unwrap();
    let m = &index["manifests"][0];
    // deploy/podnet.yaml says `image: podnet:0.1.0`; the runtime reads it as this.
    assert_eq!(
        m["annotations"]["io.containerd.image.name"],
        "docker.io/library/podnet:0.1.0"
    );
    let digest = |v: &serde_json::Value| {
        format!(
            "blobs/sha256/{}",
            v.as_str().unwrap().trim_start_matches("sha256:")
        )
    };
    let manifest: serde_json::Value = serde_json::from_str(&tar(&[
        "-xOf",
        out.to_str().unwrap(),
        &digest(&m["digest"]),
    ]))
    .unwrap();
    let layer = dir.join("layer.tar");
    let bytes = Command::new("tar")
        .args([
            "-xOf",
            out.to_str().unwrap(),
            &digest(&manifest["layers"][0]["digest"]),
        ])
        .output()
        .unwrap()
        .stdout;
    std::fs::write(&layer, &bytes).unwrap();
    let files = tar(&["-tf", layer.to_str().unwrap()]);
    for f in [
        "./bin/podnet-agent",
        "./bin/podnet-cni",
        "./bin/install-cni",
        "./usr/sbin/nft",
        "./lib64/ld-linux-x86-64.so.2",
    ] {
        assert!(
            files.lines().any(|l| l == f),
            "{f} not in the layer:\n{files}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
