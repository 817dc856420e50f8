//! `pack` as a user runs it: a fixture folder into bundles at each precision, each loadable by
//! `classify --model FILE`, checked against its `.sha256`; bad input leaves no file behind.

mod common;

use std::path::Path;
use std::process::Output;

use common::{model_dir as fixture, run};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn pack(dir: &Path, precision: &str, out: &Path) -> Output {
    run(&[
        "pack",
        dir.to_str().unwrap(),
        "--precision",
        precision,
        "--out",
        out.to_str().unwrap(),
    ])
}

fn classify(model: &Path, extra: &[&str], texts: &[&str]) -> Output {
    let mut args = vec!["classify", "--model", model.to_str().unwrap()];
    args.extend(extra);
    args.extend(texts);
    run(&args)
}

#[test]
fn every_precision_packs_reports_and_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sizes = Vec::new();
    for precision in ["f32", "f16", "q8_0", "q4"] {
        let out = tmp.path().join(format!("tiny-{precision}.gguf"));
        let result = pack(&fixture("tiny-sentiment"), precision, &out);
        assert!(
            result.status.success(),
            "{precision}: {}",
            text(&result.stderr)
        );
        let report = text(&result.stdout);
        assert!(report.contains("largest probability change"), "{report}");
        assert!(report.contains("on 118 texts"), "{report}");

        let bytes = std::fs::read(&out).unwrap();
        sizes.push(bytes.len());
        assert!(
            report.contains(&format!("{} bytes", bytes.len())),
            "{report}"
        );
        let sums =
            std::fs::read_to_string(tmp.path().join(format!("tiny-{precision}.gguf.sha256")))
                .unwrap();
        let hash = format!("{:x}", Sha256::digest(&bytes));
        assert_eq!(sums, format!("{hash}  tiny-{precision}.gguf\n"));
        assert!(report.contains(&hash));

        let classified = classify(&out, &[], &["I love this!"]);
        assert!(classified.status.success(), "{}", text(&classified.stderr));
        let verified = run(&["verify", out.to_str().unwrap()]);
        assert!(verified.status.success(), "{}", text(&verified.stdout));
    }
    assert!(sizes.windows(2).all(|w| w[1] < w[0]), "sizes {sizes:?}");
    // Nothing but the bundles and their checksums.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 8);
}

#[test]
fn an_f32_bundle_classifies_like_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tiny.gguf");
    assert!(pack(&fixture("tiny-sentiment"), "f32", &out)
        .status
        .success());
    let texts = ["I love this!", "Je déteste ça", "@bob see https://x.co 😡"];
    let from_folder = classify(&fixture("tiny-sentiment"), &[], &texts);
    let from_bundle = classify(&out, &[], &texts);
    let parse = |o: &Output| -> Vec<Value> {
        text(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    for (a, b) in parse(&from_folder).iter().zip(parse(&from_bundle).iter()) {
        assert_eq!(a["label"], b["label"]);
        for (label, p) in a["scores"].as_object().unwrap() {
            let q = b["scores"][label].as_f64().unwrap();
            assert!(
                (p.as_f64().unwrap() - q).abs() < 1e-6,
                "{label}: {p} vs {q}"
            );
        }
    }
}

#[test]
fn a_changed_bundle_is_refused_unless_overridden() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tiny.gguf");
    assert!(pack(&fixture("tiny-sentiment"), "q8_0", &out)
        .status
        .success());
    let mut bytes = std::fs::read(&out).unwrap();
    // `general.architecture` is not read back: the file still loads, but its hash moved.
    let at = bytes.windows(11).position(|w| w == b"xlm-roberta").unwrap();
    bytes[at + 10] = b'b';
    std::fs::write(&out, &bytes).unwrap();

    let refused = classify(&out, &[], &["hello"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("SHA-256") && stderr.contains("--no-verify"),
        "{stderr}"
    );
    assert_eq!(
        run(&["verify", out.to_str().unwrap()]).status.code(),
        Some(1)
    );
    assert!(classify(&out, &["--no-verify"], &["hello"])
        .status
        .success());
}

#[test]
fn bad_input_leaves_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.gguf");
    let bad_precision = pack(&fixture("tiny-sentiment"), "q3", &out);
    assert_eq!(bad_precision.status.code(), Some(2));
    assert!(text(&bad_precision.stderr).contains("expected f32, f16, q8_0 or q4"));

    let broken = tmp.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(fixture("tiny-sentiment").join(f), broken.join(f)).unwrap();
    }
    let weights = std::fs::read(fixture("tiny-sentiment").join("model.safetensors")).unwrap();
    std::fs::write(
        broken.join("model.safetensors"),
        &weights[..weights.len() / 2],
    )
    .unwrap();
    let failed = pack(&broken, "q8_0", &out);
    assert_eq!(failed.status.code(), Some(2));
    assert!(
        text(&failed.stderr).contains("corrupt safetensors weights"),
        "{}",
        text(&failed.stderr)
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "only the broken folder"
    );
}
