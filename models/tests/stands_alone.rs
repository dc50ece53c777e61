//! The repository stands alone: no source, manifest, script or document of the workspace names a
//! path outside it (a `shared` folder beside the clone, a build machine's home or work folder, a
//! path that climbs above the workspace root). Data the tests need lives in `models/data`.

use std::path::{Path, PathBuf};

/// Path fragments that only make sense on the machine that wrote them. Built with `concat!` so
/// that this file does not hold them itself.
const OUTSIDE: &[&str] = &[
    concat!("shared", "/data"),
    concat!("shared", "/docs"),
    concat!("../", "shared"),
    concat!("../../", "../"),
    concat!("/wo", "rk/"),
    concat!("/ho", "me/"),
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("workspace root")
}

fn scanned(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    matches!(path.extension().and_then(|e| e.to_str()), Some("rs" | "toml" | "md" | "sh" | "yml" | "yaml" | "js"))
        || name == "run"
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !(name == "target" || name.starts_with("target-") || name == ".git" || name == "node_modules") {
                walk(&path, files);
            }
        } else if scanned(&path) {
            files.push(path);
        }
    }
}

#[test]
fn no_file_names_a_path_outside_the_repository() {
    let root = workspace_root();
    assert!(root.join("Cargo.lock").is_file(), "{} is not the workspace root", root.display());
    let mut files = Vec::new();
    walk(&root, &mut files);
    assert!(files.len() > 50, "only {} files scanned under {}", files.len(), root.display());
    let mut found = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        for (n, line) in text.lines().enumerate() {
            if let Some(fragment) = OUTSIDE.iter().find(|f| line.contains(*f)) {
                found.push(format!("{}:{}: `{fragment}` in {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "paths outside the repository (copy the data into models/data and cite specs by name):\n{}",
        found.join("\n")
    );
}

#[test]
fn data_directories_are_inside_the_repository() {
    let root = workspace_root();
    for dir in ["models/data/cwmp", "models/data/lwm2m-registry"] {
        let path = root.join(dir).canonicalize().unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert!(path.starts_with(&root), "{} is outside {}", path.display(), root.display());
        assert!(std::fs::read_dir(&path).expect(dir).count() > 0, "{dir} is empty");
    }
    assert!(root.join("models/data/README.md").is_file(), "models/data/README.md says where the data comes from");
}
