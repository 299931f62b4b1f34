//! Bundle archives: `.tar.gz` as OPA builds them (`opa build`), read into memory with limits.

use crate::bundle::LoadError;
use std::io::Read;

/// Largest unpacked bundle and most files accepted from one archive.
const MAX_BYTES: u64 = 64 << 20;
const MAX_FILES: usize = 10_000;

/// Reads a gzip-compressed tar into (relative path, bytes); refuses absolute paths, `..`,
/// links and oversized archives.
pub fn read_tar_gz(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, LoadError> {
    let err = |m: String| LoadError::Archive(m);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut out = vec![];
    let mut total = 0u64;
    for entry in archive.entries().map_err(|e| err(e.to_string()))? {
        let mut entry = entry.map_err(|e| err(e.to_string()))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(err(
                "links and special files are not allowed in a bundle".into()
            ));
        }
        let raw = entry
            .path()
            .map_err(|e| err(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let path = raw
            .trim_start_matches("./")
            .trim_start_matches('/')
            .to_owned();
        if path.is_empty() || path.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(err(format!("unsafe path {raw:?}")));
        }
        total += entry.size();
        if total > MAX_BYTES || out.len() >= MAX_FILES {
            return Err(err(format!(
                "larger than {MAX_BYTES} bytes or {MAX_FILES} files"
            )));
        }
        let mut data = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry
            .read_to_end(&mut data)
            .map_err(|e| err(e.to_string()))?;
        out.push((path, data));
    }
    out.sort();
    Ok(out)
}

/// Builds a `.tar.gz` from files (for tests and `airlock policy build`).
pub fn write_tar_gz(files: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(enc);
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, data.as_slice())?;
    }
    b.into_inner()?.finish()
}
