//! What the server publishes for each fixture of `tests/corpus/err`, snapshotted:
//! the LSP shape of every diagnostic code (range, severity, code, docs link,
//! message with help, related information).

use crate::{repo, Server};

#[test]
fn corpus_diagnostics_as_published() {
    let mut s = Server::start();
    let dir = repo().join("tests/corpus/err");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    assert!(paths.len() >= 25);
    for (i, path) in paths.iter().enumerate() {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_string();
        let text = std::fs::read_to_string(path).expect("fixture");
        let uri = format!("file:///corpus/{name}");
        let diags = s.open(&uri, i as i64, &text);
        let code = &name[..4];
        assert!(diags.iter().any(|d| d["code"] == code), "{name}: {diags:?}");
        insta::with_settings!({ snapshot_suffix => name.clone(), prepend_module_to_snapshot => false }, {
            insta::assert_json_snapshot!("published", diags);
        });
    }
    assert_eq!(s.shutdown(), 0);
}
