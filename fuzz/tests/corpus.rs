//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/*`) through their targets: what a
//! fuzzer once found (or was seeded with) stays fixed. Long fuzzing runs are a documented
//! command (docs/operations.md, "Fuzzing"), not part of CI.

#[test]
fn every_corpus_input_passes_its_target() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut total = 0;
    for (name, target) in airlock_fuzz::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        assert!(files.len() >= 5, "the {name} corpus is nearly empty");
        for f in files {
            let data = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} fails", f.display());
            total += 1;
        }
    }
    assert!(total > 0);
}
